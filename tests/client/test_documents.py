"""documents.*: list, retrieve, download_pdf (streamed, capped, checked, never partial)."""

from __future__ import annotations

import asyncio
import io
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import ching_async
from ching_async import Document, DocumentStatus, DocumentType
from ching_async.testing import FakeChing, Fault, MockTransport, envelope_response, error_response
from tests._support.fake_client import client_for, sent
from tests._support.rawserver import RawConnection, RawRequest, RawServer, client_on

# The object as DOCS:documents lists its fields (REFERENCE.md section 14).
DOCUMENT = {
    "id": "doc_8Lx2p0QmRk1a",
    "object": "document",
    "type": "tax_invoice_receipt",
    "status": "issued",
    "number": "1042",
    "amount": 9900,
    "currency": "ils",
    "vat_rate": 0.18,
    "vat_amount": 1510,
    "allocation_number": "REC-1042",
    "pdf_url": "https://files.ching.co.il/doc/doc_8Lx2p0QmRk1a.pdf",
    "sent_to_customer": True,
    "metadata": {"order": "42"},
    "livemode": False,
    "issued_at": "2026-05-10T08:30:00.000Z",
    "created": "2026-05-10T08:30:00.000Z",
}
PDF = b"%PDF-1.4\n" + b"x" * 200_000 + b"\n%%EOF\n"
KEY = "ck_test_" + "ab" * 32
PDF_TYPE = "Content-Type: application/pdf"


@pytest.fixture
async def ching(fake: FakeChing) -> AsyncIterator[ching_async.Client]:
    async with client_for(fake) as client:
        yield client


def paid_charge(fake: FakeChing, amount: int = 9900) -> str:
    """A succeeded charge's document id (the fake issues one per capture)."""
    customer = fake.add_customer(name="Tal Levi", email="tal@example.com")
    charge = fake.add_charge(customer.id, amount=amount)
    assert charge.document is not None
    return charge.document


def leftovers(directory: Path) -> list[str]:
    return sorted(os.listdir(directory))


# ------------------------------------------------------------- list, retrieve
async def test_list_and_retrieve_send_the_documented_requests(
    fake: FakeChing, ching: ching_async.Client
) -> None:
    first, second = paid_charge(fake, 9900), paid_charge(fake, 4990)
    listed = await ching.documents.list()
    assert [d.id for d in listed] == [second, first]  # newest first
    [request] = sent(fake, "GET", "/documents")
    assert (request.path, list(request.query.items()), request.raw_body) == ("/documents", [], b"")
    document = await ching.documents.retrieve(first)
    assert document == listed[1]
    [request] = sent(fake, "GET", "/documents/{id}")
    assert request.path == f"/documents/{first}"
    assert document.type is DocumentType.TAX_INVOICE_RECEIPT
    assert document.status is DocumentStatus.ISSUED
    assert (document.amount, document.currency, document.vat_rate) == (9900, "ils", 0.18)
    assert document.vat_amount == round(9900 * 0.18 / 1.18)
    assert document.pdf_url == f"https://files.ching.co.il/doc/{first}.pdf"
    assert document.sent_to_customer is True
    assert document.request_info is not None
    assert document.request_info.path == f"/documents/{first}"
    assert [d.id async for d in ching.documents.list()] == [second, first]


async def test_a_manual_capture_gets_its_document_at_capture(
    fake: FakeChing, ching: ching_async.Client
) -> None:
    customer = fake.add_customer(name="Noa")
    held = fake.add_charge(customer.id, amount=5000, capture_method="manual")
    assert (held.document, fake.documents()) == (None, [])
    captured = await ching.charges.capture(held.id, amount=4000)
    assert captured.document is not None
    document = await ching.documents.retrieve(captured.document)
    assert document.amount == 4000


def test_the_reference_example_decodes() -> None:
    transport = MockTransport(lambda request: envelope_response(request, DOCUMENT))

    async def main() -> Document:
        async with ching_async.Client(KEY, transport=transport) as client:
            return await client.documents.retrieve(DOCUMENT["id"])  # type: ignore[arg-type]

    document = asyncio.run(main())
    assert document.raw == DOCUMENT
    assert document.to_dict() == DOCUMENT
    assert document.issued_at == datetime(2026, 5, 10, 8, 30, tzinfo=UTC)
    assert (document.number, document.allocation_number) == ("1042", "REC-1042")


