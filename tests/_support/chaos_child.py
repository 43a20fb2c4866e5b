"""The client side of the chaos tests, run as a child process so that it can be SIGKILLed.

    python tests/_support/chaos_child.py CONFIG.json

Prints one JSON line per finished row, flushed as it finishes:
``{"i": index, "o": outcome, "c": charge id or null, "j": from the journal}``.

Modes:
- ``bulk``: ``create_many`` over every row, with the job's journal; a re-run with the
  same journal resumes the job (the test's only recovery tool).
- ``gather``: one ``charges.create`` per row under ``asyncio.gather``; an ambiguous
  failure is resolved as the README says (wait ``settle``, ``find_by_idempotency_key``,
  send again only when proven absent). With ``lookup_first``, each row is looked up
  before its first send (resuming after a killed run).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import orjson

import ching_async

# A row whose ambiguous failures keep coming is given up after this many sends:
# the test then reports it as a row without a final result.
_ROUNDS = 20


def _emit(index: int, outcome: str, charge_id: str | None, from_journal: bool = False) -> None:
    line = orjson.dumps({"i": index, "o": outcome, "c": charge_id, "j": from_journal})
    sys.stdout.buffer.write(line + b"\n")
    sys.stdout.buffer.flush()


def _client(cfg: dict[str, Any]) -> ching_async.Client:
    policy = ching_async.RetryPolicy(
        initial_backoff=0.01, max_backoff=0.05, max_retry_after=1.0, settle=cfg["settle"]
    )
    return ching_async.Client(
        cfg["api_key"],
        base_url=cfg["url"],
        timeout=cfg["timeout"],
        total_timeout=cfg["total_timeout"],
        max_retries=cfg["max_retries"],
        max_connections=cfg["max_connections"],
        retry_policy=policy,
    )


def _row(cfg: dict[str, Any], index: int) -> dict[str, Any]:
    customer, card = cfg["cards"][index % len(cfg["cards"])]
    return {"customer": customer, "payment_method": card, "amount": 100 + index}


async def bulk(cfg: dict[str, Any]) -> None:
    rows = (_row(cfg, i) for i in range(cfg["rows"]))
    async with (
        _client(cfg) as client,
        client.charges.create_many(
            rows,
            job_id=cfg["job_id"],
            concurrency=cfg["concurrency"],
            journal=cfg["journal"],
            assume_new=True,  # a fresh job id; a re-run trusts the journal's history
        ) as run,
    ):
        async for result in run:
            _emit(result.index, result.outcome.value, result.charge_id, result.from_journal)


def _maybe_made(error: ching_async.ChingError) -> bool:
    return bool(
        getattr(error, "outcome_unknown", False) or getattr(error, "may_have_reached_server", False)
    )


async def _find(client: ching_async.Client, customer: str, key: str) -> ching_async.Charge | None:
    while True:  # a lookup is a GET: only the client's own timeout can fail it here
        try:
            return await client.charges.find_by_idempotency_key(customer, key)
        except ching_async.APIConnectionError:
            continue


def _settled(charge: ching_async.Charge) -> str:
    return "declined" if charge.status == "failed" else "succeeded"


async def _charge_once(
    cfg: dict[str, Any], client: ching_async.Client, index: int
) -> tuple[str, str | None]:
    row = _row(cfg, index)
    key = f"{cfg['job_id']}:{index}"
    if cfg["lookup_first"]:
        found = await _find(client, row["customer"], key)
        if found is not None:
            return _settled(found), found.id
    for _ in range(_ROUNDS):
        try:
            charge = await client.charges.create(**row, idempotency_key=key)
        except ching_async.CardDeclinedError:
            return "declined", None
        except ching_async.ChingError as error:
            if not _maybe_made(error):
                continue  # the library says it was not made: sending again is safe
            # Resolve later, never by sending blindly: once the server is surely
            # done with every earlier send, absence is proof.
            await asyncio.sleep(cfg["settle"])
            found = await _find(client, row["customer"], key)
            if found is not None:
                return _settled(found), found.id
        else:
            return "succeeded", charge.id
    return "unknown", None


async def gather(cfg: dict[str, Any]) -> None:
    async with _client(cfg) as client:

        async def one(index: int) -> None:
            outcome, charge_id = await _charge_once(cfg, client, index)
            _emit(index, outcome, charge_id)

        await asyncio.gather(*(one(i) for i in cfg["indices"]))


def main() -> None:
    cfg = orjson.loads(Path(sys.argv[1]).read_bytes())
    asyncio.run(bulk(cfg) if cfg["mode"] == "bulk" else gather(cfg))


if __name__ == "__main__":
    main()
