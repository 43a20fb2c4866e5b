"""``FakeChing``: the in-memory CHING server, its seeding helpers and state queries."""

from __future__ import annotations

import asyncio
import functools
import inspect
import random
from collections.abc import Callable, Coroutine, Iterable, Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any, Concatenate, Generic, Literal, ParamSpec, Self, TypeVar, Unpack, overload

import orjson
from aiohttp import web

from ._app import Gateway
from ._auth import KeyRing
from ._billing import Billing
from ._checkout import complete_checkout
from ._clock import OffsetClock
from ._faults import FaultSet
from ._files import FileHost
from ._ids import IdFactory
from ._log import RequestRecord

# The fake's record types, named again in _state: each module imports what it uses.
from ._models import (
    BillingPortalSession,
    CardOptions,
    Charge,
    CheckoutSession,
    Customer,
    Discount,
    Document,
    PaymentMethod,
    Price,
    Product,
    Redemption,
    Refund,
    SetupSession,
    Subscription,
    UploadedImage,
    WebhookEndpoint,
)
from ._state import Ledger
from ._subscriptions import DECLINED_FIRST_CHARGE, DeclinedFirstCharge, parse_seeded_discounts
from ._thread import LoopThread
from ._validation import (
    ChargeParams,
    CustomerParams,
    is_positive_int,
    is_webhook_url,
    parse_discount,
    parse_price,
    parse_product,
)
from ._webhooks import Delivery, WebhookDispatcher, WebhookEvent

API_PREFIX = "/ching/v1"
_SHUTDOWN_TIMEOUT = 1.0  # in-flight handlers get this long when the fake closes

T = TypeVar("T")
P = ParamSpec("P")


class _Forwarded(Generic[T]):
    """A setting of FakeChing that lives on one of its parts, read and written there."""

    def __init__(self, part: str, doc: str) -> None:
        self._part = part  # the FakeChing attribute holding it: "_keys", "_gateway"
        self.__doc__ = doc

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = name

    @overload
    def __get__(self, fake: None, owner: type) -> Self: ...

    @overload
    def __get__(self, fake: FakeChing, owner: type) -> T: ...

    def __get__(self, fake: FakeChing | None, owner: type) -> T | Self:
        if fake is None:
            return self
        value: T = getattr(getattr(fake, self._part), self._name)
        return value

    def __set__(self, fake: FakeChing, value: T) -> None:
        setattr(getattr(fake, self._part), self._name, value)


def _caller_thread(method: Callable[P, T]) -> Callable[P, T]:
    """Mark a public method that runs on the caller's thread (see ``_helpers_on_own_loop``)."""
    method._caller_thread = True  # type: ignore[attr-defined]
    return method


def _on_own_loop(
    method: Callable[Concatenate[FakeChing, P], T],
) -> Callable[Concatenate[FakeChing, P], T]:
    @functools.wraps(method)
    def helper(fake: FakeChing, /, *args: P.args, **kwargs: P.kwargs) -> T:
        thread = fake._thread
        if thread is None or thread.is_current():
            return method(fake, *args, **kwargs)
        return thread.call(functools.partial(method, fake, *args, **kwargs))

    return helper


C = TypeVar("C", bound=type)


def _helpers_on_own_loop(cls: C) -> C:
    """Every public sync method of ``cls`` (a helper: it reads or changes the fake's
    state) runs on the fake's loop when called from another thread while the fake
    serves from its own (``start_in_thread``). The state is only ever touched on that
    loop, between two steps of its requests, so no lock is needed and none is raced.
    """
    for name, value in list(vars(cls).items()):
        if name.startswith("_") or not inspect.isfunction(value):
            continue
        if inspect.iscoroutinefunction(value) or getattr(value, "_caller_thread", False):
            continue
        setattr(cls, name, _on_own_loop(value))
    return cls


