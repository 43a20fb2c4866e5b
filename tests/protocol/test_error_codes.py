"""Documented error codes with a class of their own: chosen by the code when
the status is the one it is documented with, else the status's class."""

from __future__ import annotations

import pickle

import pytest

import ching_async
from ching_async import BadRequestError, UnprocessableEntityError
from tests._support.scripted import Canned, Script, error

CODED = [  # (status, code, class, the status's class)
    (400, "price_archived", ching_async.PriceArchivedError, BadRequestError),
    (400, "target_not_found", ching_async.TargetNotFoundError, BadRequestError),
    (400, "targets_not_supported", ching_async.TargetsNotSupportedError, BadRequestError),
    (400, "DOWNGRADE_IMMEDIATE_NOT_SUPPORTED", ching_async.DowngradeImmediateNotSupportedError,
     BadRequestError),
    (400, "price_not_recurring", ching_async.PriceNotRecurringError, BadRequestError),
    (409, "CUSTOMER_HAS_ACTIVE_SUBSCRIPTION", ching_async.CustomerHasActiveSubscriptionError,
     ching_async.ConflictError),
    (409, "EMAIL_EXISTS", ching_async.EmailExistsError, ching_async.ConflictError),
]  # fmt: skip


@pytest.mark.parametrize(("status", "code", "cls", "base"), CODED)
async def test_a_documented_code_gets_its_class(
    scripted: Script,
    client: ching_async.Client,
    status: int,
    code: str,
    cls: type[ching_async.APIError],
    base: type[ching_async.APIError],
) -> None:
    scripted.on("GET", "/ching/v1/discounts/disc_1", error(status, code, "no"))
    with pytest.raises(cls) as caught:
        await client.discounts.retrieve("disc_1")
    assert type(caught.value) is cls
    assert isinstance(caught.value, base)
    assert (caught.value.status, caught.value.code, caught.value.message) == (status, code, "no")
    again = pickle.loads(pickle.dumps(caught.value))
    assert (type(again), again.code) == (cls, code)


@pytest.mark.parametrize(
    ("status", "code", "cls"),
    [
        (422, "price_archived", UnprocessableEntityError),  # another status: its class
        (404, "target_not_found", ching_async.NotFoundError),
        (400, "PRICE_ARCHIVED", BadRequestError),  # codes are exact
        (400, "brand_new_code", BadRequestError),
    ],
)
async def test_otherwise_the_status_decides(
    scripted: Script, client: ching_async.Client, status: int, code: str, cls: type[Exception]
) -> None:
    scripted.on("GET", "/ching/v1/prices/price_1", error(status, code))
    with pytest.raises(cls) as caught:
        await client.prices.retrieve("price_1")
    assert type(caught.value) is cls


async def test_a_failure_in_a_2xx_envelope_takes_the_code_class_too(
    scripted: Script, client: ching_async.Client
) -> None:
    failure = error(400, "price_archived")
    assert isinstance(failure, Canned)
    scripted.on("GET", "/ching/v1/prices/price_1", Canned(200, failure.body))
    with pytest.raises(ching_async.PriceArchivedError):
        await client.prices.retrieve("price_1")
