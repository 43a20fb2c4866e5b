"""Exactly-once charging under chaos: many concurrent charges.create calls over one
client against a FakeChing that does NOT deduplicate, with seeded faults on
POST /charges (503 before processing, commit-then-drop, commit-then-slower-than-
the-timeout, 429 with Retry-After, slower than the timeout then commit, a gateway's
504 page now and the commit later). Prints what the server ended up with.

    .venv/bin/python examples/chaos.py --calls 10000
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field

import ching_async
from ching_async.testing import FakeChing, Fault

CLIENT_TIMEOUT = 0.5


@dataclass
class ChaosReport:
    calls: int
    charges: dict[str, ching_async.Charge] = field(default_factory=dict)  # key -> result
    unknown: dict[str, ching_async.OutcomeUnknownError] = field(default_factory=dict)
    other_errors: dict[str, BaseException] = field(default_factory=dict)
    resolved: dict[str, ching_async.Charge | None] = field(default_factory=dict)
    server_charges: int = 0
    server_by_key: dict[str, list[str]] = field(default_factory=dict)  # key -> charge ids
    faults: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    @property
    def duplicates(self) -> int:
        return sum(len(ids) - 1 for ids in self.server_by_key.values() if len(ids) > 1)

    @property
    def retries(self) -> int:
        return sum(c.request_info.attempts - 1 for c in self.charges.values() if c.request_info)

    @property
    def reconciliations(self) -> int:
        return sum(1 for c in self.charges.values() if c.request_info and c.request_info.reconciled)

    def summary(self) -> str:
        return (
            f"calls={self.calls} charges_returned={len(self.charges)} "
            f"charges_on_server={self.server_charges} duplicates={self.duplicates} "
            f"unknowns={len(self.unknown)} other_errors={len(self.other_errors)} "
            f"retries={self.retries} reconciliations={self.reconciliations} "
            f"faults={dict(self.faults)} seconds={self.seconds:.1f}"
        )


def inject_faults(fake: FakeChing) -> None:
    route = {"method": "POST", "path": "/charges"}
    fake.faults.add(Fault.status(503), rate=0.10, **route)
    fake.faults.add(Fault.commit_then_drop(), rate=0.10, **route)
    fake.faults.add(Fault.commit_then_delay(CLIENT_TIMEOUT * 3), rate=0.05, **route)
    fake.faults.add(Fault.rate_limited(retry_after=1), rate=0.05, **route)
    # Added after the others, so the draws above keep their slices of [0, 1).
    # Both commit after the client has given up on the attempt.
    fake.faults.add(Fault.latency(CLIENT_TIMEOUT * 3), rate=0.05, **route)
    fake.faults.add(Fault.html_then_commit(504, CLIENT_TIMEOUT * 3), rate=0.05, **route)


async def run_chaos(
    calls: int, *, seed: int = 7, customers: int = 50, concurrency: int | None = None
) -> ChaosReport:
    report = ChaosReport(calls=calls)
    async with FakeChing(seed=seed) as fake:
        cards = []
        for n in range(customers):
            customer = fake.add_customer(name=f"Customer {n}", email=f"c{n}@example.com")
            cards.append((customer.id, fake.add_payment_method(customer.id).id))
        inject_faults(fake)
        # The fake finishes every request within 1.5 s (the slowest fault), so
        # an empty lookup 2 s after an unanswered failure proves absence.
        policy = ching_async.RetryPolicy(
            initial_backoff=0.01, max_backoff=0.05, max_retry_after=1, settle=2.0
        )
        async with ching_async.Client(
            fake.api_key,
            base_url=fake.url,
            timeout=CLIENT_TIMEOUT,
            total_timeout=60,
            max_retries=8,
            max_connections=100,
            retry_policy=policy,
        ) as client:
            gate = asyncio.Semaphore(concurrency or calls)

            async def one(i: int) -> None:
                customer, card = cards[i % customers]
                key = f"chaos-{seed}-{i}"
                async with gate:
                    try:
                        charge = await client.charges.create(
                            customer=customer,
                            payment_method=card,
                            amount=100 + i,
                            idempotency_key=key,
                        )
                    except ching_async.OutcomeUnknownError as exc:
                        report.unknown[key] = exc
                    except Exception as exc:  # recorded, and asserted absent by the test
                        report.other_errors[key] = exc
                    else:
                        report.charges[key] = charge

            started = time.monotonic()
            await asyncio.gather(*(one(i) for i in range(calls)))
            report.seconds = time.monotonic() - started
            fake.faults.clear()
            for key, exc in report.unknown.items():
                assert exc.customer is not None
                report.resolved[key] = await client.charges.find_by_idempotency_key(
                    exc.customer, key
                )
        for charge in fake.charges():
            marker = charge.metadata.get(ching_async.IDEMPOTENCY_METADATA_KEY)
            report.server_by_key.setdefault(str(marker), []).append(charge.id)
        report.server_charges = len(fake.charges())
        report.faults = Counter(str(r.fault.kind) for r in fake.requests() if r.fault)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--customers", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=1000)
    args = parser.parse_args()
    report = asyncio.run(
        run_chaos(
            args.calls, seed=args.seed, customers=args.customers, concurrency=args.concurrency
        )
    )
    print(report.summary())
    raise SystemExit(1 if report.duplicates or report.other_errors else 0)


if __name__ == "__main__":
    main()