@_helpers_on_own_loop
class FakeChing:
    """A faithful in-memory CHING API server for tests, demos and benchmarks.

    ``async with FakeChing() as fake:`` serves on an ephemeral 127.0.0.1 port;
    hand ``fake.url`` and ``fake.api_key`` to a client. ``with FakeChing() as fake:``
    serves from a thread and event loop of its own instead, for sync code.

    Settings are attributes (``url``, ``api_key``, ``faults``, ``live_keys_active``);
    everything that reads what happened is a method (``charges()``, ``requests()``,
    ``webhook_events()``, ``pending_commits()``). ``fake.app`` is the underlying
    ``aiohttp.web.Application`` if you prefer to run it yourself.

    ``seed`` makes ids, generated API keys and fault draws reproducible (``None``: random).
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str | None = None,
        live_api_key: str | None = None,
        clock: Callable[[], datetime] | None = None,
        seed: int | str | None = 0,
        honor_idempotency_keys: bool = False,
        log_requests: bool = True,
        webhook_delivery: Literal["background", "manual"] = "background",
    ) -> None:
        _check_arguments(host, port, api_key, live_api_key, clock)
        if webhook_delivery not in ("background", "manual"):
            raise ValueError(
                f"webhook_delivery must be 'background' or 'manual', got {webhook_delivery!r}"
            )
        self._host = host
        self._port = port
        self._clock = OffsetClock(clock)
        # Separate streams: creating objects must not shift the fault draws.
        ids = IdFactory(random.Random(None if seed is None else f"{seed}:ids"))
        self.ledger = Ledger(self._clock, ids)
        self._billing = Billing(self.ledger)
        self._webhook_delivery = webhook_delivery
        self._webhooks = WebhookDispatcher(
            IdFactory(random.Random(None if seed is None else f"{seed}:webhooks")),
            self._clock,
            self.ledger.webhook_endpoints,
        )
        self.ledger.on_event = self._webhooks.emit
        self.faults = FaultSet(random.Random(seed))
        self._requests: list[RequestRecord] = []
        self._keys = KeyRing()
        log = self._requests if log_requests else None
        self.api_key = api_key if api_key is not None else ids.api_key(live=False)
        self.live_api_key = live_api_key if live_api_key is not None else ids.api_key(live=True)
        self._require_mode(self.api_key, live=False)
        self._require_mode(self.live_api_key, live=True)
        self._gateway = Gateway(
            ledger=self.ledger,
            keys=self._keys,
            faults=self.faults,
            honor_idempotency_keys=honor_idempotency_keys,
            log=log,
        )
        self.app: web.Application = self._gateway.build_app()
        self._files = FileHost(self.ledger, self._keys, self.faults, log)
        self.ledger.pdf_redirect = self._files.redirect
        self._runner: web.AppRunner | None = None
        self._root_url: str | None = None
        self._thread: LoopThread | None = None  # set by start_in_thread

    def _require_mode(self, key: str, *, live: bool) -> None:
        if self._keys.add(key) is not live:
            raise ValueError(f"expected a {'live' if live else 'test'} key, got {key!r}")

    # -- lifecycle --------------------------------------------------------------------

    async def start(self) -> None:
        """Serve on the running event loop (``async with`` does it); ``url`` is set from then."""
        if self._runner is not None:
            raise RuntimeError("FakeChing is already running")
        runner = web.AppRunner(
            self.app, access_log=None, handle_signals=False, shutdown_timeout=_SHUTDOWN_TIMEOUT
        )
        await runner.setup()
        try:
            await web.TCPSite(runner, self._host, self._port).start()
            host, port = runner.addresses[0][:2]
            await self._files.start(self._host, _url_host(host))
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._root_url = f"http://{_url_host(host)}:{port}"
        if self._webhook_delivery == "background":
            self._webhooks.start()

    async def close(self) -> None:
        """Stop serving. Undelivered webhook events are dropped (see ``deliver_pending``)."""
        runner, self._runner = self._runner, None
        if runner is not None:
            self._gateway.stop_pauses()
            await runner.cleanup()
            await self._files.close()
            await self._gateway.finish_late_commits()
        await self._webhooks.close()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @_caller_thread
    def start_in_thread(self) -> Self:
        """Serve from a new daemon thread with an event loop of its own; return once serving.

        For sync code and sync test clients (Starlette's ``TestClient``, Django's), which
        block their own thread's loop. While it runs, every helper called from another
        thread (``add_customer``, ``charges``, ``requests``...) runs on the fake's loop
        and waits for it there, so it never races a request. ``stop_thread`` stops it;
        ``with FakeChing() as fake:`` does both.
        """
        if self._thread is not None or self._runner is not None:
            raise RuntimeError("FakeChing is already running")
        thread = LoopThread(f"FakeChing-{id(self):x}")
        try:
            thread.run(self.start())
        except BaseException:
            thread.stop()
            raise
        self._thread = thread
        return self

    @_caller_thread
    def stop_thread(self) -> None:
        """Stop serving (as ``close``) and end the thread ``start_in_thread`` started."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        if thread.is_current():
            self._thread = thread
            raise RuntimeError("stop_thread() cannot run on the fake's own thread")
        try:
            thread.run(self.close())
        finally:
            thread.stop()

    def __enter__(self) -> Self:
        return self.start_in_thread()

    def __exit__(self, *exc_info: object) -> None:
        self.stop_thread()

    @_caller_thread
    def run_coroutine(self, coro: Coroutine[Any, Any, T]) -> T:
        """From sync code, run a coroutine on the fake's own loop and return its result:
        ``fake.run_coroutine(fake.deliver_pending())``. Only after ``start_in_thread``."""
        thread = self._thread
        if thread is None or thread.is_current():
            coro.close()
            where = "on the fake's own thread" if thread else "without start_in_thread()"
            raise RuntimeError(f"run_coroutine() cannot run {where}; await the coroutine")
        return thread.run(coro)

    async def _on_own_loop(self, coro: Coroutine[Any, Any, T]) -> T:
        """Await ``coro`` on the fake's loop, from whichever loop the caller is on."""
        thread = self._thread
        if thread is None or thread.is_current():
            return await coro
        return await asyncio.wrap_future(thread.submit(coro))

    @property
    def root_url(self) -> str:
        """``http://127.0.0.1:<port>``, without the API prefix."""
        if self._root_url is None:
            raise RuntimeError("FakeChing is not running; use `async with FakeChing()`")
        return self._root_url

    @property
    def url(self) -> str:
        """The base URL to hand a client: ``http://127.0.0.1:<port>/ching/v1``."""
        return self.root_url + API_PREFIX

    @property
    def file_host_url(self) -> str:
        """``http://127.0.0.1:<another port>``: the file host ``redirect_pdfs`` sends
        PDF downloads on to, another origin than ``url``."""
        return self._files.url

    # -- configuration ----------------------------------------------------------------

    def add_api_key(self, key: str) -> None:
        """Accept another key; its prefix (ck_test_, ck_live_, sk_test_, sk_live_) sets mode."""
        self._keys.add(key)

    def redirect_pdfs(self, status: int | None = 302, *, to: str = "files", hops: int = 1) -> None:
        """Answer ``GET /documents/:id/pdf`` with a redirect (``status``: 301, 302,
        303, 307 or 308) instead of the PDF itself; ``None`` serves the PDF again.

        ``to="files"`` (the default): on to ``file_host_url/doc/<id>.pdf``, another
        origin, which serves the PDF without a key and answers 403
        ``API_KEY_SENT_TO_FILE_HOST`` to a request that carries one of the fake's
        keys. ``to="api"``: on to the same route on the API's own origin (a
        relative Location, ``pdf?hop=1``), which wants the key as every API route
        does, and then serves the PDF. Any other string is the URL to send to,
        ``{id}`` replaced by the document's id (``"http://files.example/{id}.pdf"``,
        which a client must refuse to follow). ``hops``: how many redirects in a
        row, all but the last on the API's origin. Served by ``start``: not part of
        ``app``.
        """
        self._files.configure(status, to, hops)

    live_keys_active = _Forwarded[bool](
        "_keys", "``False``: live keys get 403 ``LIVE_KEY_INACTIVE``."
    )

    def pending_commits(self) -> int:
        """Requests accepted and not yet committed: ``latency`` pauses and
        ``*_then_commit`` faults still waiting. At 0, the state changes only with
        new requests (count charges then)."""
        return self._gateway.pending_commits

    async def wait_for_commits(self) -> None:
        """Return once ``pending_commits()`` is 0 (at once if it is): every request
        accepted so far that will commit has committed."""
        await self._on_own_loop(self._gateway.wait_for_commits())

    honor_idempotency_keys = _Forwarded[bool](
        "_gateway", "``True``: a repeated POST ``Idempotency-Key`` gets the first answer again."
    )

    # -- clock ------------------------------------------------------------------------

    def now(self) -> datetime:
        """The fake's time (moved forward by ``advance``)."""
        return self._clock()

    def advance(self, delta: timedelta) -> None:
        """Move the fake's time forward (on top of whatever clock was injected).

        Billing runs on the way: every renewal, trial end, dunning retry and
        expiry due by then happens at its own moment, in order, firing its
        events then (see ``add_subscription``). Time never goes back: a negative
        ``delta`` is a ``ValueError``.
        """
        if not isinstance(delta, timedelta):
            raise TypeError(
                f"delta must be a datetime.timedelta (timedelta(days=1)), got {delta!r}"
            )
        if delta < timedelta(0):
            raise ValueError(f"the fake's clock only moves forward; got delta={delta}")
        self._billing.advance(self._clock, delta)

    # -- seeding helpers ---------------------------------------------------------------

    def add_customer(
        self,
        *,
        name: str | None = "Test Customer",
        email: str | None = None,
        id: str | None = None,
        metadata: dict[str, Any] | None = None,
        livemode: bool = False,
        phone: str | None = None,
        tax_id: str | None = None,
        locale: str | None = None,
    ) -> Customer:
        """Seed a customer. ``phone`` is stored as given (the API normalizes to E.164)."""
        fields = {"name": name, "email": email, "phone": phone, "tax_id": tax_id, "locale": locale}
        params = CustomerParams({**fields, "metadata": metadata})
        return self.ledger.create_customer(params, livemode=livemode, customer_id=id)

    def add_payment_method(
        self, customer: str, *, livemode: bool = False, **card: Unpack[CardOptions]
    ) -> PaymentMethod:
        """Attach a test card (``CardOptions``: ``brand``, ``last4``; ``declines=True``
        makes every charge on it fail, 402)."""
        return self.ledger.add_payment_method(customer, livemode=livemode, **card)

    def complete_setup_session(self, id: str, **card: Unpack[CardOptions]) -> PaymentMethod:
        """Play the hosted card page: the session succeeds and a new card
        (``CardOptions``, as for ``add_payment_method``) is attached.

        Raises ``FakeApiError`` (400 ``SESSION_EXPIRED`` / ``SESSION_NOT_PENDING``).
        """
        return self.ledger.complete_setup_session(id, **card)

    def add_charge(
        self,
        customer: str,
        payment_method: str | None = None,
        *,
        amount: int = 1000,
        currency: str = "ils",
        capture_method: Literal["automatic", "manual"] = "automatic",
        description: str | None = None,
        installments: int = 1,
        metadata: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
        livemode: bool = False,
    ) -> Charge:
        """Seed a charge without HTTP. ``capture_method="manual"`` -> ``requires_capture``.

        Without ``payment_method`` the customer's first card is used (one is attached
        if it has none). A declining card stores a ``failed`` charge and returns it.
        """
        if not is_positive_int(amount):
            raise ValueError(f"amount must be a positive integer, got {amount!r}")
        method = payment_method or self._default_payment_method(customer)
        params = ChargeParams(
            customer, method, amount, currency.lower(), description, installments, metadata
        )
        return self.ledger.create_charge(
            params,
            livemode=livemode,
            idempotency_key=idempotency_key,
            capture_method=capture_method,
        )

    def _default_payment_method(self, customer: str) -> str:
        method = self.ledger.default_payment_method(customer)
        if method is not None:
            return method.id
        methods = self.ledger.payment_methods_of(customer)
        return methods[0].id if methods else self.add_payment_method(customer).id

    # -- state queries ----------------------------------------------------------------

    def customer(self, id: str) -> Customer:
        """A customer (a deleted one too); ``FakeApiError`` 404 for an unknown id."""
        return self.ledger.customers.find(id)

    def charge(self, id: str) -> Charge:
        """A charge; ``FakeApiError`` 404 for an unknown id."""
        return self.ledger.charges.find(id)

    def setup_session(self, id: str) -> SetupSession:
        """A setup session; ``FakeApiError`` 404 for an unknown id."""
        return self.ledger.setup_sessions.find(id)

    def payment_method(self, id: str) -> PaymentMethod:
        """A card (a detached one too); ``FakeApiError`` 404 for an unknown id."""
        return self.ledger.payment_methods.find(id)

    def payment_methods_for(self, customer: str) -> list[PaymentMethod]:
        """The customer's active (attached) cards, oldest first."""
        return self.ledger.payment_methods_of(customer)

    def customers(self) -> list[Customer]:
        """Every customer, soft-deleted ones included (``deleted=True``), oldest first."""
        return list(self.ledger.customers.values())

    def refund(self, id: str) -> Refund:
        """A refund; ``FakeApiError`` 404 for an unknown id."""
        return self.ledger.refunds.find(id)

    def refunds(self) -> list[Refund]:
        """Every refund, oldest first."""
        return list(self.ledger.refunds.values())

    def refunds_for(self, charge: str) -> list[Refund]:
        """The charge's refunds, oldest first."""
        return [refund for refund in self.ledger.refunds.values() if refund.charge == charge]

    def document(self, id: str) -> Document:
        """A tax document; ``document.pdf()`` is the PDF the API serves for it."""
        return self.ledger.documents.find(id)

    def documents(self) -> list[Document]:
        """Every tax document, oldest first: one per captured charge."""
        return list(self.ledger.documents.values())

    def expire_authorizations(self) -> list[Charge]:
        """Run CHING's daily sweep now: every ``requires_capture`` charge past its
        ``capturable_until`` (7 days; see ``advance``) is canceled with
        ``cancellation_reason`` ``expired``, firing ``charge.canceled``. Returns them."""
        return self.ledger.expire_authorizations()

    # -- products, prices and discounts -----------------------------------------------

    def add_product(
        self,
        *,
        name: str = "Test Product",
        livemode: bool = False,
        active: bool = True,
        **fields: Any,
    ) -> Product:
        """Seed a product; ``fields`` as ``POST /products`` takes them (``description``,
        ``image_url``, ``features``, ``metadata``), checked as the API checks them
        (``FakeApiError``; a field it does not know: ``TypeError``). ``active=False``
        seeds a deactivated one."""
        _known_fields("add_product", fields, _PRODUCT_FIELDS)
        sent = parse_product({"name": name, **fields})
        return self.ledger.create_product({**sent, "active": active}, livemode=livemode)

    def add_price(
        self,
        product: str,
        *,
        unit_amount: int = 1000,
        type: Literal["one_time", "recurring"] = "one_time",
        livemode: bool = False,
        active: bool = True,
        **fields: Any,
    ) -> Price:
        """Seed a price of ``product``; ``fields`` as ``POST /prices`` takes them
        (``recurring={"interval": "month"}`` for a recurring one, ``currency``,
        ``tax_mode``, ``metadata``), checked as the API checks them (a field it does
        not know: ``TypeError``). ``active=False`` seeds an archived one
        (``price_archived`` on use)."""
        _known_fields("add_price", fields, _PRICE_FIELDS)
        body = {"product": product, "unit_amount": unit_amount, "type": type, **fields}
        sent = parse_price(body)
        return self.ledger.create_price({**sent, "active": active}, livemode=livemode)

    def add_discount(
        self,
        *,
        name: str = "Test Discount",
        redemption: Literal["automatic", "code"] = "code",
        code: str | None = "TEST",
        target_type: Literal["order", "products", "prices"] = "order",
        value_type: Literal["percent", "amount", "override"] = "percent",
        value: int = 1000,
        duration: Literal["once", "n_charges", "until_date", "forever"] = "once",
        livemode: bool = False,
        **fields: Any,
    ) -> Discount:
        """Seed a discount rule (by default code ``TEST``, 10% off the order, once);
        ``fields`` as ``POST /discounts`` takes them (``targets``, ``currency``,
        ``duration_charges``, ``active_from``, ``max_redemptions``...), checked as
        the API checks them (a field it does not know: ``TypeError``). Emits
        ``discount.created``."""
        _known_fields("add_discount", fields, _DISCOUNT_FIELDS)
        body = {
            "name": name,
            "redemption": redemption,
            "code": code if redemption == "code" else None,
            "target_type": target_type,
            "value_type": value_type,
            "value": value,
            "duration": duration,
            **fields,
        }
        return self.ledger.create_discount(parse_discount(body), livemode=livemode)

    def archive_price(self, id: str) -> Price:
        """Archive a price, as the dashboard does (the API has no endpoint for it):
        updating it then answers 400 ``price_archived``."""
        return self.ledger.archive_price(id)

    # Alike in shape only to the ledger's: this one takes ids, by the API's names; the
    # ledger's takes the records its callers (checkout, billing) already hold.
    def add_redemption(
        self,
        discount: str,
        *,
        customer: str,
        amount_saved: int,
        charge: str | None = None,
        subscription: str | None = None,
    ) -> Redemption:
        """Record a use of a discount rule, as checkout and subscriptions record
        theirs: a row of ``GET /discounts/:id/redemptions``, ``times_redeemed``
        counted up. ``charge`` gives the row its amount and currency."""
        rule = self.ledger.discounts.find(discount)
        paid = None if charge is None else self.ledger.charges.find(charge)
        return self.ledger.add_redemption(rule, customer, amount_saved, paid, subscription)

    def product(self, id: str) -> Product:
        """A product; ``FakeApiError`` 404 for an unknown id."""
        return self.ledger.products.find(id)

    def products(self) -> list[Product]:
        """Every product, oldest first."""
        return list(self.ledger.products.values())

    def price(self, id: str) -> Price:
        """The price as of the fake's now (a scheduled change that is due has applied);
        ``price.migrations`` lists its changes, ``price.pending_migration`` the one
        still scheduled."""
        return self.ledger.price(id)

    def prices(self, product: str | None = None) -> list[Price]:
        """Every price (of ``product``, if given), archived ones too, oldest first."""
        return self.ledger.all_prices(product)

    def discount(self, id: str) -> Discount:
        """A discount rule (an archived one too); ``FakeApiError`` 404 for an unknown id."""
        return self.ledger.discounts.find(id)

    def discounts(self) -> list[Discount]:
        """Every discount rule, archived ones too, oldest first."""
        return list(self.ledger.discounts.values())

    def discounts_with_code(self, code: str, *, livemode: bool = False) -> list[Discount]:
        """The rules ``code`` redeems (any case; codes are not unique), newest first,
        archived ones left out."""
        return self.ledger.discounts_with_code(code, livemode=livemode)

    def uploaded_images(self) -> list[UploadedImage]:
        """Every image ``POST /products/upload_image`` hosted, oldest first."""
        return list(self.ledger.images)

    # -- checkout sessions and the billing portal --------------------------------------

    express_checkout = _Forwarded[bool](
        "ledger",
        "``False``: the project has no wallets (express checkout), so a checkout "
        "session with ``auto_open_wallets`` answers 400 ``express_checkout_disabled``.",
    )

    def complete_checkout(
        self,
        id: str,
        *,
        card_index: int = 0,
        declines: bool = False,
        payment_method: str | None = None,
    ) -> Charge | None:
        """Play the hosted checkout page: the customer pays, and the charge is returned.

        They pay with a new test card (``card_index`` 0-2: visa, mastercard, amex;
        ``declines=True`` makes it decline), or with one of their saved cards
        (``payment_method``). The amount is the price (VAT added to an ``exclusive``
        one) or the cart's total, less the automatic discounts and those of the
        session's ``coupon_codes`` that apply (each use recorded as a redemption).
        The charge is made as any charge (its webhook event fires, signed, to the
        registered endpoints): ``charge.succeeded``, ``charge.authorized`` for a
        session with ``capture_method="manual"`` (status ``requires_capture``;
        a saved card ignores manual capture, as on CHING), ``charge.failed`` for a
        decline. The tax document is issued at capture unless the session has
        ``create_document=False``. A new card is not saved to the customer.

        A session selling a recurring price (alone, or with line items: a mixed
        session) starts a subscription, as ``POST /subscriptions`` does, billed
        to the card (its ``default_payment_method``, not among the customer's cards:
        REFERENCE.md 8, 9 and 16 do not say that a checkout saves it, nor list a
        ``payment_method.attached`` for one) by ``advance`` from then on:
        one charge of the first period and the line items (only the line items
        during a trial; None is returned when nothing is due now), then
        ``subscription.created`` and the charge's event, in that order. A rule
        that reaches the plan (order-wide, or it targets the price or its
        product) is applied to the subscription and lasts its duration
        (``discount.applied``); the others take off the lines they target. A
        declined charge leaves the subscription ``incomplete`` and the session
        open: paid on another try, it is ``subscription.updated`` instead of
        created. ``checkout_session(id).subscription`` names it.

        The session then reads ``succeeded``; a declined card leaves it ``pending``
        for another try. Raises ``FakeApiError`` (400 ``SESSION_EXPIRED`` after 30
        minutes, ``SESSION_NOT_PENDING`` once paid) and ``CheckoutNotModeledError``
        for a one-time price or a cart with nothing left to pay.
        """
        return complete_checkout(
            self.ledger, id, card_index=card_index, declines=declines, payment_method=payment_method
        )

    def checkout_session(self, id: str) -> CheckoutSession:
        """A checkout session with what it was created with; ``charges`` lists the
        charges tried on its page, ``discounts`` the rules the paid one used,
        ``subscription`` the subscription a recurring price's session started."""
        return self.ledger.checkout_sessions.find(id)

    def checkout_sessions(self) -> list[CheckoutSession]:
        """Every checkout session, oldest first (``status`` is the stored one:
        ``checkout_session(id).status_at(fake.now())`` says whether it expired)."""
        return list(self.ledger.checkout_sessions.values())

    def billing_portal_sessions(self) -> list[BillingPortalSession]:
        """Every billing portal link made, oldest first (``url``, ``customer``)."""
        return list(self.ledger.portal_sessions.values())

    # -- subscriptions ----------------------------------------------------------------

    @property
    def declined_first_charge(self) -> DeclinedFirstCharge:
        """How ``POST /subscriptions`` answers a declined first charge, both
        documented: ``"incomplete"`` (the default: an ``incomplete`` subscription
        whose ``latest_charge`` is the failed charge) or ``"charge_failed"``
        (402 ``CHARGE_FAILED``, and no subscription)."""
        return self.ledger.schedule.declined_first_charge

    @declined_first_charge.setter
    def declined_first_charge(self, value: DeclinedFirstCharge) -> None:
        if value not in DECLINED_FIRST_CHARGE:
            raise ValueError(f"declined_first_charge must be one of {DECLINED_FIRST_CHARGE}")
        self.ledger.schedule.declined_first_charge = value

    def add_subscription(
        self,
        customer: str,
        price: str,
        *,
        payment_method: str | None = None,
        discounts: Iterable[str | Mapping[str, str]] = (),
        metadata: dict[str, Any] | None = None,
        livemode: bool = False,
    ) -> Subscription:
        """Subscribe ``customer`` to a recurring ``price`` as ``POST /subscriptions``
        does: the first period is charged now (not during a trial, nor for a
        0-amount price), events fire. Without ``payment_method`` the customer's
        first card is used (one is attached if it has none) for a paid price.
        ``discounts``: as the body's (``{"code": "LAUNCH"}``,
        ``{"discount": "disc_..."}``), or just the code or the rule id.

        ``advance`` then bills it on the fake's clock: renewals, trials
        (``subscription.trial_will_end`` 3 days before the end), dunning of a
        declined renewal (``past_due``, retries on days 3, 7 and 14, then
        ``canceled``), ``incomplete`` -> ``incomplete_expired`` after 23 hours.
        """
        if isinstance(discounts, str | bytes | Mapping) or not isinstance(discounts, Iterable):
            raise TypeError(f"discounts must be a list of codes or rule ids, got {discounts!r}")
        wanted = parse_seeded_discounts(discounts)
        if payment_method is None and self.ledger.price(price).unit_amount > 0:
            payment_method = self._default_payment_method(customer)
        return self._billing.create(
            customer, price, payment_method, wanted, metadata, livemode=livemode
        )

    def subscription(self, id: str) -> Subscription:
        """A subscription as of the fake's now; ``.discounts`` are its applied
        discounts (``status``, ``charges_applied``)."""
        self._billing.catch_up()
        return self.ledger.subscriptions.find(id)

    def subscriptions(self) -> list[Subscription]:
        """Every subscription, ended ones too, oldest first."""
        self._billing.catch_up()
        return list(self.ledger.subscriptions.values())

    def decline_next_charges(self, payment_method: str, times: int | None = None) -> None:
        """Make charges on a card fail with ``card_declined``: the next ``times``
        ones, or (None) every one until ``fake.payment_method(id).declines = False``.
        Renewals and their dunning retries charge the subscription's card."""
        method = self.ledger.payment_methods.find(payment_method)
        if times is None:
            method.declines = True
        elif is_positive_int(times):
            method.declines_left = times
        else:
            raise ValueError(f"times must be a positive integer or None, got {times!r}")

    # -- webhooks ---------------------------------------------------------------------

    def add_webhook_endpoint(
        self,
        url: str,
        *,
        events: Iterable[str] = ("*",),
        livemode: bool = False,
        secret: str | None = None,
    ) -> str:
        """Deliver events to ``url`` (``events``: types, or ``"*"``); returns the ``whsec_`` secret.

        The endpoint is registered as ``POST /webhooks`` would (``GET /webhooks`` lists
        it, with a numeric id). Events are emitted by state changes
        (``charge.succeeded|failed|authorized|captured|canceled``, ``refund.created``,
        ``customer.created|updated|deleted``, ``payment_method.attached|detached``),
        whether made over HTTP or by the seeding helpers. A test-mode endpoint (the
        default) gets test-mode events only.
        """
        if not is_webhook_url(url):
            raise ValueError(f"url must be an absolute http(s) URL, got {url!r}")
        wanted = list(events)
        if not wanted or not all(isinstance(e, str) and e for e in wanted):
            raise ValueError("events must be a non-empty list of event types (or ['*'])")
        endpoint = self.ledger.create_webhook_endpoint(
            url, wanted, livemode=livemode, secret=self._webhooks.new_secret(secret)
        )
        return endpoint.secret

    def remove_webhook_endpoint(self, url: str) -> None:
        """Stop delivering to ``url``: its endpoints (of both modes) are deleted, and
        pending deliveries to them are dropped."""
        for key, endpoint in list(self.ledger.webhook_endpoints.items()):
            if endpoint.url == url:
                del self.ledger.webhook_endpoints[key]

    def webhook_endpoints(self) -> list[WebhookEndpoint]:
        """Every registered endpoint of both modes (API-made or added here), oldest
        first; each has its ``secret``."""
        return list(self.ledger.webhook_endpoints.values())

    async def deliver_pending(self) -> list[Delivery]:
        """Deliver every queued event now, one attempt each; returns those attempts.

        With background delivery this also waits for a round already in flight, so
        when it returns, everything emitted before the call has had an attempt.
        Failed deliveries stay queued for the next round (up to 5 attempts).
        """
        return await self._on_own_loop(self._webhooks.deliver_pending())

    def resend_webhook_event(self, id: str) -> None:
        """Queue a repeat delivery of an event, as CHING may deliver one twice.

        An unknown id raises ``FakeApiError`` (404 ``NOT_FOUND``; also a ``KeyError``).
        """
        self._webhooks.resend(id)

    def webhook_events(self) -> list[WebhookEvent]:
        """Every event emitted to at least one endpoint, oldest first."""
        return list(self._webhooks.events)

    def webhook_deliveries(self) -> list[Delivery]:
        """Every delivery attempt so far, oldest first."""
        return list(self._webhooks.deliveries)

    def pending_webhooks(self) -> int:
        """Deliveries queued and not yet attempted (or queued again after a failure)."""
        return self._webhooks.pending

    def charges(self) -> list[Charge]:
        """Every charge (failed ones included), oldest first."""
        return self.ledger.all_charges()

    def charges_for(self, customer: str) -> list[Charge]:
        """The customer's charges, oldest first."""
        return self.ledger.charges_of(customer)

    def duplicates_by_idempotency_key(self) -> dict[str, list[Charge]]:
        """Idempotency-Key -> charges, for keys that created more than one charge."""
        groups = self.ledger.charges_by_idempotency_key()
        return {key: group for key, group in groups.items() if len(group) > 1}

    def duplicates_by_metadata(self, metadata_key: str) -> dict[str, list[Charge]]:
        """metadata[metadata_key] -> charges, for values shared by more than one charge.

        String values are used as-is; other JSON values by their JSON text.
        """
        groups: dict[str, list[Charge]] = {}
        for charge in self.ledger.iter_charges():
            if metadata_key in charge.metadata:
                value = _metadata_group_key(charge.metadata[metadata_key])
                groups.setdefault(value, []).append(charge)
        return {value: group for value, group in groups.items() if len(group) > 1}

    def charges_by_metadata(self, key: str, value: Any) -> list[Charge]:
        """Charges whose ``metadata[key] == value``, oldest first."""
        return list(self._with_metadata(key, value))

    def charge_by_metadata(self, key: str, value: Any) -> Charge | None:
        """The oldest charge whose ``metadata[key] == value``, or ``None``."""
        return next(self._with_metadata(key, value), None)

    def _with_metadata(self, key: str, value: Any) -> Iterator[Charge]:
        missing = object()
        return (c for c in self.ledger.iter_charges() if c.metadata.get(key, missing) == value)

    def requests(self) -> list[RequestRecord]:
        """Every request received (unless ``log_requests=False``), oldest first."""
        return list(self._requests)

    def requests_to(self, method: str, route: str) -> list[RequestRecord]:
        """Logged requests for one method and route template, e.g. ``("POST", "/charges")``."""
        method = method.upper()
        return [r for r in self._requests if r.method == method and route in (r.route, r.path)]


