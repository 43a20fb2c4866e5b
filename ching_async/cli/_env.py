"""Where commands send their requests: the API a key opens, or, with ``--fake``, an embedded fake.

A command that talks to CHING needs a key: ``--api-key KEY`` or
``CHING_API_KEY`` (``CHING_BASE_URL`` overrides the URL). Without one it
refuses (exit 4, nothing sent): a cron job whose secret went missing must
not look like a billing run. ``--fake`` asks for an in-process ``FakeChing``
on 127.0.0.1 instead, seeded with a little sample data (so that ``charges
list``, ``charges capture`` and ``examples/billing.csv`` have something to
work on), and says so in one line on stderr. ``ching_async.testing`` is
imported only then (and by ``ching demo``).

``_app.run`` hands each command its ``--api-key``/``--fake`` as a `Target`
in a context variable (`using`), so that `connect` and `call` need nothing
but the Output: every command module calls them the same way.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

import attrs

from .. import Client, InvalidParameterError
from .._client import DEFAULT_BASE_URL
from .._secrets import ApiKey
from .._validation import check_base_url
from ._errors import ConfigError, ExitCode, UsageError
from ._options import Handler, api_arguments

if TYPE_CHECKING:
    from ..testing import FakeChing
    from ._output import Output

__all__ = [
    "API_KEY_ENV",
    "BASE_URL_ENV",
    "Connection",
    "SampleData",
    "Target",
    "api_key_from_env",
    "call",
    "connect",
    "current_target",
    "embedded_fake",
    "action_command",
    "list_command",
    "owned_command",
    "retrieve_command",
    "seed_sample_data",
    "using",
]

T = TypeVar("T")

API_KEY_ENV = "CHING_API_KEY"
BASE_URL_ENV = "CHING_BASE_URL"
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


@attrs.frozen(repr=False)
class Target:
    """A command's ``--fake`` and ``--api-key``; `settings` adds the environment."""

    fake: bool = False
    api_key: str | None = None  # --api-key; None: $CHING_API_KEY

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Target:
        fake, api_key = bool(getattr(args, "fake", False)), getattr(args, "api_key", None)
        target = cls(fake=fake, api_key=api_key)
        if target.fake and target.api_key is not None:
            raise UsageError("--fake never uses a key: give --fake or --api-key, not both")
        return target

    def __repr__(self) -> str:  # never the key
        return f"Target(fake={self.fake}, api_key={'given' if self.api_key else None})"

    def settings(self) -> tuple[str, str]:
        """(key, base URL), checked before anything is sent; ConfigError without a
        usable key or URL. Call only when the command will talk to the real API."""
        key, source = self.api_key, "--api-key"
        if key is None:
            key, source = api_key_from_env(), API_KEY_ENV
        if key is None:
            raise ConfigError(
                f"no API key: set {API_KEY_ENV} or pass --api-key KEY; nothing was sent "
                "(--fake runs the command against an embedded fake CHING server instead)"
            )
        try:
            checked = ApiKey(key)
        except InvalidParameterError as exc:  # its message never shows the key
            raise ConfigError(f"{source} is not a usable API key: {exc}") from None
        base_url = os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL
        try:
            base_url = check_base_url(base_url, checked)
        except InvalidParameterError as exc:
            raise ConfigError(f"{BASE_URL_ENV} is not usable: {exc}") from None
        return key, base_url

    def client(self, **options: Any) -> Client:
        """A Client for the real API (see `settings`), with Client `options`."""
        key, base_url = self.settings()
        return Client(key, base_url=base_url, **options)


_target: ContextVar[Target | None] = ContextVar("ching_cli_target", default=None)


@contextmanager
def using(target: Target) -> Iterator[None]:
    """`target` for the commands run inside (see the module docstring)."""
    token = _target.set(target)
    try:
        yield
    finally:
        _target.reset(token)


def current_target() -> Target:
    """The running command's (no --fake, no --api-key outside one)."""
    return _target.get() or Target()


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
    """A Client for the API the key opens; with --fake, for an embedded fake."""
    target = current_target()
    if not target.fake:
        async with target.client() as client:
            yield Connection(client)
        return
    async with embedded_fake() as fake:
        sample = seed_sample_data(fake)
        ignored = f" ({API_KEY_ENV} is ignored)" if api_key_from_env() is not None else ""
        out.notice(
            f"--fake: using an embedded fake CHING server at {fake.url}{ignored} "
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
    return ExitCode.OK


def retrieve_command(group: str, printer: str) -> Handler:
    """`ching <group> get ID`: `client.<group>.retrieve(ID)`, printed by `out.<printer>`."""

    async def get(args: argparse.Namespace, out: Output) -> int:
        return await call(
            out, lambda client: getattr(client, group).retrieve(args.id), getattr(out, printer)
        )

    return get


def list_command(group: str, printer: str) -> Handler:
    """`ching <group> list`: `client.<group>.list()`, printed by `out.<printer>`."""

    async def list_all(args: argparse.Namespace, out: Output) -> int:
        return await call(out, lambda client: getattr(client, group).list(), getattr(out, printer))

    return list_all


def action_command(group: str, method: str, printer: str, title: str, *names: str) -> Handler:
    """`ching <group> <action> ID`: a change to one object,
    `client.<group>.<method>(ID, <names>...)` with the options `names` (named
    as the API's arguments), printed by `out.<printer>` under `title`."""

    async def act(args: argparse.Namespace, out: Output) -> int:
        options = api_arguments(args, *names)
        return await call(
            out,
            lambda client: getattr(getattr(client, group), method)(args.id, **options),
            partial(getattr(out, printer), title=title),
        )

    return act


def owned_command(group: str, method: str, printer: str, owner: str) -> Handler:
    """`ching <group> <action> ID`: what belongs to one object,
    `client.<group>.<method>(ID)`, printed by `out.<printer>` with `<owner>=ID`."""

    async def owned(args: argparse.Namespace, out: Output) -> int:
        show = partial(getattr(out, printer), **{owner: args.id})
        return await call(
            out, lambda client: getattr(getattr(client, group), method)(args.id), show
        )

    return owned
