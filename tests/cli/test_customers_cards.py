"""`ching customers ...` and `ching cards ...`, in-process through main(argv)."""

from __future__ import annotations

import json
import signal
import sys
from collections.abc import Callable

import pytest

from ching_async.testing import Fault

from .conftest import FAKE_NOTICE, Ran, RemoteFake, Terminal

Ching = Callable[..., Ran]


def sample_customers(ching: Ching) -> dict[str, dict[str, object]]:
    ran = ching("--fake", "customers", "list", "--json")
    assert ran.code == 0, ran.err
    return {c["name"]: c for c in json.loads(ran.out)}


# ---------------------------------------------------------- embedded fake
def test_customers_list_shows_the_embedded_sample_customers(ching: Ching) -> None:
    ran = ching("--fake", "customers", "list")
    assert ran.code == 0, ran.err
    assert ran.err_lines[0].startswith(FAKE_NOTICE)
    assert "4 customers, newest first" in ran.out
    header = next(line for line in ran.out.splitlines() if line.lstrip().startswith("id"))
    assert header.split() == ["id", "name", "email", "phone", "created"]
    assert "Noa Cohen" in ran.out
    assert "noa@example.com" in ran.out
    customers = sample_customers(ching)
    assert sorted(customers) == ["Avi Mizrahi", "Dana Katz", "Noa Cohen", "Tal Levi"]
    assert all(c["id"].startswith("cus_") for c in customers.values())  # type: ignore[union-attr]


def test_customer_commands_on_the_embedded_fake(ching: Ching) -> None:
    noa = sample_customers(ching)["Noa Cohen"]
    ran = ching("--fake", "customers", "get", str(noa["id"]))
    assert ran.code == 0, ran.err
    assert "noa@example.com" in ran.out
    ran = ching("--fake",
        "customers", "create", "--email", "gil@example.com", "--name", "Gil Bar",
        "--phone", "054-987-6543", "--tax-id", "123456782", "--locale", "he",
        "--metadata", "user_id=u_17",
    )  # fmt: skip
    assert ran.code == 0, ran.err
    assert "Customer created" in ran.out
    for text in ("cus_", "Gil Bar", "gil@example.com", "+972549876543", '{"user_id": "u_17"}'):
        assert text in ran.out
    ran = ching(
        "--fake", "customers", "create", "--name", "Ori Dan", "--json"
    )  # the docs: only a name
    assert ran.code == 0, ran.err
    assert (json.loads(ran.out)["name"], json.loads(ran.out)["email"]) == ("Ori Dan", None)
    ran = ching("--fake", "customers", "update", str(noa["id"]), "--name", "Noa Levi", "--json")
    assert ran.code == 0, ran.err
    assert (json.loads(ran.out)["id"], json.loads(ran.out)["name"]) == (noa["id"], "Noa Levi")


def test_upsert_prints_whether_it_created_or_updated(ching: Ching) -> None:
    tal = sample_customers(ching)["Tal Levi"]
    ran = ching("--fake",
        "customers", "upsert", "--identify-by", "email", "--email", "tal@example.com",
        "--locale", "he", "--json",
    )  # fmt: skip
    assert ran.code == 0, ran.err
    result = json.loads(ran.out)
    assert set(result) == {"action", "created", "customer"}
    assert (result["action"], result["created"]) == ("updated", False)
    assert (result["customer"]["id"], result["customer"]["locale"]) == (tal["id"], "he")
    ran = ching(
        "--fake", "customers", "upsert", "--identify-by", "email", "--email", "new@example.com"
    )
    assert ran.code == 0, ran.err
    assert ran.out.startswith("Customer created")
    assert "new@example.com" in ran.out
    ran = ching(
        "--fake", "customers", "upsert", "--identify-by", "email", "--email", "tal@example.com"
    )
    assert ran.out.startswith("Customer updated")


def test_cards_on_the_embedded_fake(ching: Ching) -> None:
    dana = sample_customers(ching)["Dana Katz"]
    ran = ching("--fake", "customers", "cards", str(dana["id"]))
    assert ran.code == 0, ran.err
    assert f"1 saved card of {dana['id']}" in ran.out
    header = next(line for line in ran.out.splitlines() if line.lstrip().startswith("id"))
    assert header.split() == ["id", "brand", "last4", "exp", "status"]
    [card] = json.loads(ching("--fake", "customers", "cards", str(dana["id"]), "--json").out)
    assert (card["brand"], card["last4"], card["status"]) == ("visa", "0002", "active")
    assert f"{card['exp_month']:02d}/{card['exp_year']}" in ran.out
    ran = ching("--fake", "cards", "get", card["id"])
    assert ran.code == 0, ran.err
    assert "visa ending 0002" in ran.out
    ran = ching("--fake", "cards", "detach", card["id"], "--json")
    assert ran.code == 0, ran.err
    assert json.loads(ran.out)["status"] == "inactive"
    ran = ching("--fake", "cards", "test-card", str(dana["id"]), "--index", "1")
    assert ran.code == 0, ran.err
    assert "Test card saved" in ran.out
    assert "mastercard ending" in ran.out


