"""`ching webhooks verify`: offline signature checks, with no API key and no server."""

from __future__ import annotations

import io
import json
import types
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import ching_async.cli._env
from ching_async.webhooks import compute_signature

from .conftest import Ran

Ching = Callable[..., Ran]
SECRET = "whsec_cli_" + "k3" * 12
# Raw bytes as delivered: non-ASCII text and CRLF line ends, which a text-mode
# read or a re-serialization would change (and so break the signature).
PAYLOAD = (
    '{"id": "evt_7Hq2",\r\n "type": "charge.succeeded",\r\n'
    ' "data": {"id": "ch_9mTP", "amount": 4990, "status": "succeeded",'
    ' "customer_name": "נועה כהן"},\r\n'
    ' "livemode": false, "created": "2026-05-01T12:00:00Z"}\r\n'
).encode()
SIGNATURE = compute_signature(PAYLOAD, SECRET)


@pytest.fixture
def outputs(ching: Ching) -> Iterator[list[Ran]]:
    """Every run's output; none may contain the secret."""
    runs: list[Ran] = []
    yield runs
    assert runs
    for ran in runs:
        assert SECRET not in ran.out
        assert SECRET not in ran.err
        assert SECRET[len("whsec_") :] not in ran.out + ran.err


@pytest.fixture
def verify(ching: Ching, outputs: list[Ran], monkeypatch: pytest.MonkeyPatch) -> Callable[..., Ran]:
    """`ching webhooks verify ...`; the embedded fake must never start."""

    def no_fake() -> None:
        raise AssertionError("webhooks verify started the embedded fake")

    monkeypatch.setattr(ching_async.cli._env, "embedded_fake", no_fake)

    def run(*argv: str) -> Ran:
        ran = ching("webhooks", "verify", *argv)
        outputs.append(ran)
        return ran

    return run


@pytest.fixture
def body(tmp_path: Path) -> Path:
    path = tmp_path / "delivery.json"
    path.write_bytes(PAYLOAD)
    return path


@pytest.fixture
def secret_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHING_WEBHOOK_SECRET", SECRET)


def stdin_of(monkeypatch: pytest.MonkeyPatch, data: bytes) -> None:
    monkeypatch.setattr("sys.stdin", types.SimpleNamespace(buffer=io.BytesIO(data)))


@pytest.mark.usefixtures("secret_in_env")
def test_a_valid_delivery(verify: Callable[..., Ran], body: Path) -> None:
    ran = verify("--signature", SIGNATURE, str(body))
    assert (ran.code, ran.err) == (0, "")  # no embedded-fake notice: no server, no key
    assert ran.out == (
        "valid evt_7Hq2 charge.succeeded livemode=false created=2026-05-01T12:00:00+00:00 "
        "data=Charge\n"
    )
    ran = verify("--signature", SIGNATURE.upper() + "\n", str(body), "--json")
    assert (ran.code, ran.err) == (0, "")
    assert json.loads(ran.out) == json.loads(PAYLOAD)


@pytest.mark.usefixtures("secret_in_env")
def test_the_payload_from_stdin(
    verify: Callable[..., Ran], monkeypatch: pytest.MonkeyPatch
) -> None:
    stdin_of(monkeypatch, PAYLOAD)
    ran = verify("--signature", SIGNATURE)  # FILE defaults to stdin
    assert ran.code == 0, ran.err
    assert ran.out.startswith("valid evt_7Hq2 ")
    stdin_of(monkeypatch, PAYLOAD)
    ran = verify("--signature", SIGNATURE, "-", "--json")
    assert ran.code == 0, ran.err
    assert json.loads(ran.out)["data"]["customer_name"] == "נועה כהן"


@pytest.mark.usefixtures("secret_in_env")
def test_a_tampered_body_is_invalid(verify: Callable[..., Ran], tmp_path: Path) -> None:
    tampered = tmp_path / "tampered.json"
    tampered.write_bytes(PAYLOAD.replace(b"4990", b"9990"))
    ran = verify("--signature", SIGNATURE, str(tampered))
    assert (ran.code, ran.out) == (1, "")
    assert ran.err_lines == [
        "ching: error: invalid signature: Ching-Signature does not match the body: wrong "
        "secret, or the body was changed (parsed and re-serialized?) before verification"
    ]
    reencoded = tmp_path / "reencoded.json"  # what a framework's parse + dump would give
    reencoded.write_text(json.dumps(json.loads(PAYLOAD)))
    assert verify("--signature", SIGNATURE, str(reencoded)).code == 1


def test_a_wrong_secret_is_invalid(verify: Callable[..., Ran], body: Path) -> None:
    ran = verify("--secret", "whsec_other", "--signature", SIGNATURE, str(body), "--json")
    assert ran.code == 1
    error = json.loads(ran.out)
    assert error["exit_code"] == 1
    assert (error["error"]["type"], error["error"]["valid"]) == (
        "SignatureVerificationError",
        False,
    )
    assert ran.err_lines[0].startswith("ching: error: invalid signature: ")


