"""``ching demo``: the whole SDK in one run, against an embedded fake CHING server.

The demo never uses CHING_API_KEY: it starts its own in-process FakeChing,
so it charges nothing real and needs no account. Every step goes through the
public ``ching_async.Client`` over HTTP on 127.0.0.1, exactly as a real
integration would; only the customer's side (entering a card on the hosted
page) is played by the fake.
"""

from __future__ import annotations

import argparse
import tempfile
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.text import Text

from .. import IDEMPOTENCY_METADATA_KEY, Charge, Client
from .._bulk import ChargeParams
from ._amounts import format_money
from ._bulk_charge import JobReport, print_report, run_job
from ._env import API_KEY_ENV, api_key_from_env, current_target, embedded_fake
from ._errors import CliError, ExitCode
from ._output import Output, raw_of

if TYPE_CHECKING:
    from ..testing import FakeChing

__all__ = ["demo"]

DEMO_JOB_ID = "demo-2026-05"
PLAN_AMOUNTS = (4990, 9900, 14900, 2990, 7500)  # agorot
DECLINING = (7, 77, 177)  # customer numbers whose card is declined
DEMO_TIMEOUT = 3.0  # seconds per attempt
STOP_AT = 0.4  # the first bulk run is "killed" after this share of the rows


class DemoCheckFailed(CliError):
    """A step of the demo did not end as it should have (exit code 1)."""


async def demo(args: argparse.Namespace, out: Output) -> int:
    rows: int = args.rows
    given = [API_KEY_ENV] if api_key_from_env() is not None else []
    given += ["--api-key"] if current_target().api_key is not None else []
    if given:
        verb = "is" if len(given) == 1 else "are"
        why = f"{' and '.join(given)} {verb} ignored: the demo never touches a real account"
    else:
        why = f"{API_KEY_ENV} is not needed"
    async with embedded_fake() as fake:
        out.notice(
            f"the demo always runs against an embedded fake CHING server at {fake.url} "
            f"(in memory, gone when the demo exits; {why}); nothing is charged for real"
        )
        # A short attempt timeout: the fake is local, and a resumed job waits one
        # attempt timeout for requests a dead run may have left in flight.
        async with Client(fake.api_key, base_url=fake.url, timeout=DEMO_TIMEOUT) as client:
            story = _Story(out)
            result = await _run(story, fake, client, rows=rows, progress=args.progress)
    if out.json_mode:
        out.emit_json(result)
    else:
        story.say(Text("Demo complete: every step did what it showed.", style="bold green"))
    return ExitCode.OK


class _Story:
    """Numbered steps on stdout (human mode only)."""

    def __init__(self, out: Output) -> None:
        self.out = out
        self.step = 0

    def heading(self, text: str) -> None:
        self.step += 1
        if not self.out.json_mode:
            self.out.print()
            self.out.print(Text(f"{self.step}. {text}", style="bold cyan"))

    def say(self, *parts: str | tuple[str, str] | Text) -> None:
        if not self.out.json_mode:
            self.out.print(Text.assemble("   ", *parts))

    def charge(self, charge: Charge) -> None:
        self.say(
            (charge.id, "bold"),
            "  ",
            _styled_status(str(charge.status)),
            f"  {format_money(charge.amount, charge.currency)}",
            f"  captured {format_money(charge.amount_captured, charge.currency)}"
            if charge.amount_captured is not None
            else "",
            f"  {charge.description}" if charge.description else "",
        )


def _styled_status(status: str) -> Text:
    style = {"succeeded": "green", "failed": "red", "canceled": "dim"}.get(status, "yellow")
    return Text(status, style=style)


def _check(condition: bool, what: str) -> None:
    if not condition:
        raise DemoCheckFailed(f"demo check failed: {what}")


