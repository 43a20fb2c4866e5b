"""OpenTelemetry spans for a Client: one per logical call, a child per attempt.

    pip install 'ching-async[otel]'

    from ching_async.otel import OpenTelemetry

    otel = OpenTelemetry()  # the global tracer provider, or tracer_provider=...
    client = ching_async.Client(
        middlewares=[otel.attempt_middleware],
        call_middlewares=[otel.call_middleware],
    )

Each attempt (retries and reconciliation lookups included) is a CLIENT span
following OpenTelemetry's HTTP client semantic conventions: named
`{method} {url.template}`, with `http.request.method`, `url.full`,
`url.template`, `server.address`, `server.port`,
`http.response.status_code`, `http.request.resend_count` on a re-send, and
`error.type` (the status code, or the exception's class) when it fails; the
trace context goes out in the request's headers (`traceparent`). The call's
span (INTERNAL, `ching {method} {url.template}`) is their parent and carries
what the call ended as: `ching.attempts`, `ching.reconciled`,
`ching.outcome_unknown`, `ching.idempotency_key` and `ching.request_id`.
No span carries the API key or a request or response body.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ._errors import APIConnectionError, APIError, ChingError
from ._messages import Handler, Request, Response

if TYPE_CHECKING:
    from opentelemetry.trace import Span, SpanKind, TracerProvider

__all__ = ["OpenTelemetry", "url_template"]

# CHING's ids: a lowercase prefix, an underscore, then random letters and
# digits (ch_9mTPfRSDmEOU, cus_V8ltq1pK_MWH); the API's own words are lowercase.
_ID_SEGMENT = re.compile(r"[a-z]+_[A-Za-z0-9_-]+")
_NOT_A_WORD = re.compile(r"[A-Z0-9]")


def url_template(path: str) -> str:
    """`path` with its object ids as `{id}`: a low-cardinality span name
    ("/charges/ch_1/capture" -> "/charges/{id}/capture")."""
    return "/".join("{id}" if _is_id(part) else part for part in path.split("/"))


def _is_id(segment: str) -> bool:
    return bool(_ID_SEGMENT.fullmatch(segment) and _NOT_A_WORD.search(segment))


class OpenTelemetry:
    """The two middlewares that make a Client's spans (see the module docstring)."""

    def __init__(self, tracer_provider: TracerProvider | None = None) -> None:
        try:
            from opentelemetry import propagate, trace
        except ImportError:  # pragma: no cover - exercised only without the extra
            raise ImportError(
                "ching_async.otel needs OpenTelemetry: pip install 'ching-async[otel]'"
            ) from None
        from ._version import __version__

        self._trace = trace
        self._inject = propagate.inject
        self._tracer = trace.get_tracer("ching_async", __version__, tracer_provider=tracer_provider)

    def __repr__(self) -> str:
        return "OpenTelemetry()"

    async def call_middleware(self, request: Request, call_next: Handler) -> Response:
        """Client(call_middlewares=[...]): one INTERNAL span around the whole call."""
        template = url_template(request.path)
        attributes: dict[str, Any] = {
            "http.request.method": request.method,
            "url.template": template,
        }
        if request.idempotency_key is not None:
            attributes["ching.idempotency_key"] = request.idempotency_key
        name = f"ching {request.method} {template}"
        with self._span(name, self._trace.SpanKind.INTERNAL, attributes) as span:
            try:
                response = await call_next(request)
            except ChingError as exc:
                self._failed(span, exc)
                if isinstance(exc, APIError | APIConnectionError):
                    span.set_attribute("ching.outcome_unknown", exc.outcome_unknown)
                    span.set_attribute("ching.attempts", exc.attempts)
                raise
            span.set_attribute("ching.attempts", response.attempts)
            span.set_attribute("ching.reconciled", response.reconciled)
            span.set_attribute("ching.outcome_unknown", response.outcome_unknown)
            return self._answered(span, response)

    async def attempt_middleware(self, request: Request, call_next: Handler) -> Response:
        """Client(middlewares=[...]): one CLIENT span per attempt, HTTP conventions."""
        template = url_template(request.path)
        url = request.url
        parts = urlsplit(url)
        attributes: dict[str, Any] = {
            "http.request.method": request.method,
            "url.full": url,
            "url.template": template,
            "server.address": parts.hostname or "",
            "server.port": parts.port or (443 if parts.scheme == "https" else 80),
        }
        if request.attempt > 1:
            attributes["http.request.resend_count"] = request.attempt - 1
        name = f"{request.method} {template}"
        with self._span(name, self._trace.SpanKind.CLIENT, attributes) as span:
            carrier: dict[str, str] = {}
            self._inject(carrier)
            try:
                response = await call_next(request.with_headers(carrier) if carrier else request)
            except ChingError as exc:
                self._failed(span, exc)
                raise
            return self._answered(span, response)

    def _span(self, name: str, kind: SpanKind, attributes: dict[str, Any]) -> Any:
        # Errors are recorded by hand: only the library's own (scrubbed) ones.
        return self._tracer.start_as_current_span(
            name,
            kind=kind,
            attributes=attributes,
            record_exception=False,
            set_status_on_exception=False,
        )

    def _answered(self, span: Span, response: Response) -> Response:
        span.set_attribute("http.response.status_code", response.status)
        _set_request_id(span, response.request_id)
        if response.status >= 400:
            self._error_status(span, str(response.status))
        return response

    def _failed(self, span: Span, exc: ChingError) -> None:
        if isinstance(exc, APIError) and exc.status is not None:
            span.set_attribute("http.response.status_code", exc.status)
        if isinstance(exc, APIError | APIConnectionError):
            _set_request_id(span, exc.request_id)
        # The exception's message is the library's own, scrubbed of the key.
        span.record_exception(exc)
        self._error_status(span, type(exc).__qualname__)

    def _error_status(self, span: Span, error_type: str) -> None:
        span.set_attribute("error.type", error_type)
        span.set_status(self._trace.Status(self._trace.StatusCode.ERROR))


def _set_request_id(span: Span, request_id: str | None) -> None:
    if request_id is not None:
        span.set_attribute("ching.request_id", request_id)
