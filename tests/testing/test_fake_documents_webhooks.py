"""FakeChing's documents (a real PDF per captured charge) and its webhook
endpoint API (numeric ids, the secret once, mode-scoped, delivery targets)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from ching_async.testing import FakeChing
from ching_async.testing._pdf import minimal_pdf
from ching_async.webhooks import construct_event

from .conftest import Api, Seeded, Sink

DOCUMENT_FIELDS = [
    "id", "object", "type", "status", "number", "amount", "currency", "vat_rate", "vat_amount",
    "allocation_number", "pdf_url", "sent_to_customer", "metadata", "livemode", "issued_at",
    "created",
]  # fmt: skip


@pytest.fixture
def fake_ching_options() -> dict[str, Any]:
    return {"seed": 3, "webhook_delivery": "manual"}


def check_pdf(pdf: bytes) -> None:
    """The structure a reader relies on: the header, every xref entry pointing
    at its object, startxref at the xref, and the end marker."""
    assert pdf.startswith(b"%PDF-1.4\n")
    assert pdf.endswith(b"%%EOF\n")
    startxref = int(pdf.rsplit(b"startxref\n", 1)[1].split(b"\n")[0])
    assert pdf[startxref:].startswith(b"xref\n0 ")
    table = pdf[startxref:].split(b"\n", 2)[2]
    count = int(pdf[startxref:].split(b"\n")[1].split()[1])
    entries = [table[i * 20 : (i + 1) * 20] for i in range(count)]
    assert entries[0] == b"0000000000 65535 f\r\n"
    for number, entry in enumerate(entries[1:], start=1):
        offset = int(entry[:10])
        assert entry.endswith(b" 00000 n\r\n")
        assert pdf[offset:].startswith(b"%d 0 obj\n" % number)
    stream = re.search(rb"<< /Length (\d+) >>\nstream\n", pdf)
    assert stream is not None
    body = pdf[stream.end() : stream.end() + int(stream.group(1))]
    assert pdf[stream.end() + len(body) :].startswith(b"endstream")


def test_minimal_pdf_escapes_text_and_keeps_its_offsets() -> None:
    pdf = minimal_pdf(["a (b) \\ c", "שלום"], title="t(")
    check_pdf(pdf)
    assert b"(a \\(b\\) \\\\ c) Tj" in pdf
    assert b"(????) Tj" in pdf  # ASCII only: Helvetica has no Hebrew
    assert b"/Title (t\\()" in pdf


async def test_a_captured_charge_has_a_document_and_a_pdf(
    fake: FakeChing, api: Api, seeded: Seeded
) -> None:
    status, answer = await api.post("/charges", seeded.charge_body(amount=11800))
    assert status == 200
    charge = answer["data"]
    status, answer = await api.get(f"/documents/{charge['document']}")
    assert status == 200
    document = answer["data"]
    assert list(document) == DOCUMENT_FIELDS
    assert document["id"].startswith("doc_")
    assert (document["amount"], document["vat_amount"], document["vat_rate"]) == (11800, 1800, 0.18)
    assert (document["type"], document["status"], document["number"]) == (
        "tax_invoice_receipt",
        "issued",
        "1001",
    )
    assert document["issued_at"] == charge["captured_at"]
    status, answer = await api.get("/documents", params={"customer": seeded.customer})
    assert (status, answer["data"]) == (200, [document])  # query parameters are ignored
    async with api.session.get(api.url + f"/documents/{document['id']}/pdf") as resp:
        assert resp.status == 200
        assert resp.content_type == "application/pdf"
        pdf = await resp.read()
    check_pdf(pdf)
    assert pdf == fake.document(document["id"]).pdf()
    assert b"Tax invoice / receipt 1001" in pdf
    assert b"118.00 ILS" in pdf


async def test_declines_and_holds_issue_no_document(fake: FakeChing, seeded: Seeded) -> None:
    declining = fake.add_payment_method(seeded.customer, declines=True)
    fake.add_charge(seeded.customer, declining.id)
    held = fake.add_charge(seeded.customer, seeded.card, capture_method="manual")
    assert fake.documents() == []
    assert held.document is None


async def test_documents_are_mode_scoped_lists(fake: FakeChing, api: Api) -> None:
    customer = fake.add_customer(name="Live", livemode=True)
    card = fake.add_payment_method(customer.id, livemode=True)
    fake.add_charge(customer.id, card.id, livemode=True)
    assert await api.get("/documents") == (200, {"success": True, "data": []})
    status, payload = await api.get("/documents/doc_nothing/pdf")
    assert (status, payload["error"]["code"]) == (404, "NOT_FOUND")


async def test_an_endpoint_made_over_the_api_gets_events_signed_with_its_secret(
    fake: FakeChing, api: Api, seeded: Seeded, sink: Sink
) -> None:
    url = sink.url
    status, answer = await api.post("/webhooks", {"url": url, "events": ["charge.succeeded"]})
    assert status == 200
    created = answer["data"]
    assert set(created) == {"url", "events", "secret", "active", "livemode"}  # no id
    status, _ = await api.post("/charges", seeded.charge_body())
    assert status == 200
    deliveries = await fake.deliver_pending()
    assert [d.ok for d in deliveries] == [True]
    [(headers, body)] = sink.received
    event = construct_event(body, headers["Ching-Signature"], created["secret"])
    assert event.type == "charge.succeeded"
    status, answer = await api.get("/webhooks")
    assert status == 200
    listed = answer["data"]
    assert listed == [
        {
            "id": 1,
            "url": url,
            "events": ["charge.succeeded"],
            "active": True,
            "livemode": False,
            "created": listed[0]["created"],
        }
    ]


async def test_deleting_an_endpoint_stops_its_deliveries_at_once(
    fake: FakeChing, api: Api, seeded: Seeded, sink: Sink
) -> None:
    await api.post("/webhooks", {"url": sink.url, "events": ["*"]})
    fake.add_charge(seeded.customer, seeded.card)  # queued, not yet delivered
    assert fake.pending_webhooks() == 1
    async with api.session.delete(api.url + "/webhooks/1") as resp:
        assert (resp.status, await resp.json()) == (200, {"success": True})
    assert fake.pending_webhooks() == 0
    assert await fake.deliver_pending() == []
    assert sink.received == []
    status, payload = await api.call("DELETE", "/webhooks/1")
    assert (status, payload["error"]["code"]) == (404, "NOT_FOUND")
    status, payload = await api.call("DELETE", "/webhooks/abc")
    assert (status, payload["error"]["code"]) == (404, "NOT_FOUND")


async def test_seeded_endpoints_are_listed_and_removed_by_url(fake: FakeChing, api: Api) -> None:
    secret = fake.add_webhook_endpoint("https://shop.example/h", events=["refund.created"])
    fake.add_webhook_endpoint("https://shop.example/h", livemode=True)
    [test, live] = fake.webhook_endpoints()
    assert (test.id, test.secret, test.events, live.id, live.livemode) == (
        1,
        secret,
        ["refund.created"],
        2,
        True,
    )
    _, answer = await api.get("/webhooks")
    assert [e["id"] for e in answer["data"]] == [1]
    fake.remove_webhook_endpoint("https://shop.example/h")
    assert fake.webhook_endpoints() == []
    await api.post("/webhooks", {"url": "https://shop.example/h", "events": ["*"]})
    assert [e.id for e in fake.webhook_endpoints()] == [3]  # ids are never reused