def test_delete_in_test_mode_needs_no_confirmation(ching: Ching) -> None:
    avi = sample_customers(ching)["Avi Mizrahi"]
    ran = ching(
        "--fake", "customers", "delete", str(avi["id"])
    )  # stdin is no terminal: fine in test mode
    assert ran.code == 0, ran.err
    assert "Customer deleted" in ran.out
    assert "deleted" in ran.out.splitlines()[-1]


def test_not_found_hints_at_the_customer_list(ching: Ching) -> None:
    ran = ching("--fake", "customers", "get", "cus_nothing")
    assert ran.code == 1
    assert ran.err_lines[1].startswith("ching: error: NotFoundError: 404")
    assert "see 'ching customers list --fake'" in ran.err_lines[1]


# -------------------------------------------------------------- with a key
def test_customer_lifecycle(ching: Ching, with_api_key: RemoteFake) -> None:
    ran = ching(
        "customers", "create", "--email", "noa@example.com", "--name", "Noa Cohen",
        "--phone", "054-987-6543", "--metadata", "user_id=u_17", "--json",
    )  # fmt: skip
    assert (ran.code, ran.err) == (0, "")
    created = json.loads(ran.out)
    cus = created["id"]
    assert (created["phone"], created["metadata"]) == ("+972549876543", {"user_id": "u_17"})
    assert with_api_key.call(lambda f: f.customer(cus).name) == "Noa Cohen"

    ran = ching("customers", "update", cus, "--name", "Noa Levi", "--metadata", "tier=gold")
    assert ran.code == 0, ran.err
    assert "Customer updated" in ran.out
    assert with_api_key.call(lambda f: f.customer(cus).name) == "Noa Levi"

    ran = ching("customers", "upsert", "--identify-by", "phone", "--phone", "+972549876543",
                "--locale", "he", "--json")  # fmt: skip
    assert ran.code == 0, ran.err
    upserted = json.loads(ran.out)
    assert (upserted["created"], upserted["customer"]["id"]) == (False, cus)

    ran = ching("cards", "test-card", cus, "--index", "2", "--json")
    assert ran.code == 0, ran.err
    card = json.loads(ran.out)
    assert (card["brand"], card["customer"]) == ("amex", cus)
    ran = ching("customers", "cards", cus)
    assert card["id"] in ran.out
    assert "amex" in ran.out

    listed = json.loads(ching("customers", "list", "--json").out)
    assert [c["id"] for c in listed] == [cus]
    ran = ching("customers", "list")
    assert "Noa Levi" in ran.out
    assert "+972549876543" in ran.out

    ran = ching("customers", "delete", cus, "--json")
    assert ran.code == 0, ran.err
    assert json.loads(ran.out)["deleted"] is True
    ran = ching("customers", "get", cus)
    assert ran.code == 0, ran.err
    assert [line.split() for line in ran.out.splitlines()] == [["id", cus], ["status", "deleted"]]
    assert json.loads(ching("customers", "get", cus, "--json").out)["deleted"] is True
    assert ching("customers", "list").out.strip() == "No customers."
    assert json.loads(ching("customers", "list", "--json").out) == []
    assert with_api_key.call(lambda f: f.payment_method(card["id"]).status) == "inactive"


def test_detach_a_card(ching: Ching, with_api_key: RemoteFake) -> None:
    customer = with_api_key.call(lambda f: f.add_customer(name="Ron"))
    card = with_api_key.call(lambda f: f.add_payment_method(customer.id, last4="1111"))
    ran = ching("cards", "detach", card.id)
    assert ran.code == 0, ran.err
    assert "Card detached" in ran.out
    assert "inactive" in ran.out
    assert ching("customers", "cards", customer.id).out.strip() == (
        f"No saved cards for {customer.id}."
    )
    assert json.loads(ching("cards", "get", card.id, "--json").out)["status"] == "inactive"


