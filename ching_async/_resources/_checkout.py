"""`/checkout_sessions` and `/billing_portal_sessions`: the hosted pages where
a customer pays, and where they manage their billing."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal, TypedDict, Unpack

from .._models import BillingPortalSession, CaptureMethod, CheckoutSession, LineItem
from .._retry import Resend
from .._validation import (
    Fields,
    check_background_color,
    check_checkout_payment_methods,
    check_checkout_rules,
    check_coupon_codes,
    check_flag,
    check_id,
    check_line_items,
    check_plain_id,
    check_redirect_url,
    one_of,
)
from ._base import Resource

__all__ = ["BillingPortalSessions", "CheckoutSessions"]

CHECKOUT_PATH = "/checkout_sessions"
PORTAL_PATH = "/billing_portal_sessions"
_CHECKOUT = Fields(
    {
        "customer": check_plain_id,
        "success_url": check_redirect_url,
        "cancel_url": check_redirect_url,
        "price": check_plain_id,
        "line_items": check_line_items,
        "coupon_codes": check_coupon_codes,
        "capture_method": one_of(CaptureMethod),
        "create_document": check_flag,
        "payment_methods": check_checkout_payment_methods,
        "background_color": check_background_color,
        "auto_open_wallets": check_flag,
    },
    required=("customer", "success_url", "cancel_url"),
)
_PORTAL = Fields(
    {"customer": check_plain_id, "return_url": check_redirect_url}, required=("customer",)
)


class CheckoutOptions(TypedDict, total=False):
    """What a checkout sells and how (`checkout_sessions.create` documents
    each); None (the default) leaves an option out."""

    price: str | None
    line_items: Sequence[LineItem | Mapping[str, Any]] | None
    coupon_codes: Sequence[str] | None
    capture_method: CaptureMethod | Literal["automatic", "manual"] | None
    create_document: bool | None
    payment_methods: Sequence[Literal["card", "wallet"]] | None
    background_color: str | None
    auto_open_wallets: bool | None


class CheckoutSessions(Resource):
    """`/checkout_sessions`: a hosted page where a customer pays for a price,
    a cart, or a recurring plan plus one-time items. The only way to make a
    manual-capture charge.

    `create` is retried like a GET: a repeat makes a second session, which
    charges nothing unless the customer pays on it and expires after 30
    minutes unused. (`setup_sessions.create`, older, is not retried.)
    """

    async def create(
        self,
        *,
        customer: str,
        success_url: str,
        cancel_url: str,
        **options: Unpack[CheckoutOptions],
    ) -> CheckoutSession:
        """Open a hosted checkout for `customer` (`cus_...`, who must exist);
        send them to the answer's `url`. They come back to `success_url` or
        `cancel_url`; the charge reaches you by webhook (`charge.succeeded`,
        or `charge.authorized` with manual capture).

        What is sold (`CheckoutOptions`): `price` (one-time, or recurring: a
        subscription), `line_items` (a cart of 1 to 50 lines: `{"name",
        "amount_agorot"}` plus `quantity` up to 1000, `description`, an https
        `image_url`, and `price` or `product` so that their discounts apply),
        or both (a recurring `price` plus one-time lines). `coupon_codes`: up to 20
        codes of up to 64 characters, applied up front (an unknown one is
        `DiscountCodeNotFoundError`). `capture_method="manual"` holds the
        amount for `charges.capture` (one-time prices and carts only).
        `create_document=False` issues no tax document (default: one).

        Embedded checkout only: `payment_methods` (["card"], ["wallet"] or
        both; [] means both), `background_color` (CSS hex: #rgb, #rrggbb or
        #rrggbbaa) and `auto_open_wallets` (opens the wallet sheet at once;
        needs "wallet" allowed, not with manual capture).
        """
        body = _CHECKOUT.body(
            customer=customer, success_url=success_url, cancel_url=cancel_url, **options
        )
        check_checkout_rules(body)
        return await self._call(
            CheckoutSession, "POST", CHECKOUT_PATH, body=body, retry=Resend.SAFE
        )

    async def retrieve(self, id: str) -> CheckoutSession:
        """The checkout session `id` (`co_...`), with its `status`.

        Documented by one source only (the official plugin's API reference,
        which gives its statuses: pending, succeeded, failed, expired,
        canceled); the current docs do not list it. The answer is decoded as
        the create's fields plus `status`; anything else stays in `raw`.
        """
        return await self._call(CheckoutSession, "GET", CHECKOUT_PATH + "/" + check_id("id", id))


class BillingPortalSessions(Resource):
    """`/billing_portal_sessions`: a short-lived link to a customer's billing
    portal, where they see their invoices, change or add a card, cancel or
    resume subscriptions and change plan.

    `create` is retried like a GET: a second link is as harmless as the
    first, and expires unused.
    """

    async def create(self, *, customer: str, return_url: str | None = None) -> BillingPortalSession:
        """A portal link for `customer`; send them to the answer's `url`.
        `return_url` is the portal's "back to site" link (also followed after
        a cancellation). It expires: read `expires_at`."""
        body = _PORTAL.body_of(locals())
        return await self._call(
            BillingPortalSession, "POST", PORTAL_PATH, body=body, retry=Resend.SAFE
        )
