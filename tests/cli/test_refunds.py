"""`ching refunds ...`, in-process through main(argv)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable

import pytest

import ching_async
from ching_async.testing import FakeChing, Fault

from .conftest import FAKE_NOTICE, Ran, RemoteFake, Terminal

Ching = Callable[..., Ran]
MARKER = ching_async.IDEMPOTENCY_METADATA_KEY


def paid_charge(fake: FakeChing, *, amount: int = 9900, livemode: bool = False) -> str:
    customer = fake.add_customer(name="Noa Cohen", livemode=livemode)
    card = fake.add_payment_method(customer.id, livemode=livemode)
    return fake.add_charge(customer.id, card.id, amount=amount, livemode=livemode).id


# ---------------------------------------------------------- embedded fake
def test_refund_the_embedded_sample_charge(ching: Ching) -> None:
    ran = ching("--fake", "refunds", "list")
    assert (ran.code, ran.out.strip()) == (0, "No refunds.")
    charges = json.loads(ching("--fake", "charges", "list", "--json").out)
    [paid] = [c for c in charges if c["status"] == "succeeded"]
    ran = ching("--fake", "refunds", "create", "--charge", paid["id"], "--amount", "2500",
                "--reason", "requested_by_customer", "--metadata", "ticket=T-7")  # fmt: skip
    assert ran.code == 0, ran.err
    assert [line for line in ran.err_lines if not line.startswith(FAKE_NOTICE)] == []
    assert "Refund created" in ran.out
    for text in ("re_", "succeeded", "25.00 ILS (2,500 agorot)", paid["id"], '"ticket": "T-7"'):
        assert text in ran.out
    assert "reconciled" not in ran.out


def test_find_a_refund_that_was_not_made(ching: Ching) -> None:
    ran = ching("--fake", "refunds", "find", "rma-1", "--json")
    assert ran.code == 1
    assert ran.err_lines[-1] == (
        "ching: error: no refund with idempotency key 'rma-1': there are fewer than 100 "
        "refunds and none carries it, so it was not made"
    )
    error = json.loads(ran.out)
    assert (error["exit_code"], error["error"]["found"]) == (1, False)


# -------------------------------------------------------------- with a key
def test_refunds_create_get_list_find(ching: Ching, with_api_key: RemoteFake) -> None:
    charge = with_api_key.call(paid_charge)
    ran = ching(
        "refunds", "create", "--charge", charge, "--amount", "2500", "--reason", "duplicate",
        "--metadata", "ticket=T-7", "--idempotency-key", "rma-77", "--json",
    )  # fmt: skip
    assert (ran.code, ran.err) == (0, "")
    partial = json.loads(ran.out)
    assert (partial["amount"], partial["reason"], partial["status"]) == (2500, "duplicate",
                                                                        "succeeded")  # fmt: skip
    assert partial["metadata"] == {"ticket": "T-7", MARKER: "rma-77"}

    # The same command again (a script retrying): found by its key, not refunded again.
    ran = ching("refunds", "create", "--charge", charge, "--amount", "2500",
                "--idempotency-key", "rma-77")  # fmt: skip
    assert ran.code == 0, ran.err
    assert ran.err_lines == [
        f"ching: {partial['id']} was already made with idempotency key 'rma-77': not refunded again"
    ]
    assert "Refund (already made with this key)" in ran.out
    assert len(with_api_key.call(lambda f: f.refunds())) == 1

    ran = ching("refunds", "create", "--charge", charge, "--json")  # all that is left
    assert ran.code == 0, ran.err
    rest = json.loads(ran.out)
    assert rest["amount"] == 9900 - 2500
    assert with_api_key.call(lambda f: f.charge(charge).refunded_amount) == 9900

    ran = ching("refunds", "create", "--charge", charge)  # nothing left: refused before sending
    assert ran.code == 2
    assert ran.err_lines[-1].startswith(f"ching: error: charge {charge} has nothing left to refund")

    ran = ching("refunds", "get", partial["id"])
    assert ran.code == 0, ran.err
    assert "25.00 ILS (2,500 agorot)" in ran.out
    assert json.loads(ching("refunds", "get", rest["id"], "--json").out) == rest

    ran = ching("refunds", "list")
    assert ran.code == 0, ran.err
    assert "2 refunds, newest first" in ran.out
    header = next(line for line in ran.out.splitlines() if line.lstrip().startswith("id"))
    assert header.split() == ["id", "charge", "amount", "reason", "status", "created"]
    assert "74.00 ILS" in ran.out
    assert "duplicate" in ran.out
    listed = json.loads(ching("refunds", "list", "--json").out)
    assert [r["id"] for r in listed] == [rest["id"], partial["id"]]

    ran = ching("refunds", "find", "rma-77")
    assert ran.code == 0, ran.err
    assert "Refund made with idempotency key 'rma-77'" in ran.out
    assert partial["id"] in ran.out
    assert json.loads(ching("refunds", "find", "rma-77", "--json").out)["id"] == partial["id"]


def test_a_lost_answer_is_reconciled_and_says_so(ching: Ching, with_api_key: RemoteFake) -> None:
    charge = with_api_key.call(paid_charge)
    with_api_key.call(
        lambda f: f.faults.add(Fault.commit_then_drop(), method="POST", path="/refunds", times=1)
    )
    ran = ching("refunds", "create", "--charge", charge, "--amount", "3000")
    assert ran.code == 0, ran.err
    [notice] = ran.err_lines
    assert notice.startswith("ching: reconciled: the answer to the refund request was lost; re_")
    assert "reconciled" in ran.out
    assert len(with_api_key.call(lambda f: f.refunds())) == 1


def test_an_unknown_outcome_says_check_with_find_and_do_not_refund_again(
    ching: Ching, with_api_key: RemoteFake
) -> None:
    charge = with_api_key.call(paid_charge)
    lookups = with_api_key.call(
        lambda f: (
            f.faults.add(Fault.commit_then_drop(), method="POST", path="/refunds", times=1),
            f.faults.add(Fault.status(503), method="GET", path="/refunds"),
        )[1]
    )
    ran = ching("refunds", "create", "--charge", charge, "--amount", "3000", "--json")
    assert ran.code == 3
    assert json.loads(ran.out)["exit_code"] == 3
    error = json.loads(ran.out)["error"]
    assert (error["type"], error["outcome_unknown"]) == ("OutcomeUnknownError", True)
    key = error["idempotency_key"]
    assert key
    assert error["hint"] == f"check with `ching refunds find {key}`; do not refund again"
    [line] = ran.err_lines
    assert line.startswith("ching: error: OutcomeUnknownError")
    assert line.endswith(
        f"the refund may or may not have been made (idempotency key {key}): "
        f"check with `ching refunds find {key}`; do not refund again"
    )
    assert len(with_api_key.call(lambda f: f.requests_to("POST", "/refunds"))) == 1

    with_api_key.call(lambda f: f.faults.remove(lookups))
    ran = ching("refunds", "find", key, "--json")
    assert ran.code == 0, ran.err
    assert json.loads(ran.out)["id"] == with_api_key.call(lambda f: f.refunds()[0].id)


# ----------------------------------------------------------------- live mode


def test_live_refund_without_a_terminal_needs_yes(ching: Ching, live: RemoteFake) -> None:
    charge = live.call(lambda f: paid_charge(f, livemode=True))
    ran = ching("refunds", "create", "--charge", charge, "--amount", "100")
    assert (ran.code, ran.out) == (2, "")
    assert ran.err_lines == [
        f"ching: error: refunding {charge} in live mode needs --yes (stdin is not a terminal, "
        "so there is no one to ask); nothing was sent"
    ]
    assert live.call(lambda f: f.requests()) == []
    ran = ching("refunds", "create", "--charge", charge, "--amount", "100", "--yes", "--json")
    assert ran.code == 0, ran.err
    assert json.loads(ran.out)["livemode"] is True
    assert live.call(lambda f: f.charge(charge).refunded_amount) == 100


def test_live_refund_asks_on_a_terminal(
    ching: Ching, live: RemoteFake, monkeypatch: pytest.MonkeyPatch
) -> None:
    charge = live.call(lambda f: paid_charge(f, livemode=True))
    monkeypatch.setattr(sys, "stdin", Terminal("no\n"))
    ran = ching("refunds", "create", "--charge", charge)
    assert ran.code == 2
    assert ran.err.startswith(f"ching: Refund everything left (99.00 ILS) of {charge} (")
    assert ", 99.00 ILS) in live mode? [y/N] " in ran.err  # the customer, and the charge
    assert ran.err.endswith("ching: error: not confirmed; nothing was changed\n")
    assert live.call(lambda f: f.refunds()) == []

    monkeypatch.setattr(sys, "stdin", Terminal("y\n"))
    ran = ching("refunds", "create", "--charge", charge, "--amount", "2500")
    assert ran.code == 0, ran.err
    assert ran.err.startswith(f"ching: Refund 25.00 ILS of {charge} (")
    assert live.call(lambda f: f.charge(charge).refunded_amount) == 2500


# ------------------------------------------------------------- usage errors
@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["refunds"], "the following arguments are required: ACTION"),
        (["refunds", "create"], "--charge"),
        (["refunds", "create", "--charge", "ch_1", "--amount", "25.00"], "use 2500 for 25.00 ILS"),
        (["refunds", "create", "--charge", "ch_1", "--amount", "0"], "greater than 0"),
        (["refunds", "create", "--charge", "ch_1", "--reason", "bored"], "invalid choice"),
        (["refunds", "create", "--charge", "ch_1", "--metadata", "x"], "expected KEY=VALUE"),
        (["refunds", "get"], "RE_ID"),
        (["refunds", "find"], "KEY"),
    ],
)  # fmt: skip
def test_usage_errors_exit_2_with_one_line(ching: Ching, argv: list[str], message: str) -> None:
    ran = ching(*argv)
    assert (ran.code, ran.out) == (2, "")
    assert len(ran.err_lines) == 1, ran.err
    assert ran.err_lines[0].startswith("ching: error: ")
    assert message in ran.err_lines[0]


def test_the_reserved_metadata_key_is_a_usage_error(ching: Ching) -> None:
    ran = ching("--fake", "refunds", "create", "--charge", "ch_1", "--metadata", f"{MARKER}=x")
    assert ran.code == 2
    assert "reserved for the idempotency marker" in ran.err_lines[-1]
