"""Amounts on the command line: whole agorot in, readable money out."""

from __future__ import annotations

import re

__all__ = ["AmountError", "format_agorot", "format_money", "parse_agorot"]

_INTEGER = re.compile(r"\+?[0-9]+")
_DECIMAL = re.compile(r"\+?([0-9]*)[.]([0-9]+)")
_SEPARATED = re.compile(r"[0-9]{1,3}(?:[,_ ][0-9]{3})+")
_EXAMPLE = "49.90 ILS = 4990"


class AmountError(ValueError):
    """The text is not a positive whole number of agorot; the message says why."""


def parse_agorot(text: str) -> int:
    """Parse a positive integer amount in agorot (the smallest currency unit).

    A decimal such as ``49.90`` is rejected with the agorot to use instead,
    because guessing would bill 100 times too little or too much.
    """
    value = text.strip()
    if not value:
        raise AmountError(f"amount is empty; give an integer number of agorot ({_EXAMPLE})")
    if _INTEGER.fullmatch(value):
        amount = int(value)
        if amount <= 0:
            raise AmountError(f"amount must be greater than 0, got {value}")
        return amount
    decimal = _DECIMAL.fullmatch(value)
    if decimal:
        whole, fraction = decimal.groups()
        if len(fraction) <= 2:
            agorot = int(whole or "0") * 100 + int(fraction.ljust(2, "0"))
            if agorot <= 0:
                raise AmountError(f"amount must be greater than 0, got {value}")
            raise AmountError(
                f"amount {value} is a decimal; amounts are whole agorot: "
                f"use {agorot} for {value} ILS"
            )
        raise AmountError(
            f"amount {value} is a decimal with more than 2 places; "
            f"amounts are whole agorot ({_EXAMPLE})"
        )
    if value.startswith("-"):
        raise AmountError(f"amount must be greater than 0, got {value}")
    if _SEPARATED.fullmatch(value):
        plain = re.sub(r"[,_ ]", "", value)
        raise AmountError(
            f"amount {value} has digit separators; write plain agorot: {plain} ({_EXAMPLE})"
        )
    raise AmountError(f"amount {value!r} is not a whole number of agorot ({_EXAMPLE})")


def format_agorot(amount: int) -> str:
    """``4990`` -> ``"4,990"``."""
    return f"{amount:,}"


def format_money(amount: int | None, currency: str | None) -> str:
    """``(4990, "ils")`` -> ``"49.90 ILS"`` (two-decimal currencies)."""
    if amount is None:
        return "-"
    sign = "-" if amount < 0 else ""
    whole, cents = divmod(abs(amount), 100)
    return f"{sign}{whole:,}.{cents:02d} {(currency or 'ils').upper()}"
