"""The catalog objects as REFERENCE.md documents them (sections 10 to 12),
every documented field filled, and small images of each accepted type."""

from __future__ import annotations

from typing import Any

PRODUCT: dict[str, Any] = {
    "id": "prod_7Hq2LmR0aZ",
    "object": "product",
    "name": "Pro",
    "description": "Everything, for teams",
    "image_url": "https://files.ching.co.il/images/pro.png",
    "features": [{"title": "SSO", "subtitle": "SAML and OIDC"}, {"title": "Audit log"}],
    "active": True,
    "unlisted": False,
    "metadata": {"plan": "pro"},
    "livemode": False,
    "created": "2026-04-19T09:15:22.000Z",
}
PRICE: dict[str, Any] = {
    "id": "price_Qm3v8KdX1p",
    "object": "price",
    "product": "prod_7Hq2LmR0aZ",
    "currency": "ils",
    "unit_amount": 9900,
    "tax_mode": "inclusive",
    "type": "recurring",
    "recurring": {"interval": "month", "interval_count": 1, "trial_period_days": 14},
    "active": True,
    "metadata": {},
    "livemode": False,
    "created": 1776589963,
}
DISCOUNT: dict[str, Any] = {
    "id": "disc_Lw5n2Cq9Hs",
    "object": "discount",
    "name": "Launch",
    "redemption": "code",
    "code": "LAUNCH",
    "target_type": "prices",
    "targets": ["price_Qm3v8KdX1p"],
    "value_type": "percent",
    "value": 2000,
    "value_tax_mode": None,
    "currency": None,
    "duration": "n_charges",
    "duration_charges": 3,
    "duration_until": None,
    "active_from": "2026-05-01T00:00:00.000Z",
    "active_until": "2026-06-01T00:00:00.000Z",
    "max_redemptions": 100,
    "max_redemptions_per_customer": 1,
    "times_redeemed": 4,
    "active": True,
    "archived": False,
    "metadata": {"campaign": "launch"},
    "livemode": False,
    "created": "2026-04-20T08:00:00.000Z",
}
REDEMPTIONS: dict[str, Any] = {
    "redemptions": [
        {
            "customer": "cus_V8ltq1pK_MWH",
            "customer_name": "Tal Levi",
            "customer_email": "tal@example.com",
            "subscription": "sub_4Tg8",
            "charge": "ch_9mTPfRSDmEOU",
            "charge_amount": 7920,
            "currency": "ils",
            "amount_saved": 1980,
            "created": "2026-05-02T10:00:00.000Z",
        },
        {  # a trial redemption: no charge yet
            "customer": "cus_2",
            "customer_name": "Noa Cohen",
            "customer_email": None,
            "subscription": "sub_5Uh9",
            "charge": None,
            "charge_amount": None,
            "currency": "ils",
            "amount_saved": 0,
            "created": "2026-05-03T10:00:00.000Z",
        },
    ],
    "applied_discounts": [
        {
            "subscription": "sub_4Tg8",
            "status": "active",
            "charges_applied": 1,
            "duration_charges": 3,
            "started_at": "2026-05-02T10:00:00.000Z",
            "ends_at": None,
        }
    ],
}
# `data` of discount.applied / discount.expired (SKILL-WH).
APPLIED_DISCOUNT_EVENT: dict[str, Any] = {
    "id": "evt_9dA",
    "type": "discount.applied",
    "data": {
        "object": "applied_discount",
        "subscription": "sub_4Tg8",
        "discount_row_id": "disc_Lw5n2Cq9Hs",
        "livemode": False,
        "created": "2026-05-02T10:00:00.000Z",
    },
    "livemode": False,
    "created": "2026-05-02T10:00:01.000Z",
}

# A discount rule's create arguments: 20% off the order once, with code LAUNCH.
LAUNCH: dict[str, Any] = {
    "name": "Launch",
    "redemption": "code",
    "code": "launch",
    "target_type": "order",
    "value_type": "percent",
    "value": 2000,
    "duration": "once",
}

# The smallest files each accepted type starts with (their signatures).
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 64
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 64
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 " + b"\x00" * 64
GIF = b"GIF89a" + b"\x00" * 64
IMAGES = {"image/png": PNG, "image/jpeg": JPEG, "image/webp": WEBP, "image/gif": GIF}
