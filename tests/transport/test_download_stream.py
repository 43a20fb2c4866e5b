"""The download seam: `Request.sink`. The aiohttp transport streams a 2xx body
into it chunk by chunk and never holds it whole; other statuses are read as
usual; the limit and the sink's own refusals end the attempt."""

from __future__ import annotations

import tracemalloc
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

import ching_async
from ching_async import _aiohttp
from ching_async._aiohttp import AiohttpTransport
from ching_async._transport import SinkFeed, write_to_sink
from tests._support.loopback import serving

KEY = "ck_test_" + "ab" * 32
CHUNK = 64 * 1024
BIG = 24 * 1024 * 1024  # a 24 MiB "PDF", 16 times the chunk the transport reads at most


class RecordingSink:
    """Counts what it gets; keeps only the first bytes."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.starts = 0
        self.chunks: list[int] = []
        self.head = b""

    def start(self) -> None:
        self.starts += 1
        self.chunks = []
        self.head = b""

    def write(self, chunk: bytes) -> None:
        self.chunks.append(len(chunk))
        if not self.head:
            self.head = bytes(chunk[:8])


async def pdf_stream(request: web.Request) -> web.StreamResponse:
    """A BIG-byte PDF, written piece by piece: the server holds one piece."""
    response = web.StreamResponse(headers={"Content-Type": "application/pdf"})
    response.content_length = BIG
    await response.prepare(request)
    piece = b"%PDF-1.4" + b"\0" * (CHUNK - 8)
    await response.write(piece)
    filler = b"\0" * CHUNK
    for _ in range(BIG // CHUNK - 1):
        await response.write(filler)
    await response.write_eof()
    return response


async def json_error(request: web.Request) -> web.Response:
    return web.json_response(
        {"success": False, "error": {"status": 404, "code": "NOT_FOUND", "message": "no"}},
        status=404,
    )


@pytest.fixture
async def server() -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_get("/ching/v1/documents/doc_big/pdf", pdf_stream)
    app.router.add_get("/ching/v1/documents/doc_none/pdf", json_error)
    async with serving(app) as url:
        yield url + "/ching/v1"


async def download(base_url: str, document: str, sink: RecordingSink) -> ching_async.Response:
    """One attempt of a download through a new AiohttpTransport."""
    request = ching_async.Request(
        method="GET",
        path=f"/documents/{document}/pdf",
        base_url=base_url,
        headers={"Authorization": "Bearer " + KEY},
        sink=sink,
    )
    transport = AiohttpTransport()
    try:
        return await transport.handle(request)
    finally:
        await transport.aclose()


async def test_the_transport_streams_a_2xx_body_in_chunks(server: str) -> None:
    sink = RecordingSink(limit=BIG)
    response = await download(server, "doc_big", sink)
    assert (response.status, response.body, response.streamed) == (200, b"", True)
    assert sink.starts == 1
    assert sum(sink.chunks) == BIG
    assert max(sink.chunks) <= _aiohttp._READ_CHUNK  # never more than one chunk at a time
    assert sink.head == b"%PDF-1.4"


async def test_an_error_answer_is_read_as_usual(server: str) -> None:
    sink = RecordingSink(limit=BIG)
    response = await download(server, "doc_none", sink)
    assert (response.status, response.streamed, sink.starts) == (404, False, 0)
    assert b"NOT_FOUND" in response.body


async def test_the_limit_ends_the_attempt_before_the_sink_starts(server: str) -> None:
    sink = RecordingSink(limit=BIG - 1)
    with pytest.raises(ching_async.ResponseDecodeError, match="max_download_bytes"):
        await download(server, "doc_big", sink)
    assert sink.starts == 0  # Content-Length said it: nothing was read


async def test_a_big_download_is_never_held_whole(server: str, tmp_path: Path) -> None:
    """24 MiB through the Client to a file, with Python's allocations traced:
    the peak stays a small fraction of the body (the body whole would be 24 MiB)."""
    async with ching_async.Client(KEY, base_url=server) as client:
        with pytest.raises(ching_async.NotFoundError):  # warm up: the pool, the decoder
            await client.documents.download_pdf("doc_none", tmp_path / "warm.pdf")
        tracemalloc.start()
        try:
            size = await client.documents.download_pdf("doc_big", tmp_path / "big.pdf")
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert size == BIG == (tmp_path / "big.pdf").stat().st_size
    assert peak < 2 * 1024 * 1024, f"peak {peak} bytes"


def test_write_to_sink_feeds_a_whole_body_in_chunks() -> None:
    body = b"%PDF-" + b"x" * (3 * CHUNK)
    sink = RecordingSink(limit=len(body))
    request = ching_async.Request(method="GET", path="/d", base_url="http://x", sink=sink)
    response = ching_async.Response(200, {}, body, request)
    streamed = write_to_sink(response)
    assert (streamed.body, streamed.streamed) == (b"", True)
    assert sink.chunks == [CHUNK, CHUNK, CHUNK, 5]
    assert write_to_sink(streamed) is streamed  # written once
    failure = ching_async.Response(500, {}, b"{}", request)
    assert write_to_sink(failure) is failure


def test_a_sink_error_gets_the_request_context() -> None:
    class Refusing(RecordingSink):
        def write(self, chunk: bytes) -> None:
            raise ching_async.ResponseDecodeError("not what was asked for", status=200)

    sink = Refusing(limit=10)
    request = ching_async.Request(method="GET", path="/d", base_url="http://x", sink=sink)
    feed = SinkFeed(request, sink, 200, None)
    with pytest.raises(ching_async.ResponseDecodeError) as caught:
        feed.feed(b"abc")
    assert (caught.value.method, caught.value.path) == ("GET", "/d")
    with pytest.raises(ching_async.ResponseDecodeError, match="max_download_bytes"):
        SinkFeed(request, sink, 200, 11)