async def _run(
    story: _Story, fake: FakeChing, client: Client, *, rows: int, progress: Any
) -> dict[str, Any]:
    result: dict[str, Any] = {"fake_url": fake.url}

    # 1. Seed ------------------------------------------------------------------
    story.heading("Seed a customer with a card, and two manual-capture charges (on the fake)")
    customer = fake.add_customer(name="Tal Levi", email="tal@example.com")
    card = fake.add_payment_method(customer.id, brand="visa", last4="4242")
    # Manual-capture charges come from checkout sessions in the real API.
    hold = fake.add_charge(
        customer.id, card.id, amount=12000, capture_method="manual", description="Cart, by weight"
    )
    deposit = fake.add_charge(
        customer.id, card.id, amount=4500, capture_method="manual", description="Table deposit"
    )
    story.say("customer ", (customer.id, "bold"), f"  {customer.name} <{customer.email}>")
    story.say("card     ", (card.id, "bold"), f"  {card.brand} ending {card.last4}")
    story.say("holds    ", (hold.id, "bold"), " 120.00 ILS, ", (deposit.id, "bold"), " 45.00 ILS")
    result["customer"] = customer.id

    # 2. Setup session ---------------------------------------------------------
    story.heading("Save a new card with a setup session")
    session = await client.setup_sessions.create(
        customer=customer.id,
        success_url="https://shop.example/cards/saved",
        cancel_url="https://shop.example/cards",
        metadata={"source": "ching demo"},
    )
    story.say("created   ", (session.id, "bold"), "  ", _styled_status(str(session.status)))
    story.say(f"          redirect the customer to {session.url}")
    new_card = fake.complete_setup_session(session.id, brand="mastercard", last4="4444")
    story.say("          (the customer enters a card on the hosted page: played by the fake)")
    session = await client.setup_sessions.retrieve(session.id)
    _check(str(session.status) == "succeeded", f"setup session is {session.status}")
    story.say(
        "retrieved ",
        (session.id, "bold"),
        "  ",
        _styled_status(str(session.status)),
        f"  new card {new_card.id} ({new_card.brand} ending {new_card.last4})",
    )
    result["setup_session"] = raw_of(session)

    # 3. Create ----------------------------------------------------------------
    story.heading("Charge the new card: 149.00 ILS in 3 installments")
    charge = await client.charges.create(
        customer=customer.id,
        payment_method=new_card.id,
        amount=14900,
        description="Annual plan",
        installments=3,
        metadata={"invoice": "INV-1001"},
        idempotency_key="demo-invoice-INV-1001",
    )
    _check(str(charge.status) == "succeeded", f"charge is {charge.status}")
    story.charge(charge)
    result["charge"] = raw_of(charge)

    # 4. List ------------------------------------------------------------------
    story.heading(f"List {customer.name}'s charges (newest first)")
    listed = await client.charges.list(customer=customer.id)
    _check({c.id for c in listed} == {charge.id, hold.id, deposit.id}, "listed charges")
    if not story.out.json_mode:
        story.out.charges(listed)
    result["listed"] = [c.id for c in listed]

    # 5. Capture (partial) -----------------------------------------------------
    story.heading("Capture 95.50 of the 120.00 ILS hold (a partial capture)")
    captured = await client.charges.capture(hold.id, amount=9550)
    _check(
        str(captured.status) == "succeeded" and captured.amount_captured == 9550,
        f"capture left {captured.status} / {captured.amount_captured}",
    )
    story.charge(captured)
    story.say("          the unused 24.50 ILS goes back to the card")
    result["captured"] = raw_of(captured)

    # 6. Cancel ----------------------------------------------------------------
    story.heading("Cancel the 45.00 ILS deposit hold")
    canceled = await client.charges.cancel(deposit.id, cancellation_reason="requested_by_customer")
    _check(str(canceled.status) == "canceled", f"cancel left {canceled.status}")
    story.charge(canceled)
    result["canceled"] = raw_of(canceled)

    # 7-8. Bulk ------------------------------------------------------------------
    items, declines = _bulk_items(fake, rows)
    stop_at = max(1, int(rows * STOP_AT))
    with tempfile.TemporaryDirectory(prefix="ching-demo-") as tmp:
        journal = Path(tmp) / f"{DEMO_JOB_ID}.journal.jsonl"
        story.heading(
            f"Bulk-charge {rows:,} rows ({_customer_count(rows)} customers, "
            f"{len(declines)} of them with a declining card); the job 'crashes' at {stop_at:,}"
        )
        first = await _bulk(story, client, items, rows, journal, progress, stop_after=stop_at)
        story.say(
            f"stopped after {first.summary.total:,} results; rows in flight were recorded "
            "in the journal as in doubt"
        )
        story.heading("Resume: the same command again (same job id, same journal)")
        story.say(
            "finished rows are skipped; rows that were in flight are looked up by their "
            f"idempotency key, after waiting one attempt timeout ({DEMO_TIMEOUT:g} s) "
            "for requests the dead run may have left on the server"
        )
        second = await _bulk(story, client, items, rows, journal, progress, stop_after=None)
    if not story.out.json_mode:
        story.out.print()
        print_report(
            story.out,
            second,
            title=f"Job {DEMO_JOB_ID!r} (resumed)",
            max_failures=3,
            show_journal=False,
        )
    result["bulk_first_run"] = first.to_json()
    result["bulk"] = second.to_json()

    # 9. Verify ----------------------------------------------------------------
    story.heading("Check the fake's ledger: every row charged exactly once")
    ledger = _ledger(fake)
    expected_declined = sum(1 for item in items if item.customer in declines)
    story.say(
        f"{ledger['charges']:,} bulk charges on the server for {rows:,} rows: "
        f"{ledger['succeeded']:,} succeeded, {ledger['declined']:,} declined, "
        f"{ledger['duplicates']} rows charged twice"
    )
    s = second.summary
    _check(ledger["charges"] == rows and ledger["duplicates"] == 0, f"ledger {ledger}")
    _check(ledger["declined"] == expected_declined, f"ledger {ledger}")
    _check(
        (s.succeeded, s.declined, s.failed, s.unknown)
        == (rows - expected_declined, expected_declined, 0, 0),
        f"summary {second.to_json()}",
    )
    result["ledger"] = ledger
    return result


