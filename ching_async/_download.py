"""Where a downloaded PDF goes: the sinks of `documents.download_pdf`.

The transport hands the body over in chunks (`BodySink`, `_messages`); these
sinks check that it is a PDF as it arrives, and never leave a partial file:

- `PathSink` writes a temporary file beside the destination (`.NAME.XXXX.part`),
  and only a complete, checked body is fsynced and renamed over the
  destination (`os.replace`, atomic); any failure removes the temporary file.
- `StreamSink` spools the body (in memory up to 1 MiB, then in an anonymous
  temporary file) and copies it to the caller's file object only once it is
  complete and checked: a failed or retried attempt never reaches it.

A retry starts the body over (`start`). `async with pdf_sink(...) as sink:`
around the request, then `await sink.commit(response)`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import IO, BinaryIO

from ._errors import ResponseDecodeError
from ._messages import Response
from ._protocol import decode_envelope
from ._secrets import attach_context

__all__ = ["PDF_ACCEPT", "PDF_MAGIC", "PathSink", "PdfSink", "StreamSink", "pdf_sink"]

PDF_MAGIC = b"%PDF-"
# What a download asks for (RFC 9110, 12.5.1): the PDF first, JSON for the
# API's errors, then anything (q=0.1): the PDF may come labelled otherwise
# (application/octet-stream from a file host), and its body is checked for
# PDF_MAGIC whatever its type, so a strict server never needs to answer 406.
PDF_ACCEPT = {"Accept": "application/pdf, application/json;q=0.9, */*;q=0.1"}
_SPOOL_BYTES = 1024 * 1024
_COPY_CHUNK = 64 * 1024


class PdfSink:
    """What both sinks share: the limit, the byte count and the PDF check.
    Subclasses say where the bytes go (`_out`) and how they land (`commit`)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.size = 0
        self._head = b""

    def _out(self) -> IO[bytes]:
        raise NotImplementedError

    def start(self) -> None:
        out = self._out()
        out.seek(0)
        out.truncate()
        self.size = 0
        self._head = b""

    def write(self, chunk: bytes) -> None:
        if len(self._head) < len(PDF_MAGIC):
            self._head += chunk[: len(PDF_MAGIC) - len(self._head)]
            if not PDF_MAGIC.startswith(self._head):
                raise ResponseDecodeError(self._not_a_pdf(), status=200)
        self._out().write(chunk)
        self.size += len(chunk)

    def _check_complete(self, response: Response) -> None:
        """A failure's typed error (its JSON body was read, not streamed), or
        a body that ended before it could be told a PDF (empty, or shorter
        than the magic), refused with the response's context."""
        if not response.streamed:
            decode_envelope(response)  # raises the error a non-2xx answer means
        if self._head != PDF_MAGIC:
            error = ResponseDecodeError(self._not_a_pdf(), status=response.status)
            raise attach_context(
                error, response.request, attempts=response.attempts, request_id=response.request_id
            )

    def _not_a_pdf(self) -> str:
        if not self._head:
            return "the download is empty, not a PDF; nothing was written"
        return f"the download is not a PDF (it starts {self._head!r}); nothing was written"

    async def commit(self, response: Response) -> int:
        """Land the checked body at its destination; returns its size in bytes."""
        raise NotImplementedError

    def discard(self) -> None:
        """Drop whatever was written (the call failed)."""
        raise NotImplementedError


class PathSink(PdfSink):
    """A temporary file beside `path`, renamed over it once complete."""

    def __init__(self, path: Path, limit: int) -> None:
        super().__init__(limit)
        self._path = path
        fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
        self._temp = Path(temp)
        self._file: BinaryIO | None = os.fdopen(fd, "wb")

    def _out(self) -> IO[bytes]:
        assert self._file is not None
        return self._file

    async def commit(self, response: Response) -> int:
        self._check_complete(response)
        file, self._file = self._file, None  # the thread owns it from here
        assert file is not None
        # fsync can take a while on a busy disk: off the event loop. If the
        # call is cancelled meanwhile, the file lands complete or not at all.
        await asyncio.to_thread(_land, file, self._temp, self._path)
        return self.size

    def discard(self) -> None:
        file, self._file = self._file, None
        if file is not None:
            file.close()
        with contextlib.suppress(FileNotFoundError):
            self._temp.unlink()


def _land(file: BinaryIO, temp: Path, path: Path) -> None:
    """Flush and fsync the temporary file, rename it over `path`, and fsync
    the directory so the rename survives a crash (where the OS allows it)."""
    with file:
        file.flush()
        os.fsync(file.fileno())
    os.replace(temp, path)
    with contextlib.suppress(OSError):  # not every OS or file system opens a directory
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)


class StreamSink(PdfSink):
    """A spool, copied to the caller's file object once complete."""

    def __init__(self, destination: BinaryIO, limit: int) -> None:
        super().__init__(limit)
        self._destination = destination
        # Closed by commit or discard (the sink's own `async with`).
        self._spool: IO[bytes] | None = tempfile.SpooledTemporaryFile(  # noqa: SIM115
            max_size=_SPOOL_BYTES
        )

    def _out(self) -> IO[bytes]:
        assert self._spool is not None
        return self._spool

    async def commit(self, response: Response) -> int:
        self._check_complete(response)
        spool = self._out()
        spool.seek(0)
        while chunk := spool.read(_COPY_CHUNK):
            self._destination.write(chunk)
        flush = getattr(self._destination, "flush", None)
        if callable(flush):
            flush()
        self.discard()
        return self.size

    def discard(self) -> None:
        spool, self._spool = self._spool, None
        if spool is not None:
            spool.close()


@contextlib.asynccontextmanager
async def pdf_sink(destination: Path | BinaryIO, limit: int) -> AsyncIterator[PdfSink]:
    """The sink for a checked destination (see `check_download_destination`),
    discarded when the block fails (cancellation too)."""
    sink = (
        PathSink(destination, limit)
        if isinstance(destination, Path)
        else StreamSink(destination, limit)
    )
    try:
        yield sink
    except BaseException:
        sink.discard()
        raise