def test_set_default_card(ching: Ching, with_api_key: RemoteFake) -> None:
    customer = with_api_key.call(lambda f: f.add_customer(name="Dana"))
    with_api_key.call(lambda f: f.add_payment_method(customer.id, last4="1111"))
    card = with_api_key.call(lambda f: f.add_payment_method(customer.id, last4="2222"))
    ran = ching("cards", "set-default", card.id)
    assert ran.code == 0, ran.err
    assert "Card set as its customer's default" in ran.out
    assert json.loads(ching("cards", "get", card.id, "--json").out)["is_default"] is True
    missing = ching("cards", "set-default", "pm_missing")
    assert missing.code == 1, missing.err


def test_create_with_an_unknown_outcome_points_at_upsert(
    ching: Ching, with_api_key: RemoteFake
) -> None:
    with_api_key.call(
        lambda f: f.faults.add(Fault.commit_then_drop(), method="POST", path="/customers", times=1)
    )
    ran = ching("customers", "create", "--email", "dan@example.com", "--name", "Dan", "--json")
    assert ran.code == 3
    [line] = ran.err_lines
    assert line.startswith("ching: error: ")
    assert "may or may not have been created" in line
    assert "`ching customers upsert --identify-by email --email dan@example.com ...`" in line
    error = json.loads(ran.out)
    assert error["exit_code"] == 3
    assert error["error"]["outcome_unknown"] is True
    assert "ching customers upsert --identify-by email" in error["error"]["hint"]
    assert len(with_api_key.call(lambda f: f.requests_to("POST", "/customers"))) == 1  # no retry
    # Following the hint finds the customer the lost create made: no second one.
    ran = ching("customers", "upsert", "--identify-by", "email", "--email", "dan@example.com",
                "--name", "Dan", "--json")  # fmt: skip
    assert ran.code == 0, ran.err
    assert json.loads(ran.out)["created"] is False


def test_create_by_name_only_with_an_unknown_outcome_points_at_the_list(
    ching: Ching, with_api_key: RemoteFake
) -> None:
    with_api_key.call(
        lambda f: f.faults.add(Fault.status(503), method="POST", path="/customers", times=1)
    )
    ran = ching("customers", "create", "--name", "Dan", "--phone", "054-987-6543", "--json")
    assert ran.code == 3
    assert (
        "upsert --identify-by phone --phone 054-987-6543 ...`"
        in json.loads(ran.out)["error"]["hint"]
    )
    ran = ching("customers", "create", "--name", "Dan")  # no identifying field to upsert by
    assert ran.code == 0, ran.err  # the fault was used up: this one went through
    with_api_key.call(
        lambda f: f.faults.add(Fault.status(503), method="POST", path="/customers", times=1)
    )
    ran = ching("customers", "create", "--name", "Dan")
    assert ran.code == 3
    assert "look for it with `ching customers list`" in ran.err
    assert len(with_api_key.call(lambda f: f.customers())) == 1


def test_update_without_a_field_sends_nothing(ching: Ching, with_api_key: RemoteFake) -> None:
    customer = with_api_key.call(lambda f: f.add_customer(name="Lea"))
    ran = ching("customers", "update", customer.id, "--json")
    assert ran.code == 2
    assert ran.err_lines == [
        "ching: error: nothing to update: give at least one of --email, --name, --phone, "
        "--tax-id, --locale, --metadata"
    ]
    assert json.loads(ran.out)["exit_code"] == 2
    assert with_api_key.call(lambda f: f.requests()) == []


def test_upsert_without_the_identifying_field_sends_nothing(
    ching: Ching, with_api_key: RemoteFake
) -> None:
    ran = ching("customers", "upsert", "--identify-by", "tax_id", "--email", "a@example.com")
    assert ran.code == 2
    assert ran.err_lines == [
        "ching: error: --identify-by tax_id needs --tax-id VALUE: the customer is found by it"
    ]
    assert with_api_key.call(lambda f: f.requests()) == []


def test_without_a_key_usage_errors_start_no_fake(ching: Ching) -> None:
    ran = ching("customers", "update", "cus_1")
    assert ran.code == 2
    assert len(ran.err_lines) == 1  # no embedded-fake notice: nothing started


# ----------------------------------------------------------------- live mode
def test_live_delete_without_a_terminal_needs_yes(
    ching: Ching, live: RemoteFake, monkeypatch: pytest.MonkeyPatch
) -> None:
    customer = live.call(lambda f: f.add_customer(name="Maya", livemode=True))
    ran = ching("customers", "delete", customer.id, "--json")
    assert ran.code == 2
    assert ran.err_lines == [
        f"ching: error: deleting customer {customer.id} in live mode needs --yes (stdin is not "
        "a terminal, so there is no one to ask); nothing was sent"
    ]
    assert json.loads(ran.out)["exit_code"] == 2
    assert live.call(lambda f: f.requests()) == []
    assert live.call(lambda f: f.customer(customer.id).deleted) is False

    ran = ching("customers", "delete", customer.id, "--yes")
    assert ran.code == 0, ran.err
    assert live.call(lambda f: f.customer(customer.id).deleted) is True


