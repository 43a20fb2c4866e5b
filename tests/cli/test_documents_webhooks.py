"""`ching documents ...` and `ching webhooks list|create|delete`, in-process."""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from ching_async.cli._app import run
from ching_async.testing import FakeChing, Fault

from .conftest import Ran, RemoteFake, Terminal

Ching = Callable[..., Ran]
URL = "https://shop.example/hooks"


def paid_document(fake: FakeChing, *, livemode: bool = False) -> str:
    customer = fake.add_customer(name="Noa Cohen", livemode=livemode)
    card = fake.add_payment_method(customer.id, livemode=livemode)
    document = fake.add_charge(customer.id, card.id, amount=9900, livemode=livemode).document
    assert document is not None
    return document


# ------------------------------------------------------------------ documents
def test_documents_list_get_and_download(ching: Ching, with_api_key: RemoteFake) -> None:
    document = with_api_key.call(paid_document)
    ran = ching("documents", "list")
    assert ran.code == 0, ran.err
    assert document in ran.out
    assert "99.00 ILS" in ran.out
    ran = ching("documents", "get", document, "--json")
    assert (ran.code, json.loads(ran.out)["id"]) == (0, document)
    ran = ching("documents", "get", document)
    assert "REC-1001" in ran.out
    assert "tax_invoice_receipt" in ran.out

    ran = ching("documents", "download", document)
    assert ran.code == 0, ran.err
    pdf = with_api_key.call(lambda f: f.document(document).pdf())
    assert Path(f"{document}.pdf").read_bytes() == pdf
    assert ran.err_lines == [
        f"ching: saved the PDF of {document} ({len(pdf)} bytes) to {document}.pdf"
    ]
    ran = ching("documents", "download", document)
    assert "exists; --force replaces it" in ran.usage_error()
    Path("pdfs").mkdir()
    for force in ((), ("--force",)):
        ran = ching("documents", "download", document, "-o", "pdfs", *force)
        assert ran.usage_error() == (
            f"ching: error: pdfs is a directory; name the file to write, such as "
            f"pdfs/{document}.pdf (nothing was sent)"
        )
    assert list(Path("pdfs").iterdir()) == []
    ran = ching("documents", "download", document, "--force", "-o", "copy.pdf", "--json")
    assert ran.code == 0, ran.err
    assert json.loads(ran.out) == {"id": document, "path": "copy.pdf", "bytes": len(pdf)}
    assert Path("copy.pdf").read_bytes() == pdf


def test_documents_download_to_stdout(
    with_api_key: RemoteFake, capsys: pytest.CaptureFixture[str]
) -> None:
    document = with_api_key.call(paid_document)
    raw = io.BytesIO()
    stdout = io.TextIOWrapper(raw, encoding="utf-8")
    err = io.StringIO()
    assert run(["documents", "download", document, "--output", "-"], stdout=stdout, stderr=err) == 0
    stdout.flush()
    assert raw.getvalue() == with_api_key.call(lambda f: f.document(document).pdf())
    assert "to stdout" in err.getvalue()
    # A stdout that takes text only, and --json, which would share stdout, are refused.
    for argv, message in (
        (["documents", "download", document, "-o", "-"], "takes text only"),
        (["documents", "download", document, "-o", "-", "--json"], "where --json would go"),
    ):
        err = io.StringIO()
        assert run(argv, stdout=io.StringIO(), stderr=err) == 2
        assert message in err.getvalue()


def test_documents_download_that_is_not_found_leaves_no_file(
    ching: Ching, with_api_key: RemoteFake
) -> None:
    ran = ching("documents", "download", "doc_nothing")
    assert ran.code == 1
    assert "NotFoundError" in ran.err
    assert list(Path().iterdir()) == []


def test_documents_on_the_embedded_fake_have_sample_data(ching: Ching) -> None:
    ran = ching("--fake", "documents", "list", "--json")
    assert ran.code == 0, ran.err
    [document] = json.loads(ran.out)  # the sample paid charge's
    assert (document["type"], document["amount"]) == ("tax_invoice_receipt", 9900)
    assert "1 document, newest first" in ching("--fake", "documents", "list").out
    ran = ching("--fake", "documents", "get", "doc_nothing")
    assert "see 'ching documents list --fake'" in ran.err