async def test_unknown_types_and_fields_are_tolerated(fake: FakeChing) -> None:
    odd = {**DOCUMENT, "type": "credit_note", "status": "voided", "brand_new": {"x": 1}}
    transport = MockTransport(lambda request: envelope_response(request, [odd]))
    async with ching_async.Client(KEY, transport=transport) as client:
        [document] = await client.documents.list()
    assert (document.type, document.status) == ("credit_note", "voided")
    assert document.raw["brand_new"] == {"x": 1}


@pytest.mark.parametrize(
    ("status", "code", "error"),
    [
        (404, "NOT_FOUND", ching_async.NotFoundError),
        (401, "WRONG_CREDENTIALS", ching_async.AuthenticationError),
        (403, "NO_ACCESS", ching_async.PermissionDeniedError),
    ],
)
async def test_error_codes_map_to_typed_errors(
    status: int, code: str, error: type[ching_async.APIError], tmp_path: Path
) -> None:
    transport = MockTransport(lambda request: error_response(request, status, code=code))
    async with ching_async.Client(KEY, transport=transport) as client:
        for call in (
            client.documents.retrieve("doc_1"),
            client.documents.list(),
            client.documents.download_pdf("doc_1", tmp_path / "a.pdf"),
        ):
            with pytest.raises(error) as caught:
                await call
            assert caught.value.code == code
    assert leftovers(tmp_path) == []


async def test_unknown_document_is_not_found_on_the_fake(
    fake: FakeChing, ching: ching_async.Client, tmp_path: Path
) -> None:
    with pytest.raises(ching_async.NotFoundError, match="No such document"):
        await ching.documents.retrieve("doc_nothing")
    with pytest.raises(ching_async.NotFoundError):
        await ching.documents.download_pdf("doc_nothing", tmp_path / "x.pdf")
    assert leftovers(tmp_path) == []


# ------------------------------------------------------------------ download
async def test_download_to_a_path_writes_the_pdf_the_server_serves(
    fake: FakeChing, ching: ching_async.Client, tmp_path: Path
) -> None:
    document = paid_charge(fake)
    target = tmp_path / "invoice.pdf"
    size = await ching.documents.download_pdf(document, target)
    [request] = sent(fake, "GET", "/documents/{id}/pdf")
    assert (request.path, request.raw_body) == (f"/documents/{document}/pdf", b"")
    assert target.read_bytes() == fake.document(document).pdf()
    assert size == target.stat().st_size
    assert target.read_bytes().startswith(b"%PDF-1.4")
    assert leftovers(tmp_path) == ["invoice.pdf"]  # no temporary file left beside it
    assert target.stat().st_mode & 0o777 == 0o600  # readable by its owner only
    # A str path works too, and an existing file is replaced whole.
    target.write_bytes(b"old" * 100_000)
    await ching.documents.download_pdf(document, str(target))
    assert target.read_bytes() == fake.document(document).pdf()


async def test_download_to_a_file_object(
    fake: FakeChing, ching: ching_async.Client, tmp_path: Path
) -> None:
    document = paid_charge(fake)
    buffer = io.BytesIO()
    size = await ching.documents.download_pdf(document, buffer)
    assert buffer.getvalue() == fake.document(document).pdf()
    assert size == len(buffer.getvalue())
    with (tmp_path / "out.pdf").open("wb") as handle:
        await ching.documents.download_pdf(document, handle)
    assert (tmp_path / "out.pdf").read_bytes() == buffer.getvalue()


@pytest.mark.parametrize(
    ("destination", "match"),
    [
        (42, "destination must be a path"),
        (b"/tmp/x.pdf", "destination must be a path"),
        (io.StringIO(), "binary mode"),
        ("", "empty path"),
        ("/no/such/dir/x.pdf", "does not exist"),
    ],
)
async def test_bad_destinations_are_refused_before_sending(
    fake: FakeChing, ching: ching_async.Client, destination: Any, match: str
) -> None:
    with pytest.raises(ching_async.InvalidParameterError, match=match):
        await ching.documents.download_pdf("doc_1", destination)
    assert fake.requests() == []