def test_live_delete_asks_on_a_terminal(
    ching: Ching, live: RemoteFake, monkeypatch: pytest.MonkeyPatch
) -> None:
    customer = live.call(
        lambda f: f.add_customer(name="Maya", email="maya@example.com", livemode=True)
    )
    monkeypatch.setattr(sys, "stdin", Terminal("n\n"))
    ran = ching("customers", "delete", customer.id)
    assert ran.code == 2
    assert ran.err.startswith(
        f"ching: Delete customer {customer.id} (Maya <maya@example.com>) in live mode? "
        "Its saved cards are detached. [y/N] "
    )
    # (a terminal echoes the answer and its newline; this one does not)
    assert ran.err.endswith("[y/N] ching: error: not confirmed; nothing was changed\n")
    assert live.call(lambda f: f.requests_to("DELETE", "/customers/{id}")) == []

    monkeypatch.setattr(sys, "stdin", Terminal(""))  # Ctrl-D
    assert ching("customers", "delete", customer.id).code == 2
    assert live.call(lambda f: f.customer(customer.id).deleted) is False

    monkeypatch.setattr(sys, "stdin", Terminal("y\n"))
    ran = ching("customers", "delete", customer.id)
    assert ran.code == 0, ran.err
    assert "Customer deleted" in ran.out
    assert live.call(lambda f: f.customer(customer.id).deleted) is True


def test_a_test_card_with_a_live_key_is_refused(ching: Ching, live: RemoteFake) -> None:
    customer = live.call(lambda f: f.add_customer(name="Maya", livemode=True))
    ran = ching("cards", "test-card", customer.id)
    assert (ran.code, ran.out) == (2, "")
    assert ran.err_lines == [
        "ching: error: create_test_card works in test mode only; this client has a live key"
    ]
    assert live.call(lambda f: f.requests()) == []


# ------------------------------------------------------------- usage errors
@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["customers"], "the following arguments are required: ACTION"),
        (["customers", "create", "--email", "a@example.com"], "--name"),
        (["customers", "create", "--name", "x", "--metadata", "x"],
         "expected KEY=VALUE"),
        (["customers", "upsert", "--email", "a@example.com"], "--identify-by"),
        (["customers", "upsert", "--identify-by", "name"], "invalid choice: 'name'"),
        (["customers", "get"], "CUS_ID"),
        (["customers", "delete"], "CUS_ID"),
        (["customers", "cards"], "CUS_ID"),
        (["cards"], "the following arguments are required: ACTION"),
        (["cards", "detach"], "PM_ID"),
        (["cards", "test-card", "cus_1", "--index", "3"], "invalid choice: 3"),
        (["cards", "test-card", "cus_1", "--index", "x"], "invalid int value"),
    ],
)  # fmt: skip
def test_usage_errors_exit_2_with_one_line(ching: Ching, argv: list[str], message: str) -> None:
    assert message in ching(*argv).usage_error()


def test_help_lists_the_new_commands(ching: Ching) -> None:
    ran = ching("--help")
    assert ran.code == 0
    for command in ("customers", "cards", "refunds", "webhooks"):
        assert f"    {command}" in ran.out
    ran = ching("customers", "upsert", "--help")
    assert ran.code == 0
    assert "Safe to re-run" in ran.out


def test_ctrl_c_at_the_prompt_exits_130_and_deletes_nothing(
    ching: Ching, live: RemoteFake, monkeypatch: pytest.MonkeyPatch
) -> None:
    customer = live.call(lambda f: f.add_customer(name="Maya", livemode=True))
    handlers: list[object] = []

    class Interrupted(Terminal):
        def readline(self, size: int | None = -1) -> str:
            # Under asyncio.run, SIGINT only cancels the task, which a blocking read
            # would not notice: while asking, Ctrl-C must raise KeyboardInterrupt.
            handlers.append(signal.getsignal(signal.SIGINT))
            raise KeyboardInterrupt

    before = signal.getsignal(signal.SIGINT)
    monkeypatch.setattr(sys, "stdin", Interrupted())
    ran = ching("customers", "delete", customer.id)
    assert ran.code == 130
    assert ran.err_lines[-1].endswith("ching: error: interrupted")
    assert handlers == [signal.default_int_handler]
    assert signal.getsignal(signal.SIGINT) is before
    assert live.call(lambda f: f.requests_to("DELETE", "/customers/{id}")) == []
