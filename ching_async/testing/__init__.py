"""Testing tools for ``ching_async``: a faithful in-memory fake CHING server,
and ``MockTransport`` to answer a client's requests in-process.

``async with FakeChing() as fake:`` serves the documented endpoints on an ephemeral
127.0.0.1 port with in-memory state, seeding helpers, a request log, an injectable
clock and scriptable fault injection (``fake.faults.add(Fault.commit_then_drop())``).
``with FakeChing() as fake:`` serves it from a thread of its own, for sync code.
``with ching_test_mode(fake):`` points every ``Client()`` an app builds at it, with
instant retries. Run it standalone with ``python -m ching_async.testing --port 8787``.
``Client(transport=MockTransport(handler))`` needs no server at all.

Not imported by ``import ching_async``. Exports load lazily, so the pytest plugin
(``ching_async.testing.plugin``, loaded by every pytest session) stays cheap to import.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._checkout import CheckoutNotModeledError
    from ._envelope import FakeApiError, Issue
    from ._faults import Fault, FaultKind, FaultRule, FaultSet
    from ._log import RequestRecord
    from ._mock import (
        MockHandler,
        MockTransport,
        ResponseOptions,
        envelope_response,
        error_response,
        json_response,
    )
    from ._models import *  # noqa: F403 (the record types: _models.__all__)
    from ._server import FakeChing
    from ._testmode import ching_test_mode
    from ._trigger import SAMPLE_EVENT_TYPES, sample_event, trigger_event
    from ._webhooks import Delivery, WebhookEvent

__all__ = [
    "MockHandler",
    "MockTransport",
    "ResponseOptions",
    "envelope_response",
    "error_response",
    "json_response",
    "FakeChing",
    "ching_test_mode",
    "Fault",
    "FaultKind",
    "FaultRule",
    "FaultSet",
    "FakeApiError",
    "Issue",
    "RequestRecord",
    "Charge",
    "Customer",
    "PaymentMethod",
    "CardOptions",
    "SetupSession",
    "Refund",
    "Document",
    "WebhookEndpoint",
    "Delivery",
    "WebhookEvent",
    "Product",
    "Price",
    "PriceMigration",
    "Discount",
    "Redemption",
    "UploadedImage",
    "CheckoutSession",
    "BillingPortalSession",
    "CheckoutNotModeledError",
    "Subscription",
    "AppliedDiscount",
    "SAMPLE_EVENT_TYPES",
    "sample_event",
    "trigger_event",
]

_HOMES = {
    "MockHandler": "_mock",
    "MockTransport": "_mock",
    "ResponseOptions": "_mock",
    "envelope_response": "_mock",
    "error_response": "_mock",
    "json_response": "_mock",
    "FakeChing": "_server",
    "ching_test_mode": "_testmode",
    "Fault": "_faults",
    "FaultKind": "_faults",
    "FaultRule": "_faults",
    "FaultSet": "_faults",
    "FakeApiError": "_envelope",
    "Issue": "_envelope",
    "RequestRecord": "_log",
    "Charge": "_models",
    "Customer": "_models",
    "PaymentMethod": "_models",
    "CardOptions": "_models",
    "SetupSession": "_models",
    "Refund": "_models",
    "Document": "_models",
    "WebhookEndpoint": "_models",
    "Delivery": "_webhooks",
    "WebhookEvent": "_webhooks",
    "Product": "_models",
    "Price": "_models",
    "PriceMigration": "_models",
    "Discount": "_models",
    "Redemption": "_models",
    "UploadedImage": "_models",
    "CheckoutSession": "_models",
    "BillingPortalSession": "_models",
    "CheckoutNotModeledError": "_checkout",
    "Subscription": "_models",
    "AppliedDiscount": "_models",
    "SAMPLE_EVENT_TYPES": "_trigger",
    "sample_event": "_trigger",
    "trigger_event": "_trigger",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{home}", __name__), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
