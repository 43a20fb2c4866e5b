"""The fake's file host: where ``GET /documents/:id/pdf`` redirects when told to
(``FakeChing.redirect_pdfs``), as the real API may send a client on to a
document's ``pdf_url`` (``https://files.ching.co.il/doc/<id>.pdf``; the API
reference documents no content type, redirect or size for the PDF route).

It is another origin than the API: the fake's host, on a port of its own
(``FakeChing.file_host_url``). It serves ``GET /doc/{id}.pdf`` without a key, as
a file URL is served, and refuses any request that carries one of the fake's
API keys in any header (403 ``API_KEY_SENT_TO_FILE_HOST``), so that a client
that takes its key across origins fails loudly. Its requests go to the fake's
log (route ``/doc/{id}.pdf``); status-like faults and ``Fault.reset_before``
added for that route apply there too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiohttp import web

from ._app import _disconnect, _to_response
from ._auth import KeyRing
from ._envelope import FakeApiError, Reply
from ._faults import Fault, FaultKind, FaultSet
from ._log import RequestRecord
from ._routes import PDF_CONTENT_TYPE

if TYPE_CHECKING:
    from ._state import Ledger

__all__ = ["FILE_ROUTE", "REDIRECT_STATUSES", "FileHost"]

FILE_ROUTE = "/doc/{id}.pdf"
REDIRECT_STATUSES = (301, 302, 303, 307, 308)


@dataclass(frozen=True, slots=True)
class _Redirects:
    status: int
    to: str  # "files", "api", or a URL template with {id}
    hops: int


class FileHost:
    """The file host's server and the PDF route's redirects (see the module docstring)."""

    def __init__(
        self, ledger: Ledger, keys: KeyRing, faults: FaultSet, log: list[RequestRecord] | None
    ) -> None:
        self._ledger = ledger
        self._keys = keys
        self._faults = faults
        self._log = log
        self._redirects: _Redirects | None = None
        self._runner: web.AppRunner | None = None
        self._url: str | None = None

    @property
    def url(self) -> str:
        if self._url is None:
            raise RuntimeError("FakeChing is not running; use `async with FakeChing()`")
        return self._url

    def configure(self, status: int | None, to: str, hops: int) -> None:
        """See ``FakeChing.redirect_pdfs``."""
        if status is None:
            self._redirects = None
            return
        if status not in REDIRECT_STATUSES or isinstance(status, bool):
            raise ValueError(f"status must be one of {REDIRECT_STATUSES} or None, got {status!r}")
        if type(hops) is not int or hops < 1:
            raise ValueError(f"hops must be an int >= 1, got {hops!r}")
        if not isinstance(to, str) or not to:
            raise TypeError(f"to must be 'files', 'api' or a URL, got {to!r}")
        self._redirects = _Redirects(status, to, hops)

    def redirect(self, document: str, hop: str | None) -> Reply | None:
        """How the PDF route answers request number ``hop`` (its ``?hop=``;
        none for the first) for ``document``: a redirect, or None for the PDF."""
        redirects = self._redirects
        if redirects is None:
            return None
        done = int(hop) if hop is not None and hop.isdigit() else 0
        if redirects.to == "api" and done >= redirects.hops:
            return None
        if redirects.to == "api" or done + 1 < redirects.hops:
            location = f"pdf?hop={done + 1}"  # relative: this route, on the API's origin
        elif redirects.to == "files":
            location = self.url + FILE_ROUTE.format(id=document)
        else:
            location = redirects.to.replace("{id}", document)
        return Reply(
            redirects.status, b"", content_type="text/plain", headers={"Location": location}
        )

    # -- the server -----------------------------------------------------------------

    async def start(self, host: str, url_host: str) -> None:
        app = web.Application()
        app.router.add_get(FILE_ROUTE, self.handle)
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.5)
        await runner.setup()
        try:
            await web.TCPSite(runner, host, 0).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._url = f"http://{url_host}:{runner.addresses[0][1]}"

    async def close(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        fault = self._faults.draw(request.method, FILE_ROUTE, request.path)
        if fault is not None and fault.kind is FaultKind.RESET_BEFORE:
            self._record(request, fault, None)
            return _disconnect(request, reset=True)
        if fault is not None and not fault.processes_request:
            reply = fault.reply()
        else:
            reply = self._serve(request)
        self._record(request, fault, reply.status)
        return _to_response(reply)

    def _serve(self, request: web.Request) -> Reply:
        if self._keys.carried_by(request.headers.values()):
            message = "The file host got the API key: it must never leave the API's origin"
            return FakeApiError(403, "API_KEY_SENT_TO_FILE_HOST", message).reply()
        document = self._ledger.documents.get(request.match_info["id"])
        if document is None:
            return Reply(404, b"Not Found", content_type="text/plain")
        return Reply(200, document.pdf(), content_type=PDF_CONTENT_TYPE)

    def _record(self, request: web.Request, fault: Fault | None, status: int | None) -> None:
        if self._log is None:
            return
        self._log.append(
            RequestRecord(
                method=request.method,
                path=request.path,
                route=FILE_ROUTE,
                query=request.query,
                headers=request.headers,
                body=None,
                raw_body=b"",
                fault=fault,
                status=status,
                at=self._ledger.now(),
            )
        )