async def test_a_directory_or_a_read_only_file_is_refused(
    fake: FakeChing, ching: ching_async.Client, tmp_path: Path
) -> None:
    with pytest.raises(ching_async.InvalidParameterError, match="is a directory"):
        await ching.documents.download_pdf("doc_1", tmp_path)
    (tmp_path / "r.pdf").write_bytes(b"")
    with (
        (tmp_path / "r.pdf").open("rb") as handle,
        pytest.raises(ching_async.InvalidParameterError, match="not open for writing"),
    ):
        await ching.documents.download_pdf("doc_1", handle)
    closed = io.BytesIO()
    closed.close()
    with pytest.raises(ching_async.InvalidParameterError, match="closed"):
        await ching.documents.download_pdf("doc_1", closed)
    with pytest.raises(ching_async.InvalidParameterError, match="id"):
        await ching.documents.download_pdf("doc 1", tmp_path / "x.pdf")
    assert fake.requests() == []


def pdf_answer(body: bytes, content_type: str = "application/pdf") -> Any:
    def answer(request: ching_async.Request) -> ching_async.Response:
        headers = {"Content-Type": content_type}
        return ching_async.Response(200, headers, body, request, attempts=request.attempt)

    return answer


@pytest.mark.parametrize(
    ("body", "match"),
    [
        (b'{"success": true, "data": {"url": "https://x"}}', "not a PDF"),
        (b"<html>502</html>", "not a PDF"),
        (b"", "empty, not a PDF"),
        (b"%PD", "not a PDF"),
    ],
)
async def test_a_body_that_is_not_a_pdf_writes_nothing(
    body: bytes, match: str, tmp_path: Path
) -> None:
    transport = MockTransport(pdf_answer(body, "application/json"))
    async with ching_async.Client(KEY, transport=transport) as client:
        with pytest.raises(ching_async.ResponseDecodeError, match=match) as caught:
            await client.documents.download_pdf("doc_1", tmp_path / "x.pdf")
        buffer = io.BytesIO()
        with pytest.raises(ching_async.ResponseDecodeError, match=match):
            await client.documents.download_pdf("doc_1", buffer)
    assert (caught.value.method, caught.value.path) == ("GET", "/documents/doc_1/pdf")
    assert caught.value.outcome_unknown is False
    assert leftovers(tmp_path) == []
    assert buffer.getvalue() == b""
    assert len(transport.requests()) == 2  # refused, not retried


async def test_the_mock_transport_path_writes_the_whole_body(tmp_path: Path) -> None:
    """A transport that returns the whole body: the client writes it itself,
    under the same cap (here above max_response_bytes, which caps JSON only)."""
    transport = MockTransport(pdf_answer(PDF))
    async with ching_async.Client(
        KEY, transport=transport, max_response_bytes=1024, max_download_bytes=len(PDF)
    ) as client:
        assert await client.documents.download_pdf("doc_1", tmp_path / "a.pdf") == len(PDF)
        with pytest.raises(ching_async.ResponseDecodeError, match="max_response_bytes"):
            await client.documents.retrieve("doc_1")  # a JSON body of the same size is refused
    assert (tmp_path / "a.pdf").read_bytes() == PDF
    async with ching_async.Client(
        KEY, transport=transport, max_download_bytes=len(PDF) - 1
    ) as client:
        with pytest.raises(ching_async.ResponseDecodeError, match="max_download_bytes") as caught:
            await client.documents.download_pdf("doc_1", tmp_path / "b.pdf")
    assert type(caught.value) is ching_async.ResponseDecodeError  # a GET: never in doubt
    assert caught.value.outcome_unknown is False
    assert leftovers(tmp_path) == ["a.pdf"]


async def test_a_middleware_that_answers_with_a_whole_body_is_written_too(tmp_path: Path) -> None:
    async def cached(request: ching_async.Request, call_next: ching_async.Handler) -> Any:
        return pdf_answer(PDF)(request)

    transport = MockTransport(lambda request: error_response(request, 500))
    async with ching_async.Client(KEY, transport=transport, middlewares=[cached]) as client:
        await client.documents.download_pdf("doc_1", tmp_path / "a.pdf")
    assert (tmp_path / "a.pdf").read_bytes() == PDF
    assert transport.requests() == []


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "1000"])
def test_max_download_bytes_is_validated(bad: object) -> None:
    with pytest.raises(ching_async.InvalidParameterError, match="max_download_bytes"):
        ching_async.Client(KEY, max_download_bytes=bad)  # type: ignore[arg-type]


def test_max_download_bytes_defaults_to_32_mib() -> None:
    assert ching_async.Client(KEY).max_download_bytes == 32 * 1024 * 1024


