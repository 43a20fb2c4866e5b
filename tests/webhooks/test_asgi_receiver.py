"""ching_async.webhooks.asgi_app and examples/webhooks_asgi.py: called directly, and served
over a real socket."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from http import HTTPStatus
from pathlib import Path
from types import ModuleType
from typing import Any

import aiohttp
import orjson
import pytest

import ching_async
from ching_async import Charge
from ching_async.testing import FakeChing
from ching_async.webhooks import Event, asgi_app
from tests._support.scripted import CHARGE
from tests._support.webhooks import SECRET, sign

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "webhooks_asgi.py"

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Message, Receive, Send], Awaitable[None]]


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("webhooks_asgi_example", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


example = load_example()


def charge_event(event_id: str = "evt_1") -> bytes:
    envelope = {"id": event_id, "type": "charge.succeeded", "data": CHARGE, "livemode": False}
    return orjson.dumps(envelope)


class Handled:
    """The business logic under test: records events, can be told to fail."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.failure: Exception | None = None
        self.arrived = asyncio.Event()

    async def __call__(self, event: Event) -> None:
        if self.failure is not None:
            raise self.failure
        self.events.append(event)
        self.arrived.set()


# -------------------------------------------------- the ASGI callable, directly
async def call(
    app: ASGIApp,
    *,
    method: str = "POST",
    path: str = "/webhooks/ching",
    body: bytes = b"",
    headers: list[tuple[bytes, bytes]] = (),  # type: ignore[assignment]
    chunks: int = 1,
    disconnect_early: bool = False,
) -> tuple[int | None, dict[bytes, bytes], bytes]:
    """Run one HTTP request through `app`; returns (status, headers, body)."""
    size = max(1, -(-len(body) // chunks))
    parts = [body[i : i + size] for i in range(0, len(body), size)] or [b""]
    incoming: list[Message] = [
        {"type": "http.request", "body": part, "more_body": i < len(parts) - 1}
        for i, part in enumerate(parts)
    ]
    if disconnect_early:
        incoming = [*incoming[:1], {"type": "http.disconnect"}]
        incoming[0]["more_body"] = True
    sent: list[Message] = []

    async def receive() -> Message:
        return incoming.pop(0) if incoming else {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": list(headers),
    }
    await app(scope, receive, send)
    if not sent:
        return None, {}, b""
    start, *bodies = sent
    assert start["type"] == "http.response.start"
    return (
        start["status"],
        dict(start["headers"]),
        b"".join(m.get("body", b"") for m in bodies),
    )


@pytest.fixture
def handled() -> Handled:
    return Handled()


@pytest.fixture
def app(handled: Handled) -> ASGIApp:
    built: ASGIApp = example.make_app(SECRET, handled)
    return built


async def test_a_signed_event_is_handled_and_answered_200(app: ASGIApp, handled: Handled) -> None:
    body = charge_event()
    status, headers, answer = await call(
        app, body=body, headers=[(b"ching-signature", sign(body).encode())], chunks=3
    )
    assert (status, orjson.loads(answer)) == (200, {"received": True})
    assert headers[b"content-type"] == b"application/json"
    assert headers[b"content-length"] == str(len(answer)).encode()
    [event] = handled.events
    assert isinstance(event.data, Charge)
    assert event.data.id == CHARGE["id"]


async def test_the_signature_header_is_found_whatever_its_case(
    app: ASGIApp, handled: Handled
) -> None:
    body = charge_event()
    status, _, _ = await call(app, body=body, headers=[(b"Ching-Signature", sign(body).encode())])
    assert status == 200
    assert len(handled.events) == 1


@pytest.mark.parametrize(
    "headers",
    [[], [(b"ching-signature", b"")], [(b"ching-signature", sign(b"other").encode())]],
)
async def test_a_bad_or_missing_signature_is_400_and_not_handled(
    app: ASGIApp, handled: Handled, headers: list[tuple[bytes, bytes]]
) -> None:
    status, _, answer = await call(app, body=charge_event(), headers=headers)
    assert (status, orjson.loads(answer)) == (400, {"error": "invalid signature"})
    assert handled.events == []


async def test_repeat_deliveries_are_handled_once(app: ASGIApp, handled: Handled) -> None:
    body = charge_event("evt_repeat")
    signature = [(b"ching-signature", sign(body).encode())]
    for _ in range(3):
        status, _, _ = await call(app, body=body, headers=signature)
        assert status == 200
    other = charge_event("evt_other")
    await call(app, body=other, headers=[(b"ching-signature", sign(other).encode())])
    assert [e.id for e in handled.events] == ["evt_repeat", "evt_other"]


async def test_a_failed_handling_is_500_and_not_remembered(app: ASGIApp, handled: Handled) -> None:
    body = charge_event("evt_retry")
    signature = [(b"ching-signature", sign(body).encode())]
    handled.failure = RuntimeError("database down")
    assert (await call(app, body=body, headers=signature))[0] == 500
    handled.failure = None
    assert (await call(app, body=body, headers=signature))[0] == 200
    assert [e.id for e in handled.events] == ["evt_retry"]


async def test_other_methods_paths_sizes_and_disconnects(app: ASGIApp, handled: Handled) -> None:
    status, headers, _ = await call(app, method="GET")
    assert (status, headers[b"allow"]) == (405, b"POST")
    assert (await call(app, path="/healthz", method="GET"))[0] == 200
    assert (await call(app, path="/elsewhere"))[0] == 404
    assert (await call(app, body=b"{}", disconnect_early=True))[0] is None
    assert handled.events == []


async def test_the_body_limit_answers_413() -> None:
    seen: list[Event] = []
    small = asgi_app(SECRET, seen.append, max_body_bytes=100)
    body = charge_event()
    status, _, _ = await call(small, body=body, headers=[(b"ching-signature", sign(body).encode())])
    assert status == 413
    assert seen == []


@pytest.mark.parametrize(
    ("secret", "on_event", "max_body_bytes", "match"),
    [
        ("", print, 100, "secret"),
        (SECRET, "not callable", 100, "on_event must be callable"),
        (SECRET, print, 0, "max_body_bytes"),
        (SECRET, print, 1.5, "max_body_bytes"),
    ],
    ids=["empty secret", "callback", "zero limit", "float limit"],
)
def test_the_app_checks_its_arguments_when_built(
    secret: str, on_event: Any, max_body_bytes: Any, match: str
) -> None:
    with pytest.raises(ching_async.InvalidParameterError, match=match):
        asgi_app(secret, on_event, max_body_bytes=max_body_bytes)


async def test_lifespan_is_answered(app: ASGIApp) -> None:
    incoming = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    sent: list[Message] = []

    async def receive() -> Message:
        return incoming.pop(0)

    async def send(message: Message) -> None:
        sent.append(message)

    await app({"type": "lifespan", "asgi": {"version": "3.0"}}, receive, send)
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]


async def test_the_module_level_app_needs_the_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    module = load_example()
    monkeypatch.delenv("CHING_WEBHOOK_SECRET", raising=False)
    with pytest.raises(RuntimeError, match="CHING_WEBHOOK_SECRET"):
        await call(module.app)
    monkeypatch.setenv("CHING_WEBHOOK_SECRET", SECRET)
    body = charge_event()
    signature = [(b"ching-signature", sign(body).encode())]
    status, _, _ = await call(module.app, body=body, headers=signature)
    assert status == 200


# ------------------------------------------------- served over a real socket
@contextlib.asynccontextmanager
async def serve(app: ASGIApp) -> AsyncIterator[str]:
    """A tiny HTTP/1.1 server for one ASGI app (one request per connection).

    Enough to put the example on a real socket without uvicorn: it parses the
    request line, headers and a Content-Length body, feeds the body to the app
    in two chunks, and writes back what the app sends.
    """

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request_line = await reader.readline()
            if not request_line:
                return
            method, target, _ = request_line.decode("latin-1").split(" ", 2)
            headers: list[tuple[bytes, bytes]] = []
            while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
                name, _, value = line.decode("latin-1").partition(":")
                headers.append((name.strip().lower().encode(), value.strip().encode()))
            length = int(dict(headers).get(b"content-length", b"0"))
            body = await reader.readexactly(length)
            path, _, query = target.partition("?")
            incoming: list[Message] = [
                {"type": "http.request", "body": body[: length // 2], "more_body": True},
                {"type": "http.request", "body": body[length // 2 :], "more_body": False},
            ]
            scope = {
                "type": "http",
                "asgi": {"version": "3.0"},
                "http_version": "1.1",
                "method": method,
                "scheme": "http",
                "path": path,
                "raw_path": path.encode(),
                "query_string": query.encode(),
                "root_path": "",
                "headers": headers,
            }

            async def receive() -> Message:
                return incoming.pop(0) if incoming else {"type": "http.disconnect"}

            async def send(message: Message) -> None:
                if message["type"] == "http.response.start":
                    status = message["status"]
                    head = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}".encode()]
                    head += [k + b": " + v for k, v in message.get("headers", [])]
                    head.append(b"connection: close")
                    writer.write(b"\r\n".join(head) + b"\r\n\r\n")
                elif message["type"] == "http.response.body":
                    writer.write(message.get("body", b""))
                    await writer.drain()

            await app(scope, receive, send)
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()
        await server.wait_closed()


async def test_served_over_a_socket_with_plain_http(app: ASGIApp, handled: Handled) -> None:
    async with serve(app) as root, aiohttp.ClientSession() as http:
        body = charge_event()
        headers = {"Ching-Signature": sign(body)}
        async with http.post(root + "/webhooks/ching", data=body, headers=headers) as resp:
            assert (resp.status, await resp.json()) == (200, {"received": True})
        async with http.post(root + "/webhooks/ching", data=body + b" ", headers=headers) as resp:
            assert resp.status == 400
        async with http.get(root + "/healthz") as resp:
            assert (resp.status, await resp.text()) == (200, "ok")
    assert [e.id for e in handled.events] == ["evt_1"]


async def test_fake_ching_delivers_to_the_served_example_end_to_end(
    app: ASGIApp, handled: Handled, fake_ching: FakeChing, ching_client: ching_async.Client
) -> None:
    fake = fake_ching  # background delivery, the default
    async with serve(app) as root:
        wanted = ["charge.succeeded", "refund.created"]
        fake.add_webhook_endpoint(root + "/webhooks/ching", secret=SECRET, events=wanted)
        customer = fake.add_customer(name="Tal", email="tal@example.com")
        card = fake.add_payment_method(customer.id)
        charge = await ching_client.charges.create(
            customer=customer.id, payment_method=card.id, amount=4990
        )
        refund = await ching_client.refunds.create(charge=charge.id)
        await fake.deliver_pending()  # waits for the background round too
        event_ids = [e.id for e in fake.webhook_events()]
        fake.resend_webhook_event(event_ids[0])  # CHING may deliver twice
        await fake.deliver_pending()
        assert all(d.ok for d in fake.webhook_deliveries())
        assert len(fake.webhook_deliveries()) == 3
    assert [e.type for e in handled.events] == ["charge.succeeded", "refund.created"]
    assert handled.events[0].data == charge
    assert handled.events[1].data == refund