def _check_arguments(
    host: object, port: object, api_key: object, live_api_key: object, clock: object
) -> None:
    """Fail at construction, naming the argument, rather than deep inside start()."""
    for name, value in (("host", host), ("api_key", api_key), ("live_api_key", live_api_key)):
        if value is not None and not isinstance(value, str):
            raise TypeError(f"{name} must be a str, got {type(value).__name__}")
    if type(port) is not int:
        raise TypeError(f"port must be an int, got {type(port).__name__}")
    if not 0 <= port <= 65535:
        raise ValueError(f"port must be in 0..65535 (0: any free port), got {port}")
    if clock is not None and not callable(clock):
        raise TypeError(f"clock must be a callable returning a datetime, got {clock!r}")


# The fields of each create body the seeding helpers pass on, beyond their own
# keyword arguments: those the API documents (refused ones too, so that the API's
# own answer names them).
_PRODUCT_FIELDS = frozenset({"description", "image_url", "features", "metadata", "unlisted"})
_PRICE_FIELDS = frozenset(
    {"currency", "tax_mode", "recurring", "metadata", "name", "trial_period_days"}
)
_DISCOUNT_FIELDS = frozenset(
    {"targets", "value_tax_mode", "currency", "duration_charges", "duration_until",
     "active_from", "active_until", "max_redemptions", "max_redemptions_per_customer",
     "active", "metadata"}
)  # fmt: skip


def _known_fields(helper: str, fields: Mapping[str, object], known: frozenset[str]) -> None:
    """A misspelt field fails as an unknown keyword argument would, not silently."""
    unknown = sorted(set(fields) - known)
    if unknown:
        raise TypeError(
            f"{helper}() got unknown field(s) {', '.join(unknown)};"
            f" it takes {', '.join(sorted(known))}"
        )


def _metadata_group_key(value: Any) -> str:
    return value if isinstance(value, str) else orjson.dumps(value).decode()


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
