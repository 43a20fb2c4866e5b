"""Argument validation happens before the network: bad input never reaches the server."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ching_async
from ching_async import Installments, InvalidParameterError
from tests._support.scripted import CHARGE, LIVE_KEY, SETUP_SESSION, TEST_KEY, Script, envelope

CUS = "cus_V8ltq1pK_MWH"
PM = "pm_WMc9X22NT1af"

Call = Callable[[ching_async.Client], Awaitable[Any]]


class Opaque:
    """An object of no known kind, with a fixed repr: an ``object()`` in an
    ``ids=repr`` test id differs between pytest-xdist workers, which then
    refuse to run."""

    def __repr__(self) -> str:
        return "Opaque()"


async def assert_rejected(
    scripted: Script, client: ching_async.Client, call: Call, match: str | None = None
) -> InvalidParameterError:
    with pytest.raises(InvalidParameterError, match=match) as info:
        await call(client)
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, ching_async.ChingError)
    assert scripted.seen == [], "an invalid call must not reach the server"
    return info.value


def create_charge(**overrides: Any) -> Call:
    kwargs: dict[str, Any] = {"customer": CUS, "payment_method": PM, "amount": 9900}
    kwargs.update(overrides)
    return lambda c: c.charges.create(**kwargs)


def create_session(**overrides: Any) -> Call:
    kwargs: dict[str, Any] = {
        "customer": CUS,
        "success_url": "https://example.com/ok",
        "cancel_url": "https://example.com/cancel",
    }
    kwargs.update(overrides)
    return lambda c: c.setup_sessions.create(**kwargs)


# ------------------------------------------------------------------ amounts
@pytest.mark.parametrize("amount", [True, False, 9.5, 100.0, "100", 0, -1, None, [100]])
async def test_charge_amount_rejected(
    scripted: Script, client: ching_async.Client, amount: object
) -> None:
    err = await assert_rejected(scripted, client, create_charge(amount=amount), match="amount")
    assert "amount" in str(err)


@pytest.mark.parametrize("amount", [True, 0, -5, 1.0, "10"])
async def test_capture_amount_rejected(
    scripted: Script, client: ching_async.Client, amount: object
) -> None:
    await assert_rejected(
        scripted, client, lambda c: c.charges.capture("ch_1", amount=amount), match="amount"
    )


async def test_huge_amount_rejected_before_network(
    scripted: Script, client: ching_async.Client
) -> None:
    # Larger than a 64-bit int: cannot be encoded as a JSON number by orjson.
    await assert_rejected(scripted, client, create_charge(amount=10**30))


# ----------------------------------------------------------------- currency
@pytest.mark.parametrize("currency", ["il", "ilsx", "", "1ls", "i s", "ils\n", None, 376, "שקל"])
async def test_currency_rejected(
    scripted: Script, client: ching_async.Client, currency: object
) -> None:
    await assert_rejected(scripted, client, create_charge(currency=currency), match="currency")


async def test_currency_is_lowercased(scripted: Script, client: ching_async.Client) -> None:
    scripted.on("POST", "/ching/v1/charges", envelope(CHARGE))
    await client.charges.create(customer=CUS, payment_method=PM, amount=100, currency="USD")
    assert scripted.seen[0].json["currency"] == "usd"


# ------------------------------------------------------------- installments
@pytest.mark.parametrize(
    "installments", [0, -1, 1.5, "3", True, Installments(0), Installments(True), [3], {"count": 3}]
)
async def test_installments_rejected(
    scripted: Script, client: ching_async.Client, installments: object
) -> None:
    await assert_rejected(
        scripted, client, create_charge(installments=installments), match="installments"
    )


@pytest.mark.parametrize("installments", [Installments(3), 3])
async def test_installments_accepted(
    scripted: Script, client: ching_async.Client, installments: object
) -> None:
    scripted.on("POST", "/ching/v1/charges", envelope({**CHARGE, "installments": {"count": 3}}))
    charge = await create_charge(installments=installments)(client)
    assert scripted.seen[0].json["installments"] == {"count": 3}
    assert charge.installments == Installments(3)


# --------------------------------------------------------- cancellation reason
@pytest.mark.parametrize(
    "reason", ["nope", "", "FRAUDULENT", "fraudulent ", 1, True, ["fraudulent"]]
)
async def test_cancellation_reason_rejected(
    scripted: Script, client: ching_async.Client, reason: object
) -> None:
    await assert_rejected(
        scripted,
        client,
        lambda c: c.charges.cancel("ch_1", cancellation_reason=reason),
        match="cancellation_reason",
    )


# ---------------------------------------------------------------------- ids
BAD_IDS: list[object] = [
    "",
    " ",
    "   ",
    "\t",
    "ch_1 ",
    "ch\n1",
    "ch\r1",
    "ch\x00",
    "ch\x7f",
    "ch\x1b",
    "ch\u2028",
    "ch_\udcff",  # an undecodable byte of a command-line argument, as Python holds it
    None,
    123,
    b"ch_1",
    ["ch_1"],
    "c" * 256,
]

ID_CALLS: dict[str, Callable[[object], Call]] = {
    "charges.retrieve": lambda i: lambda c: c.charges.retrieve(i),
    "charges.capture": lambda i: lambda c: c.charges.capture(i),
    "charges.cancel": lambda i: lambda c: c.charges.cancel(i),
    "setup_sessions.retrieve": lambda i: lambda c: c.setup_sessions.retrieve(i),
    "setup_sessions.cancel": lambda i: lambda c: c.setup_sessions.cancel(i),
    "charges.create customer": lambda i: create_charge(customer=i),
    "charges.create payment_method": lambda i: create_charge(payment_method=i),
    "setup_sessions.create customer": lambda i: create_session(customer=i),
}


@pytest.mark.parametrize("bad_id", BAD_IDS, ids=repr)
@pytest.mark.parametrize("endpoint", list(ID_CALLS))
async def test_bad_ids_rejected(
    scripted: Script, client: ching_async.Client, endpoint: str, bad_id: object
) -> None:
    await assert_rejected(scripted, client, ID_CALLS[endpoint](bad_id))


async def test_id_length_limit(scripted: Script, client: ching_async.Client) -> None:
    err = await assert_rejected(scripted, client, lambda c: c.charges.retrieve("c" * 256))
    assert "at most 255 characters" in str(err)
    assert "c" * 256 not in str(err), "a 256-char id is not echoed back whole"
    scripted.on("GET", "/ching/v1/charges/" + "c" * 255, envelope(CHARGE))
    await client.charges.retrieve("c" * 255)
    assert len(scripted.seen) == 1


@pytest.mark.parametrize("bad_id", ["", " ", "a\nb", 5, "cus_\udcff"])
async def test_bad_list_customer_rejected_at_call_time(
    scripted: Script, client: ching_async.Client, bad_id: object
) -> None:
    with pytest.raises(InvalidParameterError):
        client.charges.list(customer=bad_id)  # type: ignore[arg-type]
    assert scripted.seen == []


@pytest.mark.parametrize(
    ("raw_id", "segment"),
    [
        ("../x", "..%2Fx"),
        ("a/b", "a%2Fb"),
        ("..", "%2E%2E"),
        (".", "%2E"),
        ("a?b#c", "a%3Fb%23c"),
        ("%2F", "%252F"),
        ("../../customers", "..%2F..%2Fcustomers"),
        ("ch_é", "ch_%C3%A9"),
        ("ch_9mTPfRSDmEOU", "ch_9mTPfRSDmEOU"),
    ],
)
async def test_ids_are_one_path_segment(
    scripted: Script, client: ching_async.Client, raw_id: str, segment: str
) -> None:
    scripted.on("GET", "/ching/v1/charges/" + segment, envelope(CHARGE))
    scripted.on("POST", "/ching/v1/charges/" + segment + "/capture", envelope(CHARGE))
    scripted.on("GET", "/ching/v1/setup_sessions/" + segment, envelope(SETUP_SESSION))
    scripted.on(
        "POST",
        "/ching/v1/setup_sessions/" + segment + "/cancel",
        envelope({"id": "seti_1", "status": "canceled"}),
    )

    charge = await client.charges.retrieve(raw_id)
    await client.charges.capture(raw_id)
    await client.setup_sessions.retrieve(raw_id)
    await client.setup_sessions.cancel(raw_id)

    assert [(s.method, s.path) for s in scripted.seen] == [
        ("GET", "/ching/v1/charges/" + segment),
        ("POST", "/ching/v1/charges/" + segment + "/capture"),
        ("GET", "/ching/v1/setup_sessions/" + segment),
        ("POST", "/ching/v1/setup_sessions/" + segment + "/cancel"),
    ]
    assert all(s.query == {} for s in scripted.seen)
    assert charge.request_info is not None
    assert charge.request_info.path == "/charges/" + segment


async def test_list_customer_is_query_encoded(scripted: Script, client: ching_async.Client) -> None:
    scripted.on("GET", "/ching/v1/charges", envelope([]))
    assert await client.charges.list(customer="cus_a&b=c#d") == []
    assert scripted.seen[0].query == {"customer": "cus_a&b=c#d"}


# ----------------------------------------------------------------- metadata
BAD_METADATA: list[object] = [
    [("a", "b")],
    "a=b",
    1,
    {1: "a"},
    {("a",): 1},
    {"a": Opaque()},
    {"a": {1, 2}},
    {"a": b"bytes"},
    {"a": {"nested": Opaque()}},
    {"a": {1: "nested non-str key"}},
    {"score": float("nan")},
    {"score": float("inf")},
    {"a": [1.0, {"b": -float("inf")}]},
]


@pytest.mark.parametrize("metadata", BAD_METADATA, ids=repr)
async def test_charge_metadata_rejected(
    scripted: Script, client: ching_async.Client, metadata: object
) -> None:
    await assert_rejected(scripted, client, create_charge(metadata=metadata), match="metadata")


@pytest.mark.parametrize("metadata", BAD_METADATA, ids=repr)
async def test_session_metadata_rejected(
    scripted: Script, client: ching_async.Client, metadata: object
) -> None:
    await assert_rejected(scripted, client, create_session(metadata=metadata), match="metadata")


async def test_reserved_metadata_key_rejected(scripted: Script, client: ching_async.Client) -> None:
    err = await assert_rejected(
        scripted,
        client,
        create_charge(metadata={ching_async.IDEMPOTENCY_METADATA_KEY: "mine", "order": "42"}),
    )
    assert ching_async.IDEMPOTENCY_METADATA_KEY in str(err)


async def test_metadata_mapping_is_not_mutated(
    scripted: Script, client: ching_async.Client
) -> None:
    scripted.on("POST", "/ching/v1/charges", envelope(CHARGE))
    metadata = {"order": "42"}
    await create_charge(metadata=metadata)(client)
    assert metadata == {"order": "42"}
    assert scripted.seen[0].json["metadata"]["order"] == "42"


# ----------------------------------------------------------- idempotency key
BAD_KEYS: list[object] = ["", "has space", "a" * 256, "ключ", "a\nb", "a\x00", 123, b"key"]

KEY_CALLS: dict[str, Callable[[object], Call]] = {
    "charges.create": lambda k: create_charge(idempotency_key=k),
    "charges.capture": lambda k: lambda c: c.charges.capture("ch_1", idempotency_key=k),
    "charges.cancel": lambda k: lambda c: c.charges.cancel("ch_1", idempotency_key=k),
    "setup_sessions.create": lambda k: create_session(idempotency_key=k),
    "customers.create": lambda k: lambda c: c.customers.create(name="Dana", idempotency_key=k),
    "payment_methods.detach": lambda k: (
        lambda c: c.payment_methods.detach("pm_1", idempotency_key=k)
    ),
    "payment_methods.create_test_card": lambda k: (
        lambda c: c.payment_methods.create_test_card("cus_1", idempotency_key=k)
    ),
    "refunds.create": lambda k: (
        lambda c: c.refunds.create(charge="ch_1", amount=1, idempotency_key=k)
    ),
    "setup_sessions.cancel": lambda k: (
        lambda c: c.setup_sessions.cancel("seti_1", idempotency_key=k)
    ),
}


@pytest.mark.parametrize("key", BAD_KEYS, ids=repr)
@pytest.mark.parametrize("endpoint", list(KEY_CALLS))
async def test_bad_idempotency_key_rejected(
    scripted: Script, client: ching_async.Client, endpoint: str, key: object
) -> None:
    await assert_rejected(scripted, client, KEY_CALLS[endpoint](key), match="idempotency_key")


async def test_find_by_idempotency_key_validates(
    scripted: Script, client: ching_async.Client
) -> None:
    await assert_rejected(
        scripted, client, lambda c: c.charges.find_by_idempotency_key(CUS, "bad key")
    )
    await assert_rejected(
        scripted, client, lambda c: c.charges.find_by_idempotency_key("", "good-key")
    )


# --------------------------------------------------------------- redirect URLs
BAD_URLS: list[object] = [
    "ftp://example.com/x",
    "javascript:alert(1)",
    "/relative/path",
    "example.com/ok",
    "",
    "https://",
    "https://exa mple.com",
    "https://example.com/\nx",
    "http://[::1",  # urlsplit raises ValueError on an unclosed IPv6 bracket
    "https://[x/",
    None,
    42,
]


@pytest.mark.parametrize("url", BAD_URLS, ids=repr)
@pytest.mark.parametrize("field", ["success_url", "cancel_url"])
async def test_redirect_url_rejected(
    scripted: Script, client: ching_async.Client, field: str, url: object
) -> None:
    await assert_rejected(scripted, client, create_session(**{field: url}), match=field)


async def test_description_must_be_text(scripted: Script, client: ching_async.Client) -> None:
    await assert_rejected(scripted, client, create_charge(description=42), match="description")


# Methods that take a group of keyword options as **kwargs (a TypedDict) turn
# an unknown name away like any other Python function: TypeError, nothing sent.
UNKNOWN_KEYWORD_CALLS: dict[str, Call] = {
    "charges.create": create_charge(idempotency_kee="k"),
    "refunds.create": lambda c: c.refunds.create(charge="ch_1", amount=1, mark_idempotency=False),
    "customers.create": lambda c: c.customers.create(name="Tal", emial="tal@example.com"),
    "customers.update": lambda c: c.customers.update("cus_1", nmae="Tal"),
    "customers.upsert": lambda c: c.customers.upsert(identify_by="phone", phone="1", tax="1"),
}


@pytest.mark.parametrize(
    "call", list(UNKNOWN_KEYWORD_CALLS.values()), ids=list(UNKNOWN_KEYWORD_CALLS)
)
async def test_an_unknown_keyword_is_a_type_error(
    scripted: Script, client: ching_async.Client, call: Call
) -> None:
    with pytest.raises(TypeError, match="unexpected keyword argument"):
        await call(client)
    assert scripted.seen == []


async def test_create_many_turns_an_unknown_option_away(client: ching_async.Client) -> None:
    with pytest.raises(TypeError, match="unexpected keyword argument 'concurency'"):
        client.charges.create_many([], job_id="j", concurency=2)


# =========================================================== client construction
def assert_secret_free(err: BaseException, secret: str) -> None:
    text = f"{err!s} {err!r} {err.args!r}"
    assert secret not in text
    # The distinctive body of the key must not leak either, even partially escaped.
    assert secret.strip()[8:40] not in text


def test_missing_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CHING_API_KEY", raising=False)
    with pytest.raises(InvalidParameterError, match="CHING_API_KEY"):
        ching_async.Client()


@pytest.mark.parametrize("key", ["", "   ", "\t\n"])
def test_empty_key(monkeypatch: pytest.MonkeyPatch, key: str) -> None:
    monkeypatch.setenv("CHING_API_KEY", TEST_KEY)  # an explicit bad key is not overridden
    with pytest.raises(InvalidParameterError, match="empty"):
        ching_async.Client(key)


def test_empty_key_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHING_API_KEY", "  ")
    with pytest.raises(InvalidParameterError):
        ching_async.Client()


@pytest.mark.parametrize(
    "key",
    [
        TEST_KEY + "\r\n",
        TEST_KEY + "\n",
        "\r" + TEST_KEY,
        TEST_KEY[:20] + "\x00" + TEST_KEY[20:],
        TEST_KEY + " ",
        " " + TEST_KEY,
        TEST_KEY[:30] + "\r\nX-Evil: 1" + TEST_KEY[30:],
    ],
    ids=["crlf", "lf", "leading-cr", "nul", "trailing-space", "leading-space", "header-inject"],
)
def test_key_with_control_chars_rejected_without_echo(key: str) -> None:
    with pytest.raises(InvalidParameterError) as info:
        ching_async.Client(key)
    assert_secret_free(info.value, key)
    assert "ck_test_abab" not in str(info.value)


@pytest.mark.parametrize("key", [123, b"ck_test_x", ["ck_test_x"]])
def test_non_string_key(key: object) -> None:
    with pytest.raises(InvalidParameterError, match="string"):
        ching_async.Client(key)  # type: ignore[arg-type]


async def test_key_from_env_var(monkeypatch: pytest.MonkeyPatch, scripted: Script) -> None:
    monkeypatch.setenv("CHING_API_KEY", LIVE_KEY)
    scripted.on("GET", "/ching/v1/charges/ch_1", envelope(CHARGE))
    # A live key is allowed over plain http only to loopback, which scripted is.
    async with ching_async.Client(**scripted.client_options()) as c:
        assert c.mode == "live"
        await c.charges.retrieve("ch_1")
    assert scripted.seen[0].headers["Authorization"] == "Bearer " + LIVE_KEY


async def test_explicit_key_beats_env_var(
    monkeypatch: pytest.MonkeyPatch, scripted: Script
) -> None:
    monkeypatch.setenv("CHING_API_KEY", LIVE_KEY)
    scripted.on("GET", "/ching/v1/charges/ch_1", envelope(CHARGE))
    async with ching_async.Client(TEST_KEY, **scripted.client_options()) as c:
        assert c.mode == "test"
        await c.charges.retrieve("ch_1")
    assert scripted.seen[0].headers["Authorization"] == "Bearer " + TEST_KEY


@pytest.mark.parametrize(
    ("key", "mode"),
    [
        (TEST_KEY, "test"),
        (LIVE_KEY, "live"),
        ("sk_test_x", "test"),
        ("sk_live_x", "live"),
        ("other_key", "unknown"),
    ],
)
def test_mode_from_key_prefix(key: str, mode: str) -> None:
    assert ching_async.Client(key).mode == mode


@pytest.mark.parametrize("name", ["timeout", "total_timeout"])
@pytest.mark.parametrize("value", [0, -1, -0.5, "5", True, None, math.nan, [1]], ids=repr)
def test_bad_timeouts(name: str, value: object) -> None:
    with pytest.raises(InvalidParameterError, match=name):
        ching_async.Client(TEST_KEY, **{name: value})


async def test_infinite_timeout_rejected_or_usable(scripted: Script) -> None:
    scripted.on("GET", "/ching/v1/charges/ch_1", envelope(CHARGE))
    try:
        c = ching_async.Client(
            TEST_KEY, **scripted.client_options(), timeout=math.inf, total_timeout=math.inf
        )
    except InvalidParameterError:
        return  # rejecting it up front is fine
    async with c:
        charge = await c.charges.retrieve("ch_1")
    assert charge.id == CHARGE["id"]


@pytest.mark.parametrize("value", [-1, 1.0, 1.5, True, "2", None])
def test_bad_max_retries(value: object) -> None:
    with pytest.raises(InvalidParameterError, match="max_retries"):
        ching_async.Client(TEST_KEY, max_retries=value)  # type: ignore[arg-type]


# ------------------------------------------------- the other Client options
@pytest.mark.parametrize("value", ["false", "no", 0, 1, None], ids=repr)
def test_verify_tls_must_be_a_bool(value: object) -> None:
    """ "false" from an environment variable must not quietly mean True (or, for
    None, print a false "verification is DISABLED" warning)."""
    with pytest.raises(InvalidParameterError, match="verify_tls"):
        ching_async.Client(TEST_KEY, verify_tls=value)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ["fast", {"instant": True}, 1], ids=repr)
def test_retry_policy_must_be_a_retry_policy(value: object) -> None:
    with pytest.raises(InvalidParameterError, match="retry_policy"):
        ching_async.Client(TEST_KEY, retry_policy=value)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("initial_backoff", "1"),
        ("initial_backoff", -1),
        ("max_backoff", math.inf),
        ("max_retry_after", math.nan),
        ("settle", None),
        ("settle", True),
        ("jitter", "no"),
        ("instant", 1),
    ],
    ids=repr,
)
def test_bad_retry_policy_fields(field: str, value: object) -> None:
    with pytest.raises(InvalidParameterError, match=f"RetryPolicy.{field}"):
        ching_async.RetryPolicy(**{field: value})


def test_retry_policy_accepts_zero_and_ints() -> None:
    policy = ching_async.RetryPolicy(initial_backoff=0, max_backoff=2, settle=0.0, instant=True)
    assert policy.backoff(3) == 0


@pytest.mark.parametrize("value", ["not a session", Opaque()], ids=repr)
def test_session_must_be_an_aiohttp_session(value: object) -> None:
    with pytest.raises(InvalidParameterError, match="session"):
        ching_async.Client(TEST_KEY, session=value)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [[None], "abc", [print, 5], 7], ids=repr)
def test_middlewares_must_be_callables(value: object) -> None:
    with pytest.raises(InvalidParameterError, match="middleware"):
        ching_async.Client(TEST_KEY, middlewares=value)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ["no", 0, None], ids=repr)
async def test_mark_idempotency_key_must_be_a_bool(
    scripted: Script, client: ching_async.Client, value: object
) -> None:
    """A truthy "no" must not silently keep the marker (nor 0 drop it)."""
    calls: list[Call] = [
        create_charge(mark_idempotency_key=value),
        lambda c: c.refunds.create(charge="ch_1", mark_idempotency_key=value),  # type: ignore[arg-type]
    ]
    for call in calls:
        await assert_rejected(scripted, client, call, match="mark_idempotency_key")


def test_zero_max_retries_allowed() -> None:
    assert ching_async.Client(TEST_KEY, max_retries=0).max_retries == 0


@pytest.mark.parametrize("value", [0, -1, 1.5, True, "10", None])
def test_bad_max_connections(value: object) -> None:
    with pytest.raises(InvalidParameterError, match="max_connections"):
        ching_async.Client(TEST_KEY, max_connections=value)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "url",
    [
        "ftp://api.ching.co.il/v1",
        "api.ching.co.il/ching/v1",
        "",
        "https://",
        "http:///x",
        "https://api.ching.co.il/ching/v1?x=1",
        "https://api.ching.co.il/ching/v1#frag",
        5,
    ],
    ids=repr,
)
def test_bad_base_url(url: object) -> None:
    with pytest.raises(InvalidParameterError, match="base_url"):
        ching_async.Client(TEST_KEY, base_url=url)  # type: ignore[arg-type]


def test_base_url_trailing_slash_stripped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CHING_BASE_URL", raising=False)
    c = ching_async.Client(TEST_KEY, base_url="https://api.ching.co.il/ching/v1/")
    assert c.base_url == "https://api.ching.co.il/ching/v1"
    assert ching_async.Client(TEST_KEY).base_url == ching_async.DEFAULT_BASE_URL
    assert ching_async.DEFAULT_BASE_URL == "https://api.ching.co.il/ching/v1"


@pytest.mark.parametrize(
    "url",
    [
        "http://api.ching.co.il/ching/v1",
        "http://10.0.0.1/v1",
        "http://localhost.evil.com/v1",
        "http://127.0.0.1.nip.io/v1",
        "http://[::ffff:10.0.0.1]/v1",
        "HTTP://api.ching.co.il/v1",
    ],
)
def test_live_key_over_plain_http_refused(url: str) -> None:
    with pytest.raises(InvalidParameterError, match="http") as info:
        ching_async.Client(LIVE_KEY, base_url=url)
    assert_secret_free(info.value, LIVE_KEY)


def test_test_key_over_plain_http_allowed() -> None:
    c = ching_async.Client(TEST_KEY, base_url="http://api.ching.co.il/ching/v1")
    assert c.base_url == "http://api.ching.co.il/ching/v1"


@pytest.mark.parametrize(
    "key",
    [TEST_KEY + "\u00a0", TEST_KEY + "\u2028", "\ufeff" + TEST_KEY, TEST_KEY[:20] + "é"],
    ids=["nbsp", "line-separator", "bom", "non-ascii"],
)
def test_key_with_unicode_whitespace_rejected(key: str) -> None:
    with pytest.raises(InvalidParameterError) as info:
        ching_async.Client(key)
    assert_secret_free(info.value, key)


def _plain_id_reference(value: object) -> bool:
    """The rule check_plain_id enforces, spelled out without its fast path."""
    return (
        isinstance(value, str)
        and 0 < len(value) <= 255
        and not any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value)
    )


@settings(max_examples=500)
@given(
    st.one_of(
        st.text(),
        st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,300}", fullmatch=True),
        st.sampled_from(["cus_1", "cus_\u00e9", "a" * 255, "a" * 256, "x\u2028y", "_", ""]),
    )
)
def test_plain_id_fast_path_agrees_with_the_rule(value: str) -> None:
    from ching_async._validation import check_plain_id

    if _plain_id_reference(value):
        assert check_plain_id("customer", value) == value
    else:
        with pytest.raises(InvalidParameterError):
            check_plain_id("customer", value)


def test_currencies_are_checked_and_lowered() -> None:
    from ching_async._validation import check_currency

    assert check_currency("currency", "ILS") == "ils"
    assert check_currency("currency", "usd") == "usd"
    for bad in ("il", "ILS ", "i1s", "\u05e9\u05e7\u05dc"):
        with pytest.raises(InvalidParameterError):
            check_currency("currency", bad)
