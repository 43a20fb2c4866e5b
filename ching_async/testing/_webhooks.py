"""Signed events and their delivery over real HTTP.

The ledger reports each state change (``charge.succeeded``, ``refund.created``,
``customer.updated``, ...). When an endpoint wants the event, it is snapshotted,
queued, and POSTed to the endpoint's URL with ``Ching-Signature``: the lowercase
hex HMAC-SHA256 of the exact body, keyed with the endpoint's ``whsec_`` secret.

The endpoints are the ledger's (``POST /webhooks``, or ``fake.add_webhook_endpoint``):
a deleted one gets nothing more, deliveries already queued included.

Delivery runs in one background task (``FakeChing(webhook_delivery="background")``,
the default) or when a test calls ``await fake.deliver_pending()``. A failed
delivery (non-2xx, connection error, timeout) is queued again for the next round,
up to ``max_attempts`` attempts, as CHING retries failed deliveries.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson

from ..webhooks import SIGNATURE_HEADER, compute_signature
from ._clock import format_timestamp
from ._envelope import FakeApiError
from ._ids import IdFactory
from ._models import WebhookEndpoint

if TYPE_CHECKING:
    import aiohttp

USER_AGENT = "CHING-Webhooks (ching_async FakeChing)"


class UnknownWebhookEventError(FakeApiError, KeyError):
    """No event has this id: a 404 like the fake's other lookups (``fake.charge``),
    and still a KeyError for code that caught what ``resend`` raised before."""

    def __init__(self, event_id: str) -> None:
        super().__init__(404, "NOT_FOUND", f"No such webhook event: {event_id}")

    def __str__(self) -> str:
        return Exception.__str__(self)  # not KeyError's, which would quote the message


@dataclass(frozen=True, slots=True)
class WebhookEvent:
    """One event as CHING would send it; ``body`` is exactly what gets signed."""

    id: str
    type: str
    livemode: bool
    created: datetime
    data: dict[str, Any]
    body: bytes

    def to_json(self) -> dict[str, Any]:
        """The event as delivered (``body`` parsed)."""
        parsed: dict[str, Any] = orjson.loads(self.body)
        return parsed


@dataclass(frozen=True, slots=True)
class Delivery:
    """One delivery attempt of one event to one endpoint."""

    event_id: str
    event_type: str
    url: str
    attempt: int
    status: int | None  # the receiver's HTTP status; None when no answer came
    error: str | None  # why there was no answer (connection refused, timeout, ...)
    at: datetime

    @property
    def ok(self) -> bool:
        """Whether the receiver answered 2xx."""
        return self.status is not None and 200 <= self.status < 300


_Queued = tuple[WebhookEvent, WebhookEndpoint, int]  # (event, endpoint, attempt number)


class WebhookDispatcher:
    def __init__(
        self,
        ids: IdFactory,
        clock: Callable[[], datetime],
        endpoints: Mapping[str, WebhookEndpoint],
        *,
        timeout: float = 10.0,
        max_attempts: int = 5,
    ) -> None:
        self._ids = ids
        self._clock = clock
        self.timeout = timeout
        self.max_attempts = max_attempts
        self._endpoints = endpoints  # the ledger's, by id
        self.events: list[WebhookEvent] = []
        self.deliveries: list[Delivery] = []
        self._pending: deque[_Queued] = deque()
        self._wakeup = asyncio.Event()
        self._lock = asyncio.Lock()
        self._worker: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None

    # -- configuration ----------------------------------------------------------------

    def new_secret(self, secret: str | None) -> str:
        """``secret`` if the receivers accept it (checked here, not by the delivery
        task on the first event: a ValueError), else a new ``whsec_`` one."""
        if secret is None:
            return self._ids.webhook_secret()
        compute_signature(b"", secret)
        return secret

    def _registered(self, endpoint: WebhookEndpoint) -> bool:
        return self._endpoints.get(str(endpoint.id)) is endpoint

    # -- events -----------------------------------------------------------------------

    def emit(self, event_type: str, livemode: bool, snapshot: Callable[[], Any]) -> None:
        """Called by the ledger on every state change; cheap when nobody listens."""
        targets = [e for e in self._endpoints.values() if e.wants(event_type, livemode)]
        if not targets:
            return
        event_id = self._ids.new_id("evt")
        created = self._clock()
        data = snapshot()
        body = orjson.dumps(
            {
                "id": event_id,
                "type": event_type,
                "data": data,
                "livemode": livemode,
                "created": format_timestamp(created),
            }
        )
        event = WebhookEvent(event_id, event_type, livemode, created, data, body)
        self.events.append(event)
        self._pending.extend((event, endpoint, 1) for endpoint in targets)
        self._wakeup.set()

    def resend(self, event_id: str) -> None:
        """Queue another delivery of an event, as CHING may deliver one twice."""
        event = next((e for e in self.events if e.id == event_id), None)
        if event is None:
            raise UnknownWebhookEventError(event_id)
        for endpoint in self._endpoints.values():
            if endpoint.wants(event.type, event.livemode):
                self._pending.append((event, endpoint, 1))
        self._wakeup.set()

    @property
    def pending(self) -> int:
        return sum(1 for item in self._pending if self._registered(item[1]))

    # -- delivery ---------------------------------------------------------------------

    async def deliver_pending(self) -> list[Delivery]:
        """Deliver everything queued now (one attempt each), in order."""
        async with self._lock:
            return await self._drain()

    async def _drain(self) -> list[Delivery]:
        done: list[Delivery] = []
        # Only what is queued now: failures re-queued below wait for the next round.
        for _ in range(len(self._pending)):
            event, endpoint, attempt = self._pending.popleft()
            if not self._registered(endpoint):
                continue  # deleted since: delivery stops at once
            delivery = await self._deliver(event, endpoint, attempt)
            self.deliveries.append(delivery)
            done.append(delivery)
            if not delivery.ok and attempt < self.max_attempts:
                self._pending.append((event, endpoint, attempt + 1))
        return done

    async def _deliver(
        self, event: WebhookEvent, endpoint: WebhookEndpoint, attempt: int
    ) -> Delivery:
        import aiohttp

        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            SIGNATURE_HEADER: compute_signature(event.body, endpoint.secret),
        }
        status: int | None = None
        error: str | None = None
        try:
            session = self._get_session()
            async with session.post(
                endpoint.url,
                data=event.body,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=self.timeout),
                allow_redirects=False,
            ) as response:
                await response.read()
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            error = f"{type(exc).__name__}: {exc}"
        return Delivery(event.id, event.type, endpoint.url, attempt, status, error, self._clock())

    def _get_session(self) -> aiohttp.ClientSession:
        import aiohttp

        if self._session is None:
            self._session = aiohttp.ClientSession()
        return self._session

    # -- background worker --------------------------------------------------------------

    def start(self) -> None:
        if self._worker is None:
            self._worker = asyncio.create_task(self._run(), name="FakeChing webhook delivery")
            if self._pending:
                self._wakeup.set()

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            async with self._lock:
                await self._drain()

    async def close(self) -> None:
        """Stop the worker (an in-flight delivery is abandoned) and close the session."""
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker
        session, self._session = self._session, None
        if session is not None:
            await session.close()
