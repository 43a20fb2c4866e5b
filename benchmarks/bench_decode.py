"""In-process decode of a 100-charge list body (no network), CPU microseconds per decode.

Variants, interleaved per round (A, B, C, ...), each timed over a batch sized
to take ~0.25 s (quick: ~0.05 s):

    json.loads           the baseline: stdlib json.loads of the body -> dicts
    ching_async          the library's GET-list decode from the same bytes:
                         envelope (orjson) -> list_data -> decode_list into
                         list[Charge] with request_info attached, exactly what
                         `await client.charges.list()` does after the transport
    first sight          info: ching_async on a list whose 300 timestamps are
                         all distinct and not yet cached (the cache hits in
                         the rows above, as when a client lists again)
    fast decoder off     info: the same decode through cattrs' own hooks
                         (what CHING_ASYNC_FAST_DECODE=0 selects)
    orjson.loads         info: the parse step alone
    converter only       info: structuring of already-parsed dicts (fast decoder)

The body is the one the loopback server serves (_server.ching_list_body()).

Run alone: python benchmarks/bench_decode.py [--quick]
"""

from __future__ import annotations

import gc
import json
import os
import sys
import time
from collections.abc import Callable
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import print_table, quick_and_rounds, row
from _server import ching_list_body

SCENARIO = "Decode 100-charge list (in-process)"


def ching_decoder(body: bytes) -> Callable[[], list[Any]]:
    """bytes -> list[Charge] through ching_async's own GET-list decode path
    (what Resource._list's fetch_page and AsyncList do after the transport)."""
    import ching_async
    from ching_async import _decode
    from ching_async._messages import Request, Response

    request = Request(method="GET", path="/charges", base_url="http://127.0.0.1/ching/v1")
    headers = {"content-type": "application/json"}
    charge = ching_async.Charge

    def decode() -> list[Any]:
        # A new Response each time, as from the transport: a response keeps
        # its parsed body, and a reused one would skip the parse.
        response = Response(status=200, headers=headers, body=body, request=request)
        info = _decode.request_info(response)
        return _decode.decode_list(response, charge, _decode.list_data(response, charge), info)

    return decode


def first_sight_decoder(body: bytes) -> Callable[[], list[Any]]:
    """ching_decoder on the body with every timestamp distinct, the fast
    decoder's remembered timestamps forgotten before each decode."""
    import orjson

    from ching_async import _fastdecode

    envelope = orjson.loads(body)
    for i, charge in enumerate(envelope["data"]):
        for n, field in enumerate(("authorized_at", "captured_at", "created")):
            charge[field] = f"2026-04-{1 + n:02d}T{i // 60:02d}:{i % 60:02d}:00.000Z"
    decode = ching_decoder(orjson.dumps(envelope))

    def first_sight() -> list[Any]:
        _fastdecode.clear_memos()
        return decode()

    return first_sight


def plain_decoder(body: bytes) -> Callable[[], list[Any]]:
    """ching_decoder with the fast decoder switched off (CHING_ASYNC_FAST_DECODE=0):
    cattrs' own hooks, with a Decoding of its own."""
    import orjson

    import ching_async
    from ching_async import _convert

    hook = _convert.Decoding(fast=False).model_list_hook(ching_async.Charge)
    charge = ching_async.Charge
    return lambda: hook(orjson.loads(body)["data"], charge, None)


def variants(body: bytes) -> list[tuple[str, str, Callable[[], Any], bool]]:
    """(key, label, fn, is_baseline)."""
    import orjson

    import ching_async
    from ching_async._convert import model_hook

    items = json.loads(body)["data"]
    hook = model_hook(ching_async.Charge)
    charge = ching_async.Charge
    return [
        ("json", "json.loads (baseline)", lambda: json.loads(body), True),
        ("ching", "ching_async (bytes -> list[Charge])", ching_decoder(body), False),
        (
            "first_sight",
            "info: ching_async, first sight of timestamps",
            first_sight_decoder(body),
            False,
        ),
        ("plain", "info: ching_async, fast decoder off", plain_decoder(body), False),
        ("orjson", "info: orjson.loads only", lambda: orjson.loads(body), False),
        (
            "convert",
            "info: converter only (dicts -> Charge)",
            lambda: [hook(i, charge, None) for i in items],
            False,
        ),
    ]


