from __future__ import annotations

import os
from typing import BinaryIO

from .._download import pdf_sink
from .._listing import AsyncList
from .._models import Document
from .._retry import Resend
from .._validation import check_download_destination, check_id
from ._base import Resource

__all__ = ["Documents"]

DOCUMENTS_PATH = "/documents"


class Documents(Resource):
    """`/documents`: the tax documents (invoice-receipts, receipts) CHING
    issues for successful charges. Read-only: every call is a GET, retried
    after a transient failure.
    """

    def list(self) -> AsyncList[Document]:
        """The 100 newest documents, newest first (the API ignores filters).
        Awaitable and async-iterable."""
        return self._list(Document, DOCUMENTS_PATH, None)

    async def retrieve(self, id: str) -> Document:
        """The document `id` (`doc_...`; a charge's `document` field)."""
        return await self._call(Document, "GET", DOCUMENTS_PATH + "/" + check_id("id", id))

    async def download_pdf(self, id: str, destination: str | os.PathLike[str] | BinaryIO) -> int:
        """Download the document's PDF to `destination`; returns its size in bytes.

        `destination` is a path (str or `pathlib.Path`, in an existing
        directory; an existing file is replaced) or a binary file object open
        for writing. The body is streamed, never held whole, and refused
        (`ResponseDecodeError`, nothing written) when it does not start with
        `%PDF-` or exceeds the Client's `max_download_bytes`.

        Nothing partial is ever left: a path gets a temporary file beside it
        (`.NAME.XXXX.part`, readable by you only) that is fsynced and renamed
        over it once complete, and removed on any failure; a file object
        gets the PDF only once it is complete and checked. Retried like any
        GET; a retry starts the body over.

        The request asks for a PDF (JSON for an error). A redirect (301, 302,
        303, 307, 308; to the file host) is followed, at most 5 in a row and
        to https only, with the API key only while it stays on the base
        URL's origin; one that cannot be followed is a `RedirectError`.
        """
        path = DOCUMENTS_PATH + "/" + check_id("id", id) + "/pdf"
        target = check_download_destination("destination", destination)
        async with pdf_sink(target, self._requester.max_download_bytes) as sink:
            response = await self._requester.request("GET", path, retry=Resend.SAFE, sink=sink)
            return await sink.commit(response)
