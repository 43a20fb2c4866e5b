"""A download's attempt, at the bottom of the attempt chain: the Accept
header it sends, and the redirects it follows.

`GET /documents/:id/pdf` may answer with the PDF itself or with a redirect
to a file host (a document's `pdf_url` is on `https://files.ching.co.il`).
A transport never follows a redirect (the contract in `_transport.py`), so
the client does it here, one step above the transport and below auth and
logging, whichever transport sends:

- 301, 302, 303, 307 and 308 are followed (every hop a GET without a body),
  at most `MAX_REDIRECTS` in a row; the Location is resolved against the URL
  that answered (RFC 3986, section 5). Only to https, or to plain http on a
  loopback host when the client's own base URL is on one (FakeChing, a
  local proxy): anything else is a `RedirectError`.
- The API key goes only to the API's origin (the base URL's scheme, host
  and port): a hop to another origin is sent without the Authorization
  header, and no later hop gets it back. The key is kept aside for
  redaction only, so that a file host's error that echoes it is scrubbed.
- Every hop carries the attempt's sink: a 2xx body streams to the same
  destination under the same `max_download_bytes`, whichever hop answers.
- A hop gets what is left of the attempt's timeout, so that `timeout`
  still bounds a whole attempt, redirects included.

An answer that came through a redirect names the URL that answered as its
request (`https://host/path`, without the query, which may carry a file
host's signature): errors about it say where it came from.

Every other request passes through untouched (one function call).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable
from urllib.parse import SplitResult, quote, urljoin, urlsplit

from ._download import PDF_ACCEPT
from ._errors import APIConnectionError, APIError, APITimeoutError, RedirectError
from ._messages import Handler, Request, Response, credential_headers, without_credentials
from ._protocol import is_loopback
from ._secrets import attach_context

__all__ = ["MAX_REDIRECTS", "REDIRECT_STATUSES", "DownloadStep"]

logger = logging.getLogger("ching_async")

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# Browsers follow 20 and requests 30; a file download needs one, maybe two.
MAX_REDIRECTS = 5
_DEFAULT_PORTS = {"http": 80, "https": 443}
# What a URL may hold as is (RFC 3986 reserved and unreserved characters, and
# "%" of an escape already made); anything else in a Location (a space,
# non-ASCII text, as some servers send) is percent-encoded as UTF-8, as
# browsers do. Letters, digits and "_.-~" are always kept by `quote`.
_URL_CHARACTERS = ":/?#[]@!$&'()*+,;=%"


def _origin(parts: SplitResult) -> tuple[str, str, int | None]:
    """(scheme, host, port), the port made explicit: RFC 6454's origin."""
    scheme = parts.scheme.lower()
    return scheme, parts.hostname or "", parts.port or _DEFAULT_PORTS.get(scheme)