def _customer_count(rows: int) -> int:
    return max(1, min(200, rows // 5))


def _bulk_items(fake: FakeChing, rows: int) -> tuple[list[ChargeParams], set[str]]:
    """`rows` charges over up to 200 customers (5 each at 1,000 rows), built in memory."""
    cards: list[tuple[str, str]] = []
    declines: set[str] = set()
    count = _customer_count(rows)
    for n in range(count):
        customer = fake.add_customer(name=f"Customer {n:03d}", email=f"customer{n:03d}@example.com")
        declining = n in DECLINING
        card = fake.add_payment_method(customer.id, declines=declining)
        cards.append((customer.id, card.id))
        if declining:
            declines.add(customer.id)
    items = []
    for index in range(rows):
        customer_id, card_id = cards[index % count]
        month = index // count + 1
        items.append(
            ChargeParams(
                customer=customer_id,
                payment_method=card_id,
                amount=PLAN_AMOUNTS[index % len(PLAN_AMOUNTS)],
                description=f"Subscription, month {month}",
                metadata={"row": str(index + 1)},
            )
        )
    return items, declines


async def _bulk(
    story: _Story,
    client: Client,
    items: list[ChargeParams],
    rows: int,
    journal: Path,
    progress: Any,
    *,
    stop_after: int | None,
) -> JobReport:
    return await run_job(
        client,
        items,
        rows=rows,
        job_id=DEMO_JOB_ID,
        out=story.out,
        row_of=lambda index: index + 1,
        concurrency=16,
        journal=journal,
        progress="off" if story.out.json_mode else progress,
        label="demo job" if stop_after is not None else "resumed",
        stop_after=stop_after,
    )


def _ledger(fake: FakeChing) -> dict[str, int]:
    """What the server holds for the bulk job, counted from its own state."""
    per_key: Counter[str] = Counter()
    statuses: Counter[str] = Counter()
    for charge in fake.charges():
        key = charge.metadata.get(IDEMPOTENCY_METADATA_KEY)
        if isinstance(key, str) and key.startswith(f"{DEMO_JOB_ID}:"):
            per_key[key] += 1
            statuses[charge.status] += 1
    return {
        "charges": sum(per_key.values()),
        "succeeded": statuses["succeeded"],
        "declined": statuses["failed"],
        "duplicates": sum(1 for n in per_key.values() if n > 1),
    }
