"""The transport seam: what a Client needs from whatever sends its requests.

A transport is the innermost step of the chain. Everything above it (the
idempotency key, retry and reconciliation, user middlewares, auth, logging,
decoding) is the same whichever transport sends. The default is
AiohttpTransport (`_aiohttp.py`); `ching_async.testing.MockTransport`
answers in-process.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from ._errors import APIConnectionError, InvalidParameterError, ResponseDecodeError
from ._messages import Handler, Request, Response
from ._secrets import attach_context

__all__ = ["DEFAULT_MAX_RESPONSE_BYTES", "Transport", "checked_transport", "too_large"]

DEFAULT_MAX_RESPONSE_BYTES = 8 * 1024 * 1024


@runtime_checkable
class Transport(Protocol):
    """Sends one attempt of a request and returns its complete response.

    `handle` gets the request as the auth step leaves it: the `Authorization`
    header is on it, because the transport sends it. It sends
    `request.method` to `request.url` with `request.headers` and
    `request.body`, within `request.timeout` seconds, and returns a
    `Response` for that request with the whole body read. It never retries
    and never follows a redirect (a 3xx is a response like any other).

    When no response comes, it raises `APIConnectionError` (or
    `APITimeoutError`) with `may_have_reached_server=False` only when the
    request provably never left (no connection was made): a POST is then
    re-sent blindly. Anything that may have been sent keeps the default
    `True`, and a money-moving POST is reconciled before it is re-sent.
    Any other exception propagates to the caller unchanged, and is not retried.

    A body longer than the client's `max_response_bytes` ends the call in
    `ResponseDecodeError` whichever transport read it; a transport that
    reads from a network should stop reading there itself.

    The client never closes a transport it was given: whoever made it
    closes it (as with `session=`).
    """

    async def handle(self, request: Request) -> Response:
        """Send one attempt and return the server's answer (see the class docstring)."""
        ...


def checked_transport(transport: object, max_response_bytes: int) -> Handler:
    """A caller's transport as the chain's last handler, with the parts of the
    contract the client can check enforced: it returns a Response no longer
    than `max_response_bytes`, and its connection errors carry the attempt."""
    if (
        isinstance(transport, type)  # the class, not an instance of it
        or not isinstance(transport, Transport)
        or not callable(transport.handle)
    ):
        got = repr(transport) if isinstance(transport, type) else type(transport).__name__
        raise InvalidParameterError(
            f"transport must be an object with an async method handle(request) -> Response,"
            f" got {got}"
        )
    handle = transport.handle
    name = type(transport).__name__

    async def send(request: Request) -> Response:
        try:
            response = await handle(request)
        except APIConnectionError as error:
            if error.method is None:
                attach_context(error, request)
            raise
        if not isinstance(response, Response):
            raise InvalidParameterError(
                f"transport {name}.handle returned {type(response).__name__}, not a Response"
            )
        if len(response.body) > max_response_bytes:
            raise too_large(response.status, request, max_response_bytes, "not decoded")
        return response

    return send


def too_large(
    status: int, request: Request, limit: int, fate: str = "not read"
) -> ResponseDecodeError:
    """The error for a body over `limit`: a POST may have taken effect."""
    error = ResponseDecodeError(
        f"response body exceeds max_response_bytes ({limit} bytes); {fate}",
        status=status,
    )
    return attach_context(error, request, outcome_unknown=request.method != "GET")
