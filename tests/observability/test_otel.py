"""ching_async.otel: a span per logical call, a CLIENT child per attempt,
recorded by the OpenTelemetry SDK's in-memory exporter."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

import ching_async
from ching_async.otel import OpenTelemetry, url_template
from ching_async.testing import FakeChing, Fault, MockTransport, envelope_response, error_response
from tests._support.fake_client import client_for
from tests._support.scripted import CHARGE, TEST_KEY


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    yield exporter
    exporter.clear()


def instrumented(exporter: InMemorySpanExporter) -> dict[str, Any]:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    otel = OpenTelemetry(tracer_provider=provider)
    return {"middlewares": [otel.attempt_middleware], "call_middlewares": [otel.call_middleware]}


def by_kind(spans: tuple[ReadableSpan, ...], kind: SpanKind) -> list[ReadableSpan]:
    return [span for span in spans if span.kind is kind]


@pytest.mark.parametrize(
    ("path", "template"),
    [
        ("/charges", "/charges"),
        ("/charges/ch_9mTPfRSDmEOU/capture", "/charges/{id}/capture"),
        ("/customers/cus_V8ltq1pK_MWH", "/customers/{id}"),
        ("/payment_methods/pm_1/detach", "/payment_methods/{id}/detach"),
        ("/setup_sessions/ss_Ab3/cancel", "/setup_sessions/{id}/cancel"),
    ],
)
def test_url_template_hides_object_ids(path: str, template: str) -> None:
    assert url_template(path) == template


async def test_a_reconciled_charge_is_one_call_span_over_its_attempts(
    exporter: InMemorySpanExporter,
) -> None:
    async with FakeChing() as fake:
        customer = fake.add_customer()
        card = fake.add_payment_method(customer.id)
        fake.faults.add(Fault.commit_then_drop(), method="POST", path="/charges", times=1)
        async with client_for(fake, **instrumented(exporter)) as client:
            charge = await client.charges.create(
                customer=customer.id, payment_method=card.id, amount=100, idempotency_key="o-1"
            )
    assert charge.request_info.reconciled
    spans = exporter.get_finished_spans()
    [call] = by_kind(spans, SpanKind.INTERNAL)
    attempts = by_kind(spans, SpanKind.CLIENT)
    assert call.name == "ching POST /charges"
    assert call.attributes is not None
    assert call.attributes["ching.idempotency_key"] == "o-1"
    assert call.attributes["ching.reconciled"] is True
    assert call.attributes["ching.attempts"] == 1
    assert call.attributes["http.response.status_code"] == 200
    assert call.status.status_code is StatusCode.UNSET
    # The key looked up first (the customer's charges, then the project's for
    # the key used for another customer), the dropped POST, the lookup that found it.
    names = ["GET /charges", "GET /charges", "POST /charges", "GET /charges"]
    assert [span.name for span in attempts] == names
    assert call.context is not None
    for span in attempts:
        assert span.parent is not None
        assert span.parent.span_id == call.context.span_id
        assert span.context is not None
        assert span.context.trace_id == call.context.trace_id
    dropped = attempts[names.index("POST /charges")]
    assert dropped.attributes is not None
    assert dropped.attributes["error.type"] == "APIConnectionError"
    assert dropped.status.status_code is StatusCode.ERROR
    assert dropped.attributes["url.full"] == fake.url + "/charges"
    assert dropped.attributes["server.address"] == "127.0.0.1"
    assert dropped.attributes["http.request.method"] == "POST"


async def test_a_resend_counts_and_failures_set_error_status(
    exporter: InMemorySpanExporter,
) -> None:
    answers = iter([503, 503, 200])

    def handler(request: ching_async.Request) -> ching_async.Response:
        status = next(answers)
        if status != 200:
            return error_response(request, status, headers={"X-Request-Id": f"req_{status}"})
        return envelope_response(request, [CHARGE], headers={"X-Request-Id": "req_ok"})

    transport = MockTransport(handler)
    async with ching_async.Client(
        TEST_KEY,
        transport=transport,
        retry_policy=ching_async.RetryPolicy(instant=True),
        **instrumented(exporter),
    ) as client:
        await client.charges.list()
    spans = exporter.get_finished_spans()
    attempts = by_kind(spans, SpanKind.CLIENT)
    assert [s.attributes.get("http.request.resend_count") for s in attempts] == [None, 1, 2]  # type: ignore[union-attr]
    assert [s.attributes["http.response.status_code"] for s in attempts] == [503, 503, 200]  # type: ignore[index]
    assert [s.status.status_code for s in attempts] == [
        StatusCode.ERROR,
        StatusCode.ERROR,
        StatusCode.UNSET,
    ]
    assert attempts[0].attributes["error.type"] == "503"  # type: ignore[index]
    [call] = by_kind(spans, SpanKind.INTERNAL)
    assert call.attributes["ching.attempts"] == 3  # type: ignore[index]
    assert call.attributes["ching.request_id"] == "req_ok"  # type: ignore[index]
    # Each attempt carried its own span's trace context.
    for request, span in zip(transport.requests(), attempts, strict=True):
        assert span.context is not None
        trace_id = format(span.context.trace_id, "032x")
        span_id = format(span.context.span_id, "016x")
        assert request.headers["traceparent"].startswith(f"00-{trace_id}-{span_id}-")


async def test_outcome_unknown_ends_the_call_span_in_error(
    exporter: InMemorySpanExporter,
) -> None:
    def handler(request: ching_async.Request) -> ching_async.Response:
        if request.method == "POST":
            return ching_async.Response(
                502, {"Content-Type": "text/html"}, b"<h1>502</h1>", request
            )
        return envelope_response(request, [])

    async with ching_async.Client(
        TEST_KEY, transport=MockTransport(handler), total_timeout=0.5, **instrumented(exporter)
    ) as client:
        with pytest.raises(ching_async.OutcomeUnknownError):
            await client.charges.create(
                customer="cus_1", payment_method="pm_1", amount=100, idempotency_key="o-2"
            )
    [call] = by_kind(exporter.get_finished_spans(), SpanKind.INTERNAL)
    assert call.status.status_code is StatusCode.ERROR
    assert call.attributes["error.type"] == "OutcomeUnknownError"  # type: ignore[index]
    assert call.attributes["ching.outcome_unknown"] is True  # type: ignore[index]
    assert [event.name for event in call.events] == ["exception"]


async def test_no_span_carries_the_key(exporter: InMemorySpanExporter) -> None:
    def echo(request: ching_async.Request) -> ching_async.Response:
        auth = request.headers["Authorization"]
        return error_response(request, 401, message=auth, headers={"X-Request-Id": auth})

    async with ching_async.Client(
        TEST_KEY, transport=MockTransport(echo), **instrumented(exporter)
    ) as client:
        with pytest.raises(ching_async.AuthenticationError):
            await client.charges.list()
    spans = exporter.get_finished_spans()
    assert len(spans) == 2
    for span in spans:
        assert TEST_KEY not in span.to_json()