async def test_download_is_retried_like_a_get(
    fake: FakeChing, ching: ching_async.Client, tmp_path: Path
) -> None:
    document = paid_charge(fake)
    fake.faults.add(Fault.status(503), method="GET", path="/documents/{id}/pdf", times=1)
    fake.faults.add(Fault.reset_before(), method="GET", path="/documents/{id}/pdf", times=1)
    await ching.documents.download_pdf(document, tmp_path / "a.pdf")
    assert len(sent(fake, "GET", "/documents/{id}/pdf")) == 3
    assert (tmp_path / "a.pdf").read_bytes() == fake.document(document).pdf()
    assert leftovers(tmp_path) == ["a.pdf"]


# ---------------------------------------------- over the wire: cut, too large
def truncating(after: int, *, times: int) -> Any:
    """A handler that promises PDF's length, sends `after` bytes and hangs up,
    `times` times; then it answers whole."""
    cut = 0

    async def handle(conn: RawConnection, request: RawRequest) -> None:
        nonlocal cut
        head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(PDF)}\r\n{PDF_TYPE}\r\n\r\n"
        if cut < times:
            cut += 1
            await conn.send(head.encode() + PDF[:after])
            conn.keep_alive = False  # the connection closes mid-body
            return
        await conn.send(head.encode() + PDF)

    return handle


@pytest.mark.parametrize("destination", ["path", "file object"])
async def test_a_cut_download_leaves_no_file_and_no_temporary_file(
    tmp_path: Path, destination: str
) -> None:
    buffer = io.BytesIO()
    target: Any = tmp_path / "a.pdf" if destination == "path" else buffer
    async with (
        RawServer(truncating(100_000, times=10)) as server,
        client_on(server, retry_policy=ching_async.RetryPolicy(instant=True), max_retries=2) as c,
    ):
        with pytest.raises(ching_async.APIConnectionError) as caught:
            await c.documents.download_pdf("doc_1", target)
    assert caught.value.attempts == 3  # retried like a GET, each attempt cut
    assert leftovers(tmp_path) == []
    assert buffer.getvalue() == b""


@pytest.mark.parametrize("destination", ["path", "file object"])
async def test_a_retry_after_a_cut_starts_the_body_over(tmp_path: Path, destination: str) -> None:
    buffer = io.BytesIO()
    target: Any = tmp_path / "a.pdf" if destination == "path" else buffer
    async with (
        RawServer(truncating(150_000, times=1)) as server,
        client_on(server, retry_policy=ching_async.RetryPolicy(instant=True)) as client,
    ):
        assert await client.documents.download_pdf("doc_1", target) == len(PDF)
    written = (tmp_path / "a.pdf").read_bytes() if destination == "path" else buffer.getvalue()
    assert written == PDF  # not the cut first attempt followed by the whole second one
    assert leftovers(tmp_path) == (["a.pdf"] if destination == "path" else [])


async def test_a_body_over_the_cap_is_refused_unread(tmp_path: Path) -> None:
    async def chunked(conn: RawConnection, request: RawRequest) -> None:
        # No Content-Length: the cap is found while reading.
        head = f"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n{PDF_TYPE}\r\n\r\n".encode()
        part = PDF[:65536]
        await conn.send(head + b"%x\r\n" % len(part) + part + b"\r\n")
        await conn.send(b"%x\r\n" % len(part) + part + b"\r\n0\r\n\r\n")

    for handler, match in ((truncating(0, times=0), "not read"), (chunked, "not read")):
        async with (
            RawServer(handler) as server,
            client_on(server, max_download_bytes=100_000) as client,
        ):
            with pytest.raises(ching_async.ResponseDecodeError, match="max_download_bytes") as err:
                await client.documents.download_pdf("doc_1", tmp_path / "a.pdf")
        assert match in str(err.value)
        assert type(err.value) is ching_async.ResponseDecodeError
        assert err.value.outcome_unknown is False
        assert len(server.requests) == 1  # not retried
        assert leftovers(tmp_path) == []


async def test_cancelling_a_download_leaves_nothing(tmp_path: Path) -> None:
    started = asyncio.Event()

    async def slow(conn: RawConnection, request: RawRequest) -> None:
        head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(PDF)}\r\n\r\n"
        await conn.send(head.encode() + PDF[:70_000])
        started.set()
        await asyncio.sleep(30)

    async with RawServer(slow) as server, client_on(server) as client:
        task = asyncio.create_task(client.documents.download_pdf("doc_1", tmp_path / "a.pdf"))
        await started.wait()
        await asyncio.sleep(0.05)
        assert len(leftovers(tmp_path)) == 1  # the temporary file, while it downloads
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert leftovers(tmp_path) == []
