"""`ching setup-sessions|charges ...` run in-process through main(argv)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Callable

import pytest

import ching_async.cli._commands
from ching_async.cli import main
from ching_async.cli._errors import ExitCode

from .conftest import FAKE_NOTICE, Ran, RemoteFake

Ching = Callable[..., Ran]


# ------------------------------------------------------------ the embedded fake
def test_with_fake_commands_use_the_embedded_fake_and_say_so(ching: Ching) -> None:
    ran = ching("charges", "list", "--fake")
    assert ran.code == 0
    assert len(ran.err_lines) == 1
    assert ran.err_lines[0].startswith(FAKE_NOTICE)
    assert "nothing is charged for real" in ran.err_lines[0]
    assert "3 charges, newest first" in ran.out
    assert "Tal Levi: Pro plan - April" in ran.out


def test_json_output_parses_wherever_the_flag_is(ching: Ching) -> None:
    for argv in (
        ["charges", "list", "--json", "--fake"],
        ["--json", "--fake", "charges", "list"],
        ["charges", "--json", "list", "--fake"],
        ["--fake", "charges", "--json", "list"],
    ):
        ran = ching(*argv)
        assert ran.code == 0, ran.err
        charges = json.loads(ran.out)
        assert [c["status"] for c in charges] == [
            "requires_capture",
            "requires_capture",
            "succeeded",
        ]
        assert ran.err.startswith(FAKE_NOTICE)  # the notice is on stderr, never in the JSON


def test_the_embedded_sample_data_supports_every_charge_command(ching: Ching) -> None:
    charges = json.loads(ching("--fake", "charges", "list", "--json").out)
    by_status = {c["description"]: c for c in charges}
    hold = by_status["Variable-weight cart - awaiting fulfilment"]
    ran = ching("--fake", "charges", "capture", hold["id"], "--amount", "9550", "--json")
    assert ran.code == 0, ran.err
    assert (json.loads(ran.out)["status"], json.loads(ran.out)["amount_captured"]) == (
        "succeeded",
        9550,
    )
    deposit = by_status["Table reservation deposit"]
    ran = ching("--fake", "charges", "cancel", deposit["id"], "--reason", "abandoned")
    assert ran.code == 0, ran.err
    assert "Charge canceled" in ran.out
    assert "abandoned" in ran.out
    tal = by_status["Pro plan - April"]
    ran = ching("--fake",
        "charges", "create", "--customer", tal["customer"],
        "--payment-method", tal["payment_method"], "--amount", "4990", "--installments", "3",
        "--metadata", "invoice=INV-9", "--metadata", "note=a=b", "--json",
    )  # fmt: skip
    assert ran.code == 0, ran.err
    created = json.loads(ran.out)
    assert (created["amount"], created["installments"]) == (4990, {"count": 3})
    assert created["metadata"]["invoice"] == "INV-9"
    assert created["metadata"]["note"] == "a=b"
    ran = ching("--fake", "charges", "get", tal["id"])
    assert ran.code == 0
    assert "99.00 ILS (9,900 agorot)" in ran.out


def test_the_embedded_fake_has_a_declining_card(ching: Ching) -> None:
    ran = ching("--fake",
        "charges", "create", "--customer", "cus_HtGM14Ak6J1M",
        "--payment-method", "pm_G7HM-cBef3Wb", "--amount", "100",
    )  # fmt: skip
    assert ran.code == 1
    assert ran.err_lines[-1].startswith("ching: error: CardDeclinedError: 402")


SEE = "(the embedded fake holds only its sample data: see "
NONE_OF = "(the embedded fake is made afresh for each command, with sample data that has no "


NOT_FOUND_CASES = [
        (["charges", "get", "ch_nothing"], SEE + "'ching charges list --fake')"),
        (["subscriptions", "get", "sub_nothing"], NONE_OF + "subscriptions)"),
        (["subscriptions", "cancel", "sub_nothing", "--yes"], NONE_OF + "subscriptions)"),
        (["subscriptions", "change-price", "sub_nothing", "--price", "price_x", "--yes"],
         NONE_OF + "subscriptions)"),
        (["subscriptions", "create", "--customer", "cus_nothing", "--price", "price_x"],
         SEE + "'ching customers list --fake' and 'ching prices list --fake')"),
        (["checkout", "get", "co_nothing"], NONE_OF + "checkout sessions)"),
        (["refunds", "get", "re_nothing"], NONE_OF + "refunds)"),
        (["prices", "create", "--product", "prod_nothing", "--unit-amount", "100",
          "--type", "one_time"], SEE + "'ching products list --fake')"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("argv", "hint"), NOT_FOUND_CASES, ids=["-".join(argv[:2]) for argv, _ in NOT_FOUND_CASES]
)
def test_not_found_on_the_embedded_fake_hints_at_its_sample_data(
    ching: Ching, argv: list[str], hint: str
) -> None:
    ran = ching("--fake", *argv)
    assert ran.code == 1
    assert len(ran.err_lines) == 2  # the notice, and one error line
    assert ran.err_lines[1].startswith("ching: error: NotFoundError: 404")
    assert ran.err_lines[1].endswith(hint)


# -------------------------------------------------------------- with a key
def test_with_a_key_commands_talk_to_the_configured_api(
    ching: Ching, with_api_key: RemoteFake
) -> None:
    customer = with_api_key.call(lambda f: f.add_customer(name="Noa", email="noa@example.com"))
    card = with_api_key.call(lambda f: f.add_payment_method(customer.id))
    ran = ching(
        "charges", "create", "--customer", customer.id, "--payment-method", card.id,
        "--amount", "4990", "--description", "Pro plan", "--idempotency-key", "inv-1", "--json",
    )  # fmt: skip
    assert ran.code == 0
    assert ran.err == ""  # no embedded-fake notice: this is "the real API"
    charge = json.loads(ran.out)
    assert [c.id for c in with_api_key.call(lambda f: f.charges_for(customer.id))] == [charge["id"]]
    assert json.loads(ching("charges", "get", charge["id"], "--json").out)["id"] == charge["id"]
    listed = json.loads(ching("charges", "list", "--customer", customer.id, "--json").out)
    assert [c["id"] for c in listed] == [charge["id"]]
    assert listed[0]["customer_name"] == "Noa"


def test_create_with_a_key_twice_charges_once(ching: Ching, with_api_key: RemoteFake) -> None:
    customer = with_api_key.call(lambda f: f.add_customer(name="Gil"))
    card = with_api_key.call(lambda f: f.add_payment_method(customer.id))
    argv = [
        "charges", "create", "--customer", customer.id, "--payment-method", card.id,
        "--amount", "4990", "--idempotency-key", "invoice-42", "--json",
    ]  # fmt: skip
    first = ching(*argv)
    again = ching(*argv)  # a script retrying after, say, a timeout
    assert (first.code, again.code) == (0, 0)
    assert json.loads(first.out)["id"] == json.loads(again.out)["id"]
    assert again.err_lines == [
        f"ching: {json.loads(first.out)['id']} was already created with idempotency key "
        "'invoice-42': not charged again"
    ]
    assert len(with_api_key.call(lambda f: f.charges_for(customer.id))) == 1


def test_capture_and_cancel(ching: Ching, with_api_key: RemoteFake) -> None:
    customer = with_api_key.call(lambda f: f.add_customer(name="Avi"))
    hold = with_api_key.call(
        lambda f: f.add_charge(customer.id, amount=10000, capture_method="manual")
    )
    other = with_api_key.call(
        lambda f: f.add_charge(customer.id, amount=500, capture_method="manual")
    )
    ran = ching("charges", "capture", hold.id, "--amount", "6000")
    assert ran.code == 0, ran.err
    assert "Charge captured (partially)" in ran.out
    assert with_api_key.call(lambda f: f.charge(hold.id).amount_captured) == 6000
    ran = ching("charges", "cancel", other.id, "--json")
    assert json.loads(ran.out)["status"] == "canceled"
    ran = ching("charges", "cancel", other.id, "--json")  # not cancelable twice
    assert ran.code == 1
    error = json.loads(ran.out)
    assert error["exit_code"] == 1
    assert (error["error"]["status"], error["error"]["code"]) == (400, "charge_not_cancelable")
    assert ran.err_lines == [ran.err_lines[0]]
    assert ran.err_lines[0].startswith("ching: error: BadRequestError: 400 charge_not_cancelable")


def test_setup_session_lifecycle(ching: Ching, with_api_key: RemoteFake) -> None:
    customer = with_api_key.call(lambda f: f.add_customer(name="Dana"))
    ran = ching(
        "setup-sessions", "create", "--customer", customer.id,
        "--success-url", "https://shop.example/ok", "--cancel-url", "https://shop.example/no",
        "--metadata", "order=42", "--json",
    )  # fmt: skip
    assert ran.code == 0, ran.err
    session = json.loads(ran.out)
    assert (session["status"], session["metadata"]) == ("pending", {"order": "42"})
    ran = ching("setup-sessions", "get", session["id"])
    assert ran.code == 0
    assert "pending" in ran.out
    assert session["url"] in ran.out
    ran = ching("setup-sessions", "cancel", session["id"], "--json")
    assert json.loads(ran.out) == {"id": session["id"], "status": "canceled"}
    ran = ching("setup-sessions", "cancel", session["id"])
    assert ran.code == 1
    assert "400 SESSION_NOT_PENDING" in ran.err


def test_a_declined_card_exits_1_with_one_line(ching: Ching, with_api_key: RemoteFake) -> None:
    customer = with_api_key.call(lambda f: f.add_customer(name="Ron"))
    card = with_api_key.call(lambda f: f.add_payment_method(customer.id, declines=True))
    argv = ["charges", "create", "--customer", customer.id, "--payment-method", card.id]
    ran = ching(*argv, "--amount", "4990")
    assert (ran.code, ran.out) == (1, "")
    assert len(ran.err_lines) == 1
    assert ran.err_lines[0].startswith("ching: error: CardDeclinedError: 402 CHARGE_FAILED")
    ran = ching(*argv, "--amount", "4990", "--json")
    error = json.loads(ran.out)["error"]
    assert (error["type"], error["status"], error["outcome_unknown"]) == (
        "CardDeclinedError",
        402,
        False,
    )


def test_an_unreachable_api_exits_1(ching: Ching, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    monkeypatch.setenv("CHING_API_KEY", "ck_test_" + "ab" * 32)
    monkeypatch.setenv("CHING_BASE_URL", f"http://127.0.0.1:{port}/ching/v1")
    ran = ching("charges", "get", "ch_1")
    assert ran.code == 1
    assert len(ran.err_lines) == 1
    assert ran.err_lines[0].startswith("ching: error: APIConnectionError")


def test_a_malformed_key_is_a_configuration_error(
    ching: Ching, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHING_API_KEY", "ck_test_\x01")
    ran = ching("charges", "list")
    assert ran.code == ExitCode.CONFIG == 4
    assert ran.err_lines == [
        "ching: error: CHING_API_KEY is not a usable API key: api_key contains whitespace, "
        "control or non-ASCII characters; check how it was loaded"
    ]


# ------------------------------------------------------------- usage errors
def test_a_decimal_amount_is_rejected_and_agorot_suggested(ching: Ching) -> None:
    ran = ching(
        "charges", "create", "--customer", "c", "--payment-method", "p", "--amount", "49.90"
    )
    assert ran.code == 2
    assert ran.out == ""
    assert len(ran.err_lines) == 1  # no embedded-fake notice either: nothing started
    assert "use 4990 for 49.90 ILS" in ran.err
    ran = ching("charges", "capture", "ch_1", "--amount", "12.5")
    assert ran.code == 2
    assert "use 1250" in ran.err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "the following arguments are required: COMMAND"),
        (["payouts"], "invalid choice: 'payouts'"),
        (["charges"], "the following arguments are required: ACTION"),
        (["charges", "create", "--amount", "100"], "--customer"),
        (["charges", "get"], "CH_ID"),
        (["charges", "cancel", "ch_1", "--reason", "bored"], "invalid choice: 'bored'"),
        (["charges", "create", "--customer", "c", "--payment-method", "p", "--amount", "1",
          "--installments", "0"], "whole number >= 1"),
        (["charges", "create", "--customer", "c", "--payment-method", "p", "--amount", "1",
          "--metadata", "novalue"], "expected KEY=VALUE"),
        (["demo", "--rows", "\u00b2"], "must be a whole number >= 1, got '\u00b2'"),
        (["worker", "--max-retries", "\u00b2"], "must be a whole number >= 0, got '\u00b2'"),
        (["bulk-charge", "x.csv"], "--job-id"),
        (["bulk-charge", "x.csv", "--job-id", "j", "--rate", "0"], "must be a number > 0"),
        (["bulk-charge", "x.csv", "--job-id", "j", "--journal", "a", "--no-journal"],
         "not allowed with"),
    ],
)  # fmt: skip
def test_usage_errors_exit_2_with_one_line(ching: Ching, argv: list[str], message: str) -> None:
    assert message in ching(*argv).usage_error()


def test_an_id_rejected_by_the_sdk_is_a_usage_error(ching: Ching) -> None:
    ran = ching("--fake", "charges", "get", "ch_1 2", "--json")
    assert ran.code == 2
    assert json.loads(ran.out)["error"]["type"] == "InvalidParameterError"
    assert ran.err_lines[-1].startswith("ching: error: id must not contain whitespace")


def test_help_and_version(ching: Ching) -> None:
    ran = ching("--help")
    assert ran.code == 0
    assert "exit codes:\n    0  success" in ran.out
    ran = ching("bulk-charge", "--help")
    assert ran.code == 0
    assert "validated before anything is" in ran.out
    ran = ching("--version")
    assert ran.code == 0
    assert ran.out.startswith("ching_async ")


# ------------------------------------------------- interrupts and OS errors
def test_ctrl_c_exits_130(ching: Ching, monkeypatch: pytest.MonkeyPatch) -> None:
    async def interrupted(*_: object) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(ching_async.cli._commands, "charges_list", interrupted)
    ran = ching("charges", "list")
    assert ran.code == 130
    assert ran.err_lines == ["ching: error: interrupted"]


def test_an_os_error_is_one_line_and_exit_1(ching: Ching, monkeypatch: pytest.MonkeyPatch) -> None:
    async def disk_full(*_: object) -> int:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ching_async.cli._commands, "charges_list", disk_full)
    ran = ching("charges", "list", "--json")
    assert ran.code == 1
    assert ran.err_lines == ["ching: error: OSError: [Errno 28] No space left on device"]
    assert json.loads(ran.out)["error"]["type"] == "OSError"


def test_main_reads_sys_argv_by_default(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "argv", ["ching", "--version"])
    assert main() == 0
    assert capsys.readouterr().out.startswith("ching_async ")


def test_importing_ching_async_does_not_import_the_cli() -> None:
    code = (
        "import sys, ching_async; "
        "assert 'ching_async.cli' not in sys.modules, 'cli imported'; "
        "assert 'rich' not in sys.modules, 'rich imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