@pytest.mark.usefixtures("secret_in_env")
def test_a_missing_signature_is_invalid(verify: Callable[..., Ran], body: Path) -> None:
    for argv in ([str(body)], ["--signature", "", str(body)], ["--signature", "  ", str(body)]):
        ran = verify(*argv)
        assert ran.code == 1
        assert ran.err_lines == ["ching: error: invalid signature: missing Ching-Signature header"]


@pytest.mark.usefixtures("secret_in_env")
@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"not json", "webhook body is not JSON"),
        (b'["evt_1"]', "webhook body is not a CHING event: expected an object, got list"),
        (b'{"id": "evt_1"}', "an event needs a string id and a string type"),
    ],
)
def test_a_signed_body_that_is_not_an_event(
    verify: Callable[..., Ran], tmp_path: Path, payload: bytes, reason: str
) -> None:
    path = tmp_path / "odd.json"
    path.write_bytes(payload)
    ran = verify("--signature", compute_signature(payload, SECRET), str(path))
    assert (ran.code, ran.out) == (1, "")
    [line] = ran.err_lines
    assert line.startswith("ching: error: invalid payload: ")
    assert reason in line


def test_the_secret_from_another_variable(
    verify: Callable[..., Ran], body: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOP_WEBHOOK_SECRET", SECRET)
    ran = verify("--secret-env", "SHOP_WEBHOOK_SECRET", "--signature", SIGNATURE, str(body))
    assert ran.code == 0, ran.err
    ran = verify("--secret", SECRET, "--signature", SIGNATURE, str(body))
    assert ran.code == 0, ran.err


def test_a_missing_secret_is_a_usage_error(
    verify: Callable[..., Ran], body: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CHING_WEBHOOK_SECRET", raising=False)
    ran = verify("--signature", SIGNATURE, str(body), "--json")
    assert ran.code == 2
    assert ran.err_lines == [
        "ching: error: no webhook secret: $CHING_WEBHOOK_SECRET is not set "
        "(or name another variable with --secret-env NAME)"
    ]
    assert json.loads(ran.out)["exit_code"] == 2
    monkeypatch.setenv("CHING_WEBHOOK_SECRET", "")
    assert verify("--signature", SIGNATURE, str(body)).code == 2
    monkeypatch.delenv("SHOP_WEBHOOK_SECRET", raising=False)
    ran = verify("--secret-env", "SHOP_WEBHOOK_SECRET", "--signature", SIGNATURE, str(body))
    assert ran.code == 2
    assert ran.err_lines == ["ching: error: no webhook secret: $SHOP_WEBHOOK_SECRET is not set"]
    ran = verify("--secret", "", "--signature", SIGNATURE, str(body))
    assert (ran.code, ran.err_lines) == (2, ["ching: error: --secret is empty"])


def test_a_secret_with_a_trailing_newline_is_a_usage_error(
    verify: Callable[..., Ran], body: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHING_WEBHOOK_SECRET", SECRET + "\n")  # as read from a file
    ran = verify("--signature", SIGNATURE, str(body))
    assert ran.code == 2
    assert ran.err_lines == [
        "ching: error: secret contains whitespace or control characters; check how it was loaded"
    ]


@pytest.mark.usefixtures("secret_in_env")
def test_an_unreadable_payload_is_a_usage_error(
    verify: Callable[..., Ran], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ran = verify("--signature", SIGNATURE, str(tmp_path / "missing.json"))
    assert ran.code == 2
    assert ran.err_lines == [
        f"ching: error: cannot read the payload from {tmp_path / 'missing.json'}: "
        "No such file or directory"
    ]
    ran = verify("--signature", SIGNATURE, str(tmp_path))
    assert ran.code == 2
    assert ran.err_lines[0].startswith(f"ching: error: cannot read the payload from {tmp_path}")
    monkeypatch.setattr("sys.stdin", None)
    ran = verify("--signature", SIGNATURE)
    assert ran.code == 2
    assert ran.err_lines[0].startswith("ching: error: cannot read the payload from stdin")


def test_secret_and_secret_env_together_are_a_usage_error(
    verify: Callable[..., Ran], body: Path
) -> None:
    ran = verify("--secret", SECRET, "--secret-env", "X", "--signature", SIGNATURE, str(body))
    assert (ran.code, ran.out) == (2, "")
    assert len(ran.err_lines) == 1
    assert "not allowed with argument" in ran.err_lines[0]


def test_help(verify: Callable[..., Ran]) -> None:
    ran = verify("--help")
    assert ran.code == 0
    assert "Needs no API key and sends nothing." in ran.out
    assert "The secret is never printed." in ran.out