class DownloadStep:
    """The attempt chain's last step before the transport (see the module
    docstring). `base_url` is the client's: it names the API's origin."""

    def __init__(self, base_url: str) -> None:
        parts = urlsplit(base_url)
        self._origin = _origin(parts)
        # Plain http only where the API itself is on this machine.
        self._loopback = is_loopback(parts.hostname or "")

    def __call__(self, request: Request, call_next: Handler) -> Awaitable[Response]:
        if request.sink is None:
            return call_next(request)
        # The download's Accept replaces one a caller set (with_options), whatever its case.
        headers = {k: v for k, v in request.headers.items() if k.lower() != "accept"}
        return self._download(request.replace(headers={**headers, **PDF_ACCEPT}), call_next)

    async def _download(self, request: Request, call_next: Handler) -> Response:
        """One attempt: the request, then each redirect it answers with.

        A retry of a redirected download (a 5xx or a lost connection at any
        hop; the retry loop decides, as for any GET) starts over from the
        API's route, with the key, and follows the redirect it answers
        afresh: a file URL that has expired since is not asked again, and
        the sink starts the body over (`BodySink.start`)."""
        started = time.monotonic()
        response = await call_next(request)
        sent = answered = request
        hops = 0
        while response.status in REDIRECT_STATUSES:
            target = self._target(response, answered, hops)
            hops += 1
            left = request.timeout - (time.monotonic() - started)
            sent = self._hop(sent, target, left, answered)
            _log_hop(response.status, answered, sent, hops)
            answered = shown(sent)
            try:
                response = await call_next(sent)
            except (APIError, APIConnectionError) as error:
                attach_context(error, answered)  # a connection error: retry re-stamps it
                raise
        return response if not hops else response.replace(request=answered)

    def _target(self, response: Response, answered: Request, hops: int) -> SplitResult:
        """Where `response` (to `answered`, as errors name it) redirects to,
        resolved and checked, or the RedirectError that says why it is not
        followed."""
        location = response.headers.get("Location", "").strip()
        if not location:
            raise _refused(response, answered, None, "without a Location header: nothing to follow")
        try:
            quoted = quote(location, _URL_CHARACTERS, errors="surrogateescape")
            parts = urlsplit(quoted)
            # RFC 3986's strict resolution: a Location with a scheme is
            # absolute, also when it is the base's (urljoin's lenient reading
            # would take "https:///x" as a path on the API's own host).
            if not parts.scheme:
                parts = urlsplit(urljoin(response.request.url, quoted))
            parts.port  # noqa: B018 (raises ValueError for a port out of range)
        except ValueError:
            why = "to a Location that is not a URL is not followed"
            raise _refused(response, answered, None, why) from None
        scheme, host = parts.scheme.lower(), parts.hostname or ""
        if scheme != "https" and not (scheme == "http" and self._loopback and is_loopback(host)):
            why = "https only (plain http only to a loopback host, from a loopback base URL)"
            raise _refused(response, answered, parts, why)
        if "@" in parts.netloc:
            raise _refused(response, answered, parts, "it holds user:password@")
        if not host:
            raise _refused(response, answered, parts, "it names no host")
        if hops >= MAX_REDIRECTS:
            why = f"{hops} redirects in a row already (at most {MAX_REDIRECTS})"
            raise _refused(response, answered, parts, why)
        return parts

    def _hop(
        self, sent: Request, target: SplitResult, seconds_left: float, answered: Request
    ) -> Request:
        """The GET to `target`, from the request that got the redirect: the
        key only while every hop so far stays on the API's origin."""
        if seconds_left <= 0:
            error = APITimeoutError(
                "the attempt's timeout ran out while following the download's redirects"
            )
            raise attach_context(error, answered)
        if _origin(target) != self._origin:
            # Dropped for good: each hop starts from the one before it.
            sent = without_credentials(sent) or sent
        path = (target.path or "/") + ("?" + target.query if target.query else "")
        base = f"{target.scheme}://{target.netloc}"
        return sent.replace(base_url=base, path=path, query=(), timeout=seconds_left)


def shown(request: Request) -> Request:
    """`request` as errors and the final answer name it: its absolute URL
    without the query (a file host's signature may be there)."""
    return request.replace(base_url="", path=_shown_url(urlsplit(request.url)))


def _shown_url(parts: SplitResult) -> str:
    """scheme://host[:port]/path, as sent: no user:password@, query or fragment."""
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{parts.path}"


def _refused(
    response: Response, answered: Request, parts: SplitResult | None, why: str
) -> RedirectError:
    """`why` a redirect (to `parts`, when it could be read) is not followed."""
    message = f"a {response.status} redirect "
    message += why if parts is None else f"to {_shown_url(parts)} is not followed: {why}"
    error = RedirectError(message, status=response.status)
    return attach_context(
        error,
        answered,
        attempts=response.attempts,
        request_id=response.request_id,
        body=response.body,
        headers=response.headers,
    )


def _log_hop(status: int, answered: Request, hop: Request, hops: int) -> None:
    """DEBUG, beside the attempt's own record (LoggingMiddleware): one per hop."""
    if not logger.isEnabledFor(logging.DEBUG):
        return
    keyed = "with" if credential_headers(hop) else "without"
    to = shown(hop).path
    logger.debug(
        "%s %s -> %d: redirect %d to %s (%s the API key)",
        hop.method,
        answered.path,
        status,
        hops,
        to,
        keyed,
        extra={
            "ching_method": hop.method,
            "ching_path": answered.path,
            "ching_attempt": hop.attempt,
            "ching_status": str(status),
            "ching_redirect": to,
        },
    )