# ------------------------------------------------------------------ webhooks
def test_webhooks_create_list_delete(ching: Ching, with_api_key: RemoteFake) -> None:
    ran = ching(
        "webhooks", "create", "--url", URL, "--events", "charge.succeeded, refund.created",
        "--events", "charge.succeeded",
    )  # fmt: skip
    assert ran.code == 0, ran.err
    [stored] = with_api_key.call(lambda f: f.webhook_endpoints())
    assert stored.events == ["charge.succeeded", "refund.created"]
    assert stored.secret in ran.out  # shown this once
    assert "the secret is shown this once" in ran.err
    ran = ching("webhooks", "list")
    assert ran.code == 0, ran.err
    assert URL in ran.out
    assert stored.secret not in ran.out
    ran = ching("webhooks", "list", "--json")
    assert [e["id"] for e in json.loads(ran.out)] == [stored.id]
    ran = ching("webhooks", "create", "--url", URL + "/2", "--events", "*", "--json")
    assert json.loads(ran.out)["secret"].startswith("whsec_")
    ran = ching("webhooks", "delete", str(stored.id))
    assert ran.code == 0, ran.err
    assert f"Webhook endpoint {stored.id} deleted" in ran.out
    assert [e.url for e in with_api_key.call(lambda f: f.webhook_endpoints())] == [URL + "/2"]
    ran = ching("webhooks", "delete", str(stored.id), "--json")
    assert ran.code == 1
    assert json.loads(ran.out)["error"]["code"] == "NOT_FOUND"


def test_webhooks_create_after_a_lost_answer_says_how_to_recover(
    ching: Ching, with_api_key: RemoteFake
) -> None:
    with_api_key.call(
        lambda f: f.faults.add(Fault.commit_then_drop(), method="POST", path="/webhooks", times=1)
    )
    ran = ching("webhooks", "create", "--url", URL, "--events", "*", "--json")
    assert ran.code == 1
    error = json.loads(ran.out)["error"]
    assert (error["type"], error["endpoint_id"]) == ("WebhookSecretLostError", 1)
    assert error["hint"].startswith("run `ching webhooks delete 1`")
    assert len(with_api_key.call(lambda f: f.webhook_endpoints())) == 1


def test_webhooks_create_with_an_unknown_outcome_points_at_the_list(
    ching: Ching, with_api_key: RemoteFake
) -> None:
    with_api_key.call(lambda f: f.faults.add(Fault.status(503), method="GET", path="/webhooks"))
    with_api_key.call(
        lambda f: f.faults.add(Fault.commit_then_drop(), method="POST", path="/webhooks", times=1)
    )
    ran = ching("webhooks", "create", "--url", URL, "--events", "*")
    assert ran.code == 3
    assert "may or may not have been made" in ran.err
    assert "check with `ching webhooks list`" in ran.err


def test_live_webhook_writes_ask_first(
    ching: Ching, live: RemoteFake, monkeypatch: pytest.MonkeyPatch
) -> None:
    ran = ching("webhooks", "create", "--url", URL, "--events", "*")
    assert "registering a webhook endpoint in live mode needs --yes" in ran.usage_error()
    assert live.call(lambda f: f.requests()) == []
    monkeypatch.setattr(sys, "stdin", Terminal("no\n"))
    ran = ching("webhooks", "create", "--url", URL, "--events", "*")
    assert f"Register {URL} for * in live mode? [y/N]" in ran.err
    assert live.call(lambda f: f.webhook_endpoints()) == []
    monkeypatch.setattr(sys, "stdin", Terminal("y\n"))
    assert ching("webhooks", "create", "--url", URL, "--events", "*").code == 0
    [endpoint] = live.call(lambda f: f.webhook_endpoints())
    assert endpoint.livemode is True

    monkeypatch.setattr(sys, "stdin", Terminal("n\n"))
    ran = ching("webhooks", "delete", str(endpoint.id))
    assert f"Delete webhook endpoint {endpoint.id} ({URL}) in live mode?" in ran.err
    assert ran.code == 2
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))  # no terminal
    assert "needs --yes" in ching("webhooks", "delete", str(endpoint.id)).usage_error()
    assert ching("webhooks", "delete", str(endpoint.id), "--yes").code == 0
    assert live.call(lambda f: f.webhook_endpoints()) == []


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["documents"], "the following arguments are required: ACTION"),
        (["documents", "get"], "DOC_ID"),
        (["documents", "download"], "DOC_ID"),
        (["webhooks", "create", "--url", URL], "--events"),
        (["webhooks", "create", "--events", "*"], "--url"),
        (["webhooks", "create", "--url", URL, "--events", " , "], "at least one event type"),
        (["webhooks", "delete", "abc"], "whole number"),
        (["webhooks", "delete"], "ID"),
    ],
)
def test_usage_errors_exit_2_with_one_line(ching: Ching, argv: list[str], message: str) -> None:
    assert message in ching(*argv).usage_error()


def test_a_url_the_sdk_refuses_exits_2_and_sends_nothing(
    ching: Ching, with_api_key: RemoteFake
) -> None:
    ran = ching("webhooks", "create", "--url", "shop/hooks", "--events", "*")
    assert ran.code == 2
    assert ran.err_lines == ["ching: error: url must be an absolute http(s) URL, got 'shop/hooks'"]
    assert with_api_key.call(lambda f: f.requests()) == []
