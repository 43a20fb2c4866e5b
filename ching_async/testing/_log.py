"""The request log: one frozen record per request the fake received."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from multidict import CIMultiDictProxy, MultiMapping

from .._secrets import redact_headers as _redact
from ._faults import Fault


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One request as the fake received it (``fake.requests()``), with what it answered."""

    method: str
    path: str  # relative to the API base, e.g. "/charges/ch_9mTPfRSDmEOU/capture"
    route: str | None  # the matched template, e.g. "/charges/{id}/capture"; None if unknown
    query: MultiMapping[str]
    headers: CIMultiDictProxy[str]  # case-insensitive
    body: Any  # parsed JSON body, or None when absent or not JSON
    raw_body: bytes
    fault: Fault | None  # the injected fault, if any
    status: int | None  # status the fake produced; None if the request was never processed
    at: datetime  # on the fake's clock

    @property
    def idempotency_key(self) -> str | None:
        """The request's ``Idempotency-Key`` header, if it had one."""
        return self.headers.get("Idempotency-Key")

    def __repr__(self) -> str:
        # The record keeps the Authorization header as sent (tests assert on
        # it); its repr, which ends up in test failure output, must not.
        headers = _redact(self.headers)
        fields = ", ".join(
            f"{name}={value!r}"
            for name, value in (
                ("method", self.method),
                ("path", self.path),
                ("route", self.route),
                ("query", list(self.query.items())),
                ("headers", headers),
                ("body", self.body),
                ("fault", self.fault),
                ("status", self.status),
                ("at", self.at),
            )
        )
        return f"RequestRecord({fields})"
