"""One logical call: a resource's declaration turned into a Request, run
through the retry loop, each attempt through the attempt chain (user
middlewares, auth, logging, transport).

Resources hold a Requester, not the Client: it is all they can do.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from ._idempotency import new_idempotency_key
from ._messages import BodySink, Handler, Middleware, Request, Response
from ._middleware import build_chain
from ._protocol import encode_json
from ._retry import Resend, RetryClass, RetryPolicy
from ._retry_loop import RetryLoop
from ._transport import DEFAULT_MAX_DOWNLOAD_BYTES, write_to_sink

__all__ = ["Requester"]


class Requester:
    """Sends a client's calls. `with_attempt_middleware` makes a view that
    shares everything but adds a step to each attempt (a bulk job's pacing)."""

    def __init__(
        self,
        *,
        base_url: str,
        mode: str,
        timeout: float,
        retry: RetryLoop,
        attempt: Handler,
        check_usable: Callable[[], object],
        headers: Mapping[str, str] | None = None,
        call_middlewares: tuple[Middleware, ...] = (),
        max_download_bytes: int = DEFAULT_MAX_DOWNLOAD_BYTES,
    ) -> None:
        self.base_url = base_url
        self.mode = mode  # "test", "live" or "unknown", from the key
        self.timeout = timeout
        # The most bytes a download (a document's PDF) may have.
        self.max_download_bytes = max_download_bytes
        self._retry = retry
        self._attempt = attempt
        self._check_usable = check_usable
        # Sent with every call (Client.with_options(headers=...)), checked there.
        self.headers: Mapping[str, str] = headers or {}
        # Run once per call, around the retry loop (Client(call_middlewares=...)).
        self._call_middlewares = call_middlewares

    @property
    def total_timeout(self) -> float:
        return self._retry.total_timeout

    @property
    def retry_policy(self) -> RetryPolicy:
        return self._retry.policy

    def request(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        body: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
        retry: RetryClass | None = None,
        sink: BodySink | None = None,
    ) -> Awaitable[Response]:
        """Send one call. `path` is percent-encoded already; `retry` defaults
        to SAFE for a GET and NEVER otherwise. Every POST carries one
        Idempotency-Key (the caller's, checked where it came in: Resource._call
        or `marked`; or a new one), the same on every attempt. With a `sink`
        (a download) a 2xx body goes there (see BodySink); the response is
        then `streamed` once the body is written, whichever transport or
        middleware answered."""
        self._check_usable()
        headers = dict(self.headers)
        if method == "POST":
            if idempotency_key is None:
                idempotency_key = new_idempotency_key()
            headers["Idempotency-Key"] = idempotency_key
        request = Request(
            method=method,
            path=path,
            base_url=self.base_url,
            query=tuple(query.items()) if query else (),
            headers=headers,
            body=None if body is None else encode_json(body),
            idempotency_key=idempotency_key,
            timeout=self.timeout,
            sink=sink,
        )
        if retry is None:
            retry = Resend.SAFE if method == "GET" else Resend.NEVER
        if sink is not None:
            return self._download(request, retry)
        if not self._call_middlewares:
            return self._retry.run(request, retry, self._attempt)
        return self._run(request, retry)

    def _run(self, request: Request, retry: RetryClass) -> Awaitable[Response]:
        attempt = self._attempt

        def run(call: Request) -> Awaitable[Response]:
            return self._retry.run(call, retry, attempt)

        return build_chain(self._call_middlewares, run)(request)

    async def _download(self, request: Request, retry: RetryClass) -> Response:
        # A transport or middleware that answered with the whole body: it is
        # written to the sink here, under the same limit and checks.
        return write_to_sink(await self._run(request, retry))

    def settling(self, key: str) -> float:
        """Seconds until a lookup for idempotency key `key` may prove absence
        (see RetryLoop.settling)."""
        return self._retry.settling(key)

    def with_attempt_middleware(self, middleware: Middleware) -> Requester:
        return self._replace(attempt=build_chain([middleware], self._attempt))

    def with_settings(
        self,
        *,
        timeout: float,
        total_timeout: float,
        max_retries: int,
        retry_policy: RetryPolicy,
        headers: Mapping[str, str],
    ) -> Requester:
        """A view with other settings over the same attempt chain, pool and
        idempotency-key registry (Client.with_options)."""
        retry = self._retry.with_settings(
            retry_policy, max_retries=max_retries, total_timeout=total_timeout
        )
        return self._replace(timeout=timeout, retry=retry, headers=headers)

    def _replace(self, **changes: Any) -> Requester:
        settings: dict[str, Any] = {
            "base_url": self.base_url,
            "mode": self.mode,
            "timeout": self.timeout,
            "retry": self._retry,
            "attempt": self._attempt,
            "check_usable": self._check_usable,
            "headers": self.headers,
            "call_middlewares": self._call_middlewares,
            "max_download_bytes": self.max_download_bytes,
        }
        return Requester(**(settings | changes))