def _check(fns: list[tuple[str, str, Callable[[], Any], bool]]) -> None:
    for key, _, fn, _ in fns:
        out = fn()
        items = out["data"] if isinstance(out, dict) else out
        assert len(items) == 100, (key, len(items))
    charges = {k: f for k, _, f, _ in fns}["ching"]()
    assert charges[0].amount == 9900
    assert charges[0].created.year == 2026


def tracked_per_charge(decode: Callable[[], list[Any]]) -> int:
    """GC-tracked objects that one decoded Charge keeps alive and shares with
    no other charge of its list (the model, its __dict__, the kept payload,
    and nested containers the collector tracks): what a collection has to
    traverse per charge a program holds."""

    def reachable(root: Any) -> dict[int, Any]:
        seen: dict[int, Any] = {}
        stack = [root]
        while stack:
            obj = stack.pop()
            if id(obj) not in seen and not isinstance(obj, type):
                seen[id(obj)] = obj
                stack.extend(gc.get_referents(obj))
        return seen

    charges = decode()
    mine = reachable(charges[1])
    shared: dict[int, Any] = {}
    for other in charges[:1] + charges[2:]:
        shared.update(reachable(other))
    return sum(1 for key, obj in mine.items() if key not in shared and gc.is_tracked(obj))


def _batch_size(fn: Callable[[], Any], seconds: float) -> int:
    start = time.process_time()
    n = 0
    while time.process_time() - start < 0.02:
        fn()
        n += 1
    per_call = (time.process_time() - start) / n
    return max(5, int(seconds / per_call))


def _time_batch(fn: Callable[[], Any], n: int) -> float:
    gc.collect()
    start = time.process_time()
    for _ in range(n):
        fn()
    return (time.process_time() - start) / n * 1e6


def run(
    *, quick: bool = False, rounds: int | None = None, log: Any = print
) -> list[dict[str, Any]]:
    rounds = rounds or (3 if quick else 5)
    body = ching_list_body()
    fns = variants(body)
    _check(fns)
    sizes = {key: _batch_size(fn, 0.05 if quick else 0.25) for key, _, fn, _ in fns}
    samples: dict[str, list[float]] = {key: [] for key, *_ in fns}
    started = time.perf_counter()
    for _ in range(rounds):
        for key, _, fn, _ in fns:
            samples[key].append(_time_batch(fn, sizes[key]))
    tracked = {key: tracked_per_charge(fn) for key, _, fn, _ in fns if key in ("ching", "plain")}
    log(
        f"  {SCENARIO}: {rounds} rounds in {time.perf_counter() - started:.1f}s ({len(body):,} bytes);"
        f" GC-tracked objects per decoded Charge: {tracked['ching']}"
        f" (fast decoder off: {tracked['plain']})"
    )
    return [
        row(
            SCENARIO,
            label,
            "CPU us/decode",
            samples[key],
            rate=[1e6 / s for s in samples[key]],
            baseline=baseline,
            target=1.5 if key == "ching" else None,
            extra={
                "key": "decode_100",
                "client_key": key,
                "batch": sizes[key],
                "body_bytes": len(body),
                **({"gc_tracked_per_charge": tracked[key]} if key in tracked else {}),
            },
        )
        for key, label, _, baseline in fns
    ]


def main() -> None:
    args = quick_and_rounds(__doc__)
    rows = run(quick=args.quick, rounds=args.rounds)
    print_table(rows)


if __name__ == "__main__":
    main()
