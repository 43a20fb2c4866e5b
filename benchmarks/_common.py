"""Shared helpers: summary statistics, result rows and the one results table."""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Callable, Iterable, Sequence
from typing import Any

# Test-mode shaped keys; they only ever travel to 127.0.0.1.
CHING_KEY = "ck_test_" + "0123456789abcdef" * 4
STRIPE_KEY = "sk_test_bench_0123456789abcdef"
CUSTOMER = "cus_V8ltq1pK_MWH"
PAYMENT_METHOD = "pm_WMc9X22NT1af"
AMOUNT = 9900


def _number(kind: Callable[[str], Any], what: str, text: str) -> Any:
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None


def positive_int(text: str) -> int:
    """argparse type: a count of at least 1 (0 or less would measure nothing)."""
    value: int = _number(int, "a whole number", text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def positive_float(text: str) -> float:
    """argparse type: a finite number above 0."""
    value: float = _number(float, "a number", text)
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be above 0 and finite, got {text}")
    return value


def quick_and_rounds(doc: str | None) -> argparse.Namespace:
    """The command line of a benchmark that takes only --quick and --rounds."""
    parser = argparse.ArgumentParser(
        description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=positive_int)
    return parser.parse_args()


def print_table(rows: list[dict[str, Any]]) -> None:
    """Add the ratio column and print the results table."""
    add_ratios(rows)
    print(format_table(rows))


def subset_of(choices: Sequence[str]) -> Callable[[str], tuple[str, ...]]:
    """argparse type: a comma-separated, non-empty subset of `choices`."""

    def parse(text: str) -> tuple[str, ...]:
        picked = tuple(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
        unknown = [part for part in picked if part not in choices]
        if unknown or not picked:
            raise argparse.ArgumentTypeError(
                f"unknown: {', '.join(unknown) or '(none given)'}; choose from {', '.join(choices)}"
            )
        return picked

    return parse


def summary(values: Sequence[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def row(
    scenario: str,
    client: str,
    unit: str,
    samples: Sequence[float] | None,
    *,
    rate: Sequence[float] | None = None,
    baseline: bool = False,
    target: float | None = None,
    note: str = "",
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One table row. `samples` is the primary metric (lower is better)."""
    out: dict[str, Any] = {
        "scenario": scenario,
        "client": client,
        "unit": unit,
        "samples": list(samples) if samples else [],
        "baseline": baseline,
        "target": target,
        "note": note,
    }
    if samples:
        out.update(summary(samples))
    if rate:
        out["rate_samples"] = list(rate)
        out["rate"] = summary(rate)
    if extra:
        out.update(extra)
    return out


def add_ratios(rows: list[dict[str, Any]]) -> None:
    """ratio = median / the scenario baseline's median; PASS/FAIL where a target is set."""
    baselines = {r["scenario"]: r for r in rows if r["baseline"] and "median" in r}
    for r in rows:
        base = baselines.get(r["scenario"])
        if base is None or "median" not in r or not base["median"]:
            continue
        r["ratio"] = r["median"] / base["median"]
        if r.get("target") is not None:
            r["result"] = "PASS" if r["ratio"] <= r["target"] else "FAIL"


def _num(value: float) -> str:
    if value >= 1000:
        return f"{value:,.0f}"
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _spread(stats: dict[str, float] | None) -> str:
    if not stats:
        return "-"
    return f"{_num(stats['median'])} [{_num(stats['min'])}-{_num(stats['max'])}]"


def format_table(rows: Iterable[dict[str, Any]]) -> str:
    header = (
        "Scenario",
        "Client",
        "Metric",
        "Median [min-max]",
        "Rate/s median [min-max]",
        "Ratio",
        "Target",
        "Result",
    )
    lines: list[tuple[str, ...]] = []
    previous = None
    for r in rows:
        scenario = r["scenario"] if r["scenario"] != previous else ""
        previous = r["scenario"]
        if "median" not in r:
            lines.append(
                (scenario, r["client"], r["unit"], r.get("note") or "skipped", "", "", "", "")
            )
            continue
        ratio = f"{r['ratio']:.2f}x" if "ratio" in r else ""
        if r["baseline"]:
            ratio = "1.00x (base)"
        target = f"<= {r['target']:g}x" if r.get("target") is not None else ""
        lines.append(
            (
                scenario,
                r["client"],
                r["unit"],
                _spread(r),
                _spread(r.get("rate")),
                ratio,
                target,
                r.get("result", ""),
            )
        )
    widths = [max(len(header[i]), *(len(line[i]) for line in lines)) for i in range(len(header))]
    rule = "-+-".join("-" * w for w in widths)

    def fmt(cells: Sequence[str]) -> str:
        return " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    out = [fmt(header), rule]
    previous = None
    for line in lines:
        if line[0] and previous is not None:
            out.append(rule)
        previous = line[0] or previous
        out.append(fmt(line))
    return "\n".join(out)
