"""Where commands send their requests: the real API, or an embedded fake.

With ``CHING_API_KEY`` set, commands talk to the real API (``CHING_BASE_URL``
is honored by the Client). Without it they run against an in-process
``FakeChing`` on 127.0.0.1, seeded with a little sample data (so that
``charges list``, ``charges capture`` and ``examples/billing.csv`` have
something to work on), and say so in one line on stderr.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, TypeVar

import attrs

from .. import Client
from ._errors import EXIT_OK

if TYPE_CHECKING:
    from ..testing import FakeChing
    from ._output import Output

__all__ = ["Connection", "SampleData", "call", "connect", "embedded_fake", "seed_sample_data"]

T = TypeVar("T")

API_KEY_ENV = "CHING_API_KEY"
# Seconds per attempt against the in-process fake (the real API's default is 30).
# A resumed bulk job waits one attempt timeout before reconciling rows in doubt.
EMBEDDED_TIMEOUT = 5.0


@attrs.frozen
class SampleData:
    """Ids of the sample objects in the embedded fake (stable: the fake is seeded)."""

    customers: dict[str, str]  # name -> customer id
    cards: dict[str, str]  # name -> payment method id
    charges: dict[str, str]  # label -> charge id
    catalog: dict[str, str] = attrs.field(factory=dict)  # label -> product, price, discount id


@attrs.frozen
class Connection:
    client: Client
    fake: FakeChing | None = None
    sample: SampleData | None = None

    @property
    def embedded(self) -> bool:
        return self.fake is not None


def api_key_from_env() -> str | None:
    return os.environ.get(API_KEY_ENV) or None


@asynccontextmanager
async def embedded_fake() -> AsyncIterator[FakeChing]:
    """A FakeChing on 127.0.0.1 with a fixed seed (so ids repeat run to run).

    The request log is off: a million-row job must not keep every request.
    """
    from ..testing import FakeChing  # only commands that need the fake import it

    async with FakeChing(seed=0, log_requests=False) as fake:
        yield fake


def seed_sample_data(fake: FakeChing) -> SampleData:
    """The sample data of the embedded fake. The order of calls fixes the ids."""
    people = [
        ("Tal Levi", "visa", "4242", False),
        ("Noa Cohen", "mastercard", "4444", False),
        ("Avi Mizrahi", "visa", "1881", False),
        ("Dana Katz", "visa", "0002", True),  # every charge on this card is declined
    ]
    customers: dict[str, str] = {}
    cards: dict[str, str] = {}
    for name, brand, last4, declines in people:
        email = name.split()[0].lower() + "@example.com"
        customer = fake.add_customer(name=name, email=email)
        card = fake.add_payment_method(customer.id, brand=brand, last4=last4, declines=declines)
        customers[name], cards[name] = customer.id, card.id
    sample_charges = [  # label, whose card, amount, held for capture, description
        ("succeeded", "Tal Levi", 9900, False, "Pro plan - April"),
        ("to capture", "Noa Cohen", 12000, True, "Variable-weight cart - awaiting fulfilment"),
        ("to cancel", "Avi Mizrahi", 4500, True, "Table reservation deposit"),
    ]
    charges = {
        label: fake.add_charge(
            customers[name],
            cards[name],
            amount=amount,
            capture_method="manual" if held else "automatic",
            description=description,
        ).id
        for label, name, amount, held, description in sample_charges
    }
    return SampleData(
        customers=customers, cards=cards, charges=charges, catalog=_seed_catalog(fake)
    )


def _seed_catalog(fake: FakeChing) -> dict[str, str]:
    """A plan to sell: a product, its monthly and yearly prices, a launch code."""
    product = fake.add_product(
        name="Pro", description="Everything, for teams", features=[{"title": "SSO"}]
    )
    monthly = fake.add_price(
        product.id, unit_amount=9900, type="recurring", recurring={"interval": "month"}
    )
    yearly = fake.add_price(
        product.id, unit_amount=99000, type="recurring", recurring={"interval": "year"}
    )
    launch = fake.add_discount(
        name="Launch", code="LAUNCH", target_type="prices", targets=[monthly.id], value=2000
    )
    return {"product": product.id, "monthly": monthly.id, "yearly": yearly.id, "launch": launch.id}


@asynccontextmanager
async def connect(out: Output) -> AsyncIterator[Connection]:
    """A Client for the real API when CHING_API_KEY is set, else for an embedded fake."""
    api_key = api_key_from_env()
    if api_key is not None:
        async with Client(api_key) as client:
            yield Connection(client)
        return
    async with embedded_fake() as fake:
        sample = seed_sample_data(fake)
        out.notice(
            f"{API_KEY_ENV} is not set: using an embedded fake CHING server at {fake.url} "
            "(in memory, with sample data, gone when this command exits); "
            "nothing is charged for real"
        )
        async with Client(fake.api_key, base_url=fake.url, timeout=EMBEDDED_TIMEOUT) as client:
            yield Connection(client, fake, sample)


async def call(
    out: Output, request: Callable[[Client], Awaitable[T]], show: Callable[[T], None]
) -> int:
    """A command that is one request: send it (see `connect`), then `show` its result.

    An error the request raises reaches ``_app.run``, which prints it and
    chooses the exit code.
    """
    async with connect(out) as conn:
        result = await request(conn.client)
    show(result)
    return EXIT_OK
