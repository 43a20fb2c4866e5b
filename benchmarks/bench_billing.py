"""FakeChing's billing engine: a year of monthly renewals for 1,000 subscriptions.

Seeds N customers with a card and a monthly subscription each (the first
period charged at once), then times one `fake.advance(timedelta(days=365))`:
every renewal happens at its own moment, in order, each a charge and a tax
document. With --webhooks an endpoint is registered (delivery left manual), so
every event is also built and signed-ready, as a test that listens pays.

The target (issue 23): under 5 seconds on a 2-CPU machine for the defaults.

Run alone: python benchmarks/bench_billing.py [--subscriptions N] [--days D] [--webhooks] [--quick]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import UTC, datetime, timedelta

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from _common import positive_int

from ching_async.testing import FakeChing

START = datetime(2026, 1, 1, tzinfo=UTC)
TARGET_SECONDS = 5.0


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--subscriptions", type=positive_int, default=1000, metavar="N")
    parser.add_argument("--days", type=positive_int, default=365, metavar="D")
    parser.add_argument("--webhooks", action="store_true", help="with an endpoint listening")
    parser.add_argument("--quick", action="store_true", help="100 subscriptions")
    args = parser.parse_args()
    if args.quick:
        args.subscriptions = min(args.subscriptions, 100)

    fake = FakeChing(clock=lambda: START, webhook_delivery="manual")  # helpers need no server
    if args.webhooks:
        fake.add_webhook_endpoint("http://127.0.0.1:9/hooks")
    product = fake.add_product(name="Pro").id
    price = fake.add_price(
        product, unit_amount=9900, type="recurring", recurring={"interval": "month"}
    ).id
    for n in range(args.subscriptions):
        customer = fake.add_customer(name=f"Customer {n}").id
        fake.add_subscription(customer, price, payment_method=fake.add_payment_method(customer).id)
    first = len(fake.charges())

    started = time.perf_counter()
    fake.advance(timedelta(days=args.days))
    seconds = time.perf_counter() - started

    renewals = len(fake.charges()) - first
    events = len(fake.webhook_events())
    print(
        f"advanced {args.days} days: {args.subscriptions} subscriptions, {renewals} renewals "
        f"({len(fake.documents())} documents, {events} events) in {seconds:.2f} s"
        f" ({seconds / max(renewals, 1) * 1e6:.0f} us a renewal)"
    )
    if args.subscriptions == 1000 and args.days == 365:
        verdict = "met" if seconds < TARGET_SECONDS else "MISSED"
        print(f"target: under {TARGET_SECONDS:.0f} s for a year of 1,000 subscriptions: {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
