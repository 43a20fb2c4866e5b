"""Sample webhook events, made by FakeChing itself, and sending one to a URL.

CHING has no way to trigger an event (REFERENCE.md 16 and 19: "no listen, no
trigger"). Here each documented type has a scene: a fresh FakeChing is set up
(a customer, a card, a plan...), an endpoint is registered, and the one step
that fires the event is played, so the sample is exactly what the fake
delivers: the same records, the same envelope, the same ``Ching-Signature``.
``trigger_event`` then delivers it with the fake's own dispatcher.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from .._errors import InvalidParameterError
from ._billing import Billing
from ._server import FakeChing
from ._validation import CustomerParams, RefundParams, SetupSessionParams, is_webhook_url
from ._webhooks import Delivery, WebhookEvent

__all__ = ["SAMPLE_EVENT_TYPES", "sample_event", "trigger_event"]

# A scene sets a fresh fake up and returns the step that fires its event.
Scene = Callable[[FakeChing], Callable[[], object]]
_NOWHERE = "http://127.0.0.1:9/"  # a sample is recorded, never sent there


def _customer(fake: FakeChing) -> str:
    return fake.add_customer(name="Tal Levi", email="tal@example.com").id


def _charge(
    fake: FakeChing, *, declines: bool = False, manual: bool = False
) -> Callable[[], object]:
    customer = _customer(fake)
    card = fake.add_payment_method(customer, declines=declines).id
    if manual:
        return lambda: fake.add_charge(customer, card, amount=9900, capture_method="manual")
    return lambda: fake.add_charge(customer, card, amount=9900)


def _held(fake: FakeChing, then: str) -> Callable[[], object]:
    customer = _customer(fake)
    charge = fake.add_charge(customer, amount=9900, capture_method="manual").id
    if then == "capture":
        return lambda: fake.ledger.capture_charge(charge, None)
    return lambda: fake.ledger.cancel_charge(charge, "requested_by_customer")


def _refund(fake: FakeChing) -> Callable[[], object]:
    charge = fake.add_charge(_customer(fake), amount=9900).id
    return lambda: fake.ledger.create_refund(
        RefundParams(charge, 9900, "requested_by_customer", None), livemode=False
    )


def _setup_session(fake: FakeChing, status: str) -> Callable[[], object]:
    """Setup sessions fire only when they fail or expire (SKILL-WH)."""
    params = SetupSessionParams(
        _customer(fake), "https://shop.example/ok", "https://shop.example/cancel"
    )
    session = fake.ledger.create_setup_session(params, livemode=False)

    def end() -> None:
        if status == "expired":
            fake.advance(session.expires_at - fake.now())
        else:
            session.status = status
        now = fake.now()
        fake.ledger._emit(f"setup_session.{status}", False, lambda: session.to_json(now))

    return end


def _card(fake: FakeChing, detach: bool) -> Callable[[], object]:
    customer = _customer(fake)
    if not detach:
        return lambda: fake.add_payment_method(customer)
    card = fake.add_payment_method(customer).id
    return lambda: fake.ledger.detach_payment_method(card)


def _customer_change(fake: FakeChing, change: str) -> Callable[[], object]:
    if change == "created":
        return lambda: _customer(fake)
    customer = _customer(fake)
    if change == "updated":
        return lambda: fake.ledger.update_customer(customer, CustomerParams({"name": "Tal L."}))
    return lambda: fake.ledger.delete_customer(customer)


def _rule(fake: FakeChing, change: str) -> Callable[[], object]:
    if change == "created":
        return lambda: fake.add_discount(name="Launch", code="LAUNCH", value=2000)
    rule = fake.add_discount(name="Launch", code="LAUNCH", value=2000).id
    if change == "updated":
        return lambda: fake.ledger.update_discount(rule, {"max_redemptions": 100})
    return lambda: fake.ledger.archive_discount(rule)


def _plan(fake: FakeChing, trial_days: int | None = None) -> tuple[str, str]:
    """A customer with a card, and a monthly 99.00 ILS price."""
    customer = _customer(fake)
    fake.add_payment_method(customer)
    product = fake.add_product(name="Pro").id
    recurring = {"interval": "month", "trial_period_days": trial_days}
    price = fake.add_price(product, unit_amount=9900, type="recurring", recurring=recurring)
    return customer, price.id


def _subscribe(fake: FakeChing, *, trial_days: int | None = None, code: str | None = None) -> str:
    customer, price = _plan(fake, trial_days)
    return fake.add_subscription(customer, price, discounts=[code] if code else ()).id


def _subscription(fake: FakeChing, change: str) -> Callable[[], object]:
    if change == "created":
        customer, price = _plan(fake)
        return lambda: fake.add_subscription(customer, price)
    if change == "trial_will_end":
        _subscribe(fake, trial_days=14)
        return lambda: fake.advance(timedelta(days=11))
    sub = _subscribe(fake)
    if change == "canceled":
        return lambda: Billing(fake.ledger).cancel(sub, at_period_end=False)
    # updated: a declined renewal makes it past_due (the event names the previous status).
    fake.decline_next_charges(fake.subscription(sub).default_payment_method or "")
    return lambda: fake.advance(fake.subscription(sub).current_period_end - fake.now())


def _applied_discount(fake: FakeChing, change: str) -> Callable[[], object]:
    fake.add_discount(name="Launch", code="LAUNCH", value=2000, duration="once")
    if change == "applied":
        customer, price = _plan(fake)
        return lambda: fake.add_subscription(customer, price, discounts=["LAUNCH"])
    _subscribe(fake, trial_days=7, code="LAUNCH")  # a `once` discount ends with the first charge
    return lambda: fake.advance(timedelta(days=7))


# The types SKILL-WH (the newest source) documents, each with its scene.
SCENES: dict[str, Scene] = {
    "charge.succeeded": lambda fake: _charge(fake),
    "charge.failed": lambda fake: _charge(fake, declines=True),
    "charge.authorized": lambda fake: _charge(fake, manual=True),
    "charge.captured": lambda fake: _held(fake, "capture"),
    "charge.canceled": lambda fake: _held(fake, "cancel"),
    "refund.created": _refund,
    "setup_session.failed": lambda fake: _setup_session(fake, "failed"),
    "setup_session.expired": lambda fake: _setup_session(fake, "expired"),
    "payment_method.attached": lambda fake: _card(fake, detach=False),
    "payment_method.detached": lambda fake: _card(fake, detach=True),
    "customer.created": lambda fake: _customer_change(fake, "created"),
    "customer.updated": lambda fake: _customer_change(fake, "updated"),
    "customer.deleted": lambda fake: _customer_change(fake, "deleted"),
    "discount.created": lambda fake: _rule(fake, "created"),
    "discount.updated": lambda fake: _rule(fake, "updated"),
    "discount.deleted": lambda fake: _rule(fake, "deleted"),
    "discount.applied": lambda fake: _applied_discount(fake, "applied"),
    "discount.expired": lambda fake: _applied_discount(fake, "expired"),
    "subscription.created": lambda fake: _subscription(fake, "created"),
    "subscription.updated": lambda fake: _subscription(fake, "updated"),
    "subscription.canceled": lambda fake: _subscription(fake, "canceled"),
    "subscription.trial_will_end": lambda fake: _subscription(fake, "trial_will_end"),
}
SAMPLE_EVENT_TYPES: tuple[str, ...] = tuple(SCENES)
"""The event types ``sample_event`` and ``trigger_event`` can make: every
documented type that CHING sends."""


def _play(event_type: str, url: str, secret: str | None) -> tuple[FakeChing, WebhookEvent]:
    """A fresh fake with `event_type`'s scene played: its endpoint (``url``)
    has the sample queued."""
    scene = SCENES.get(event_type)
    if scene is None:
        raise ValueError(
            f"no sample for event type {event_type!r}; the documented types are: "
            + ", ".join(SAMPLE_EVENT_TYPES)
        )
    fake = FakeChing(webhook_delivery="manual", seed=None)
    act = scene(fake)
    fake.add_webhook_endpoint(url, events=[event_type], secret=secret)
    act()
    return fake, fake.webhook_events()[-1]


def sample_event(event_type: str) -> WebhookEvent:
    """A realistic test-mode event of a documented type (``SAMPLE_EVENT_TYPES``),
    as FakeChing fires it: ``.body`` is the exact JSON a delivery carries (sign
    it with ``ching_async.webhooks.compute_signature(body, secret)``), ``.data``
    the object. Each call makes new ids. An unknown type is a ValueError."""
    return _play(event_type, _NOWHERE, None)[1]


async def trigger_event(event_type: str, url: str, secret: str) -> tuple[WebhookEvent, Delivery]:
    """Send a sample event (see ``sample_event``) to ``url`` once, signed with
    ``secret`` (``Ching-Signature``, as CHING signs), waiting at most 10
    seconds for the answer (as CHING does): the event and the delivery attempt
    (``.ok``, ``.status``, ``.error``). For testing a webhook handler without
    the API: CHING itself has no way to trigger an event. A ``secret`` that is
    not a non-empty string is an ``InvalidParameterError`` (a ValueError)."""
    if not is_webhook_url(url):
        raise ValueError(f"url must be an absolute http(s) URL, got {url!r}")
    if not isinstance(secret, str):  # None would sign with a new secret of the fake's own
        raise InvalidParameterError(
            f"secret must be the endpoint's whsec_... string, got {type(secret).__name__}"
        )
    fake, event = _play(event_type, url, secret)
    try:
        [delivery] = await fake.deliver_pending()
    finally:
        await fake.close()
    return event, delivery
