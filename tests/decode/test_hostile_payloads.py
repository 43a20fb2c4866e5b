"""Property-based decoding: whatever the server sends, the caller gets either a
valid model or a ChingError subclass.

Never a KeyError, TypeError, AttributeError, RecursionError, JSONDecodeError,
OverflowError or bare ValueError, and never a model that lies (an amount that
is not the number the JSON said) or that cannot be printed or compared.

Tested at the decode boundary (`decode_envelope`, `decode_model`, `list_data`
+ `decode_list`, on Responses built here, headers included) and end to end
through a Client and a loopback server for a charge, a setup session, a list of
charges and error envelopes.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any

import attrs
import orjson
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

import ching_async
from ching_async import Charge, ChingError, SetupSession
from ching_async._decode import decode_list, decode_model, list_data, request_info
from ching_async._messages import Request, Response
from ching_async._protocol import decode_envelope, parse_retry_after
from tests._support.hostile import CHARGE, FUZZ, FUZZ_E2E, KEY, SETUP_SESSION
from tests._support.rawserver import RawConnection, RawRequest, served

REQUEST = Request(
    method="GET",
    path="/charges/ch_1",
    base_url="https://api.ching.co.il/ching/v1",
    headers={"Authorization": "Bearer " + KEY},
)

# --------------------------------------------------------------- strategies
ONE_MB = 1024 * 1024


@attrs.frozen
class Raw:
    """A JSON fragment spliced into the body verbatim (nesting json.dumps cannot write)."""

    text: str


def deep(depth: int, kind: str) -> Raw:
    if kind == "list":
        return Raw("[" * depth + "]" * depth)
    return Raw('{"a":' * depth + "1" + "}" * depth)


def dumps(value: Any) -> bytes:
    """json.dumps (exact big ints, unlike orjson) plus verbatim Raw fragments."""
    fragments: list[str] = []

    def default(obj: Any) -> str:
        if isinstance(obj, Raw):
            fragments.append(obj.text)
            return f"\x00RAW{len(fragments) - 1}\x00"
        raise TypeError(type(obj).__name__)

    text = json.dumps(value, default=default, allow_nan=False)
    for i, fragment in enumerate(fragments):
        text = text.replace(json.dumps(f"\x00RAW{i}\x00"), fragment)
    return text.encode()


scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=2**63 - 2, max_value=2**64 + 2)
    | st.integers(min_value=2**64).map(lambda n: n * 10**30)  # far beyond 64 bits
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
    | st.sampled_from(["2026-04-19T09:15:22.000Z", "2026-04-19", "not a date", "", "succeeded"])
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
extreme = st.sampled_from(
    [
        2**64,
        -(2**64) - 1,
        2**200,
        10**400,
        123456789012345678901234567890,
        2**53 + 1,
        1e308,
        -1e308,
        9007199254740993.0,
        1.5,
        0.0,
        "x" * ONE_MB,
        "9" * 5000,
        "\u0000\ud7ff\U0010ffff",
        deep(50, "dict"),
        deep(900, "dict"),
        deep(1010, "dict"),
        deep(1020, "list"),
        deep(5000, "list"),
        deep(100_000, "dict"),
        {"count": 2**70},
        [None] * 1000,
    ]
)
KEEP = object()
REMOVE = object()


@st.composite
def mutated(draw: st.DrawFn, shape: dict[str, Any]) -> dict[str, Any]:
    """A documented shape with some fields removed, nulled, retyped, huge or deep."""
    obj: dict[str, Any] = {}
    for name, value in shape.items():
        op = draw(st.sampled_from(["keep"] * 5 + ["remove", "null", "retype", "extreme"]))
        if op == "keep":
            obj[name] = value
        elif op == "null":
            obj[name] = None
        elif op == "retype":
            obj[name] = draw(json_values)
        elif op == "extreme":
            obj[name] = draw(extreme)
    obj.update(draw(st.dictionaries(st.text(max_size=10), json_values, max_size=2)))
    return obj


def error_objects() -> st.SearchStrategy[Any]:
    issue = st.fixed_dictionaries({}, optional={"path": json_values, "message": json_values})
    error = st.fixed_dictionaries(
        {},
        optional={
            "status": json_values | extreme,
            "code": json_values | extreme,
            "message": json_values | extreme,
            "issues": st.lists(issue | json_values, max_size=3) | extreme,
            "details": st.lists(issue, max_size=3) | json_values,
        },
    )
    return error | json_values | extreme


SUCCESS = st.sampled_from([True] * 6 + [False, None, 1, 0, "true", [], {}, REMOVE])


@st.composite
def envelopes(draw: st.DrawFn, data: st.SearchStrategy[Any]) -> Any:
    env: dict[str, Any] = {}
    success = draw(SUCCESS)
    if success is not REMOVE:
        env["success"] = success
    if draw(st.integers(0, 9)):
        env["data"] = draw(data)
    if success is not True or draw(st.booleans()):
        env["error"] = draw(error_objects())
    if draw(st.integers(0, 19)) == 0:
        return draw(json_values | extreme)  # not an envelope at all
    return env


charge_shapes = mutated(CHARGE)
session_shapes = mutated(SETUP_SESSION)
charge_lists = st.lists(charge_shapes | json_values | extreme, max_size=4) | extreme | json_values


@st.composite
def bodies(draw: st.DrawFn, data: st.SearchStrategy[Any]) -> bytes:
    body = dumps(draw(envelopes(data)))
    cut = draw(st.integers(0, 30))
    if cut == 0 and body:  # truncated on the wire
        body = body[: draw(st.integers(0, len(body) - 1))]
    elif cut == 1:  # trailing garbage / invalid UTF-8
        body += draw(st.binary(min_size=1, max_size=8))
    return body


retry_after_values = st.one_of(
    st.text(max_size=40),
    st.integers(-(10**30), 10**30).map(str),
    st.floats().map(str),
    st.builds(
        "{}, {:02d} {} {} {:02d}:{:02d}:{:02d} {}".format,
        st.sampled_from(["Mon", "Tue", "Sun", "Xyz"]),
        st.integers(0, 40),
        st.sampled_from(["Jan", "Feb", "Dec", "Foo"]),
        st.integers(0, 10**40),
        st.integers(0, 99),
        st.integers(0, 99),
        st.integers(0, 99),
        st.sampled_from(["GMT", "+0000", "-2359", "+9999", "UTC", ""]),
    ),
)
headers = st.fixed_dictionaries(
    {},
    optional={
        "retry-after": retry_after_values,
        "x-request-id": st.text(max_size=40),
        "content-type": st.sampled_from(["application/json", "text/html", ""]),
    },
)
statuses = st.sampled_from([200, 201, 204, 400, 401, 402, 403, 404, 409, 422, 429, 500, 503]) | (
    st.integers(100, 599)
)
# Over the wire, 1xx are interim answers the client (rightly) keeps waiting past.
wire_statuses = statuses.filter(lambda s: s >= 200)


# ------------------------------------------------------------------ oracles
_INT_FIELDS = {
    Charge: ("amount", "amount_captured", "refunded_amount"),
    SetupSession: (),
}


def exact_reference(body: bytes) -> Any:
    """The body as the JSON text says it, numbers exact (ints and Decimals)."""
    try:
        return json.loads(body, parse_float=Decimal)
    except (ValueError, RecursionError):
        return None


def check_model(model: Any, cls: type[Any], payload: Any) -> None:
    """A decoded model must be a real, printable, comparable, truthful model."""
    assert type(model) is cls
    repr(model)
    str(model)
    assert model == attrs.evolve(model)
    assert isinstance(model.id, str)
    if not isinstance(payload, dict):
        return
    for name in _INT_FIELDS[cls]:
        value = getattr(model, name)
        if value is None:
            continue
        assert type(value) is int, (name, value)
        assert Decimal(value) == payload[name], (
            f"{name}: JSON said {payload[name]}, model says {value}"
        )
    if cls is Charge and model.installments is not None:
        assert Decimal(model.installments.count) == payload["installments"].get("count", 1)


def payload_items(body: bytes) -> Any:
    ref = exact_reference(body)
    if isinstance(ref, dict):
        return ref.get("data")
    return None


def list_payloads(body: bytes, count: int) -> list[Any]:
    """Per-item exact payloads of a list body (None where unavailable)."""
    items = payload_items(body)
    if not isinstance(items, list) or len(items) != count:
        return [None] * count
    return items


def outcome(call: Callable[[], Any]) -> Any:
    """Run one decode: a ChingError is a fine answer (and must render);
    anything else that escapes fails the test with its type."""
    try:
        return call()
    except ChingError as exc:
        str(exc)
        repr(exc)
        return exc


def response(body: bytes, status: int = 200, hdrs: dict[str, str] | None = None) -> Response:
    return Response(status=status, headers=hdrs or {}, body=body, request=REQUEST)


# ------------------------------------------------------- decode boundary
def charge_body(**fields: Any) -> bytes:
    return dumps({"success": True, "data": {**CHARGE, **fields}})


HUGE_YEAR = "Mon, 01 Jan 99999999999 00:00:00 GMT"


@FUZZ
@given(body=st.binary(max_size=2048), status=statuses, hdrs=headers)
def test_arbitrary_bytes(body: bytes, status: int, hdrs: dict[str, str]) -> None:
    resp = response(body, status, hdrs)
    outcome(lambda: decode_envelope(resp))
    outcome(lambda: decode_model(resp, Charge))
    outcome(lambda: decode_model(resp, SetupSession))
    outcome(lambda: decode_list(resp, Charge, list_data(resp, Charge), request_info(resp)))


@FUZZ
@given(value=json_values | extreme, status=statuses, hdrs=headers)
def test_arbitrary_json(value: Any, status: int, hdrs: dict[str, str]) -> None:
    resp = response(dumps(value), status, hdrs)
    outcome(lambda: decode_envelope(resp))
    outcome(lambda: decode_model(resp, Charge))
    outcome(lambda: decode_list(resp, Charge, list_data(resp, Charge), request_info(resp)))


def decodes_truthfully(cls: type[Any], body: bytes, status: int, hdrs: dict[str, str]) -> None:
    result = outcome(lambda: decode_model(response(body, status, hdrs), cls))
    if not isinstance(result, ChingError):
        check_model(result, cls, payload_items(body))


@FUZZ
@pytest.mark.parametrize(
    ("cls", "shapes"),
    [(Charge, charge_shapes), (SetupSession, session_shapes)],
    ids=["charge", "setup-session"],
)
@given(data=st.data(), status=statuses, hdrs=headers)
def test_model_shapes(
    cls: type[Any],
    shapes: st.SearchStrategy[Any],
    data: st.DataObject,
    status: int,
    hdrs: dict[str, str],
) -> None:
    decodes_truthfully(cls, data.draw(bodies(shapes), label="body"), status, hdrs)


@pytest.mark.parametrize(
    "body",
    [
        charge_body(amount=123456789012345678901234567890),
        charge_body(amount=2**64),
        charge_body(amount=1e300),
        charge_body(metadata=deep(1010, "dict")),
    ],
    ids=["amount-1e29", "amount-2**64", "amount-1e300", "metadata-1010-deep"],
)
def test_charge_extremes(body: bytes) -> None:
    decodes_truthfully(Charge, body, 200, {})


@FUZZ
@given(body=bodies(charge_lists), status=statuses, hdrs=headers)
def test_charge_list_shapes(body: bytes, status: int, hdrs: dict[str, str]) -> None:
    resp = response(body, status, hdrs)
    items = outcome(lambda: list_data(resp, Charge))
    if isinstance(items, ChingError):
        return
    assert type(items) is list
    result = outcome(lambda: decode_list(resp, Charge, items, request_info(resp)))
    if not isinstance(result, ChingError):
        for model, payload in zip(result, list_payloads(body, len(result)), strict=True):
            check_model(model, Charge, payload)


@FUZZ
def _parses(body: bytes) -> bool:
    try:
        orjson.loads(body)
    except orjson.JSONDecodeError:
        return False
    return True


@given(error=error_objects(), status=statuses, hdrs=headers, success=SUCCESS)
def test_error_envelopes(error: Any, status: int, hdrs: dict[str, str], success: Any) -> None:
    env: dict[str, Any] = {"error": error}
    if success is not REMOVE:
        env["success"] = success
    resp = response(dumps(env), status, hdrs)
    result = outcome(lambda: decode_envelope(resp))
    if success is False or not 200 <= status < 300:
        # A failure is always raised, never handed back as data.
        assert isinstance(result, ChingError)
    # (A body that does not parse, e.g. an integer orjson cannot read, says
    # nothing about `success`: it is a ResponseDecodeError with the status.)
    understood = _parses(resp.body)
    if isinstance(result, ching_async.APIError) and success is False and understood:
        assert result.status is not None
        if 200 <= status < 300 or status >= 400:
            assert result.status >= 400
        else:  # a 1xx or 3xx keeps its own status (an APIError of that status)
            assert result.status == status
        assert isinstance(result.message, str)
        assert all(isinstance(i, dict) for i in result.issues)


@FUZZ
@given(value=retry_after_values)
@example(value="Mon, 01 Jan 99999999999 00:00:00 GMT")
def test_retry_after_never_raises(value: str) -> None:
    seconds = parse_retry_after(value)
    assert seconds is None or (seconds >= 0 and seconds < float("inf"))


@pytest.mark.parametrize(
    "amount",
    [123456789012345678901234567890, 2**64, -(2**64), 10**400, 1e300, 2.0**53 + 2],
    ids=["1.2e29", "2**64", "-2**64", "10**400", "1e300", "2**53+2.0"],
)
def test_amount_beyond_exact_range_is_a_decode_error(amount: Any) -> None:
    """orjson reads integers beyond 64 bits as floats; a float that large is not
    an exact amount, so it must not silently become a different integer."""
    body = dumps({"success": True, "data": {**CHARGE, "amount": amount}})
    with pytest.raises(ching_async.ResponseDecodeError):
        decode_model(response(body), Charge)


@pytest.mark.parametrize("amount", [2**63 - 1, -(2**63), 9900, 9900.0, 2.0**53])
def test_amounts_within_exact_range_decode_exactly(amount: Any) -> None:
    body = dumps({"success": True, "data": {**CHARGE, "amount": amount}})
    charge = decode_model(response(body), Charge)
    assert charge.amount == amount
    assert type(charge.amount) is int


def test_deeply_nested_metadata_is_a_decode_error_not_a_broken_model() -> None:
    """orjson accepts 1024 levels; Python's repr/== recurse ~1000 deep. A model
    that cannot be printed or compared must not be handed out."""
    body = dumps({"success": True, "data": {**CHARGE, "metadata": deep(1010, "dict")}})
    result = outcome(lambda: decode_model(response(body), Charge))
    if not isinstance(result, ChingError):
        repr(result)
        assert result == attrs.evolve(result)
    body = dumps({"success": True, "data": {**CHARGE, "metadata": deep(40, "dict")}})
    charge = decode_model(response(body), Charge)
    assert repr(charge)


# ---------------------------------------------------------------- end to end
@attrs.define
class Canned:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = attrs.field(factory=dict)


@pytest.fixture
async def canned_client() -> AsyncIterator[tuple[Canned, ching_async.Client]]:
    canned = Canned()

    async def handler(conn: RawConnection, request: RawRequest) -> None:
        # One connection per example: a body sent with a 204 must not bleed
        # into the next example's response.
        conn.keep_alive = False
        await conn.respond(canned.status, canned.body, canned.headers)

    instant = ching_async.RetryPolicy(instant=True)
    options = {"max_retries": 0, "timeout": 10.0, "total_timeout": 20.0, "retry_policy": instant}
    async with served(handler, **options) as (_, client):
        yield canned, client


def _safe_header(value: str) -> str:
    return "".join(c for c in value if 0x20 <= ord(c) < 0x7F).strip()


async def _through_client(
    canned: Canned, status: int, body: bytes, hdrs: dict[str, str], call: Callable[[], Any]
) -> Any:
    canned.status = status
    canned.body = body
    canned.headers = {k: _safe_header(v) for k, v in hdrs.items() if k != "content-type"}
    try:
        return await call()
    except ChingError as exc:
        str(exc)
        repr(exc)
        return exc


def _is_model(cls: type[Any]) -> Callable[[Any, bytes], None]:
    def check(result: Any, body: bytes) -> None:
        check_model(result, cls, payload_items(body))

    return check


def _is_charge_list(result: Any, body: bytes) -> None:
    for model, payload in zip(result, list_payloads(body, len(result)), strict=True):
        check_model(model, Charge, payload)


def _is_charge_or_none(result: Any, body: bytes) -> None:
    assert result is None or isinstance(result, Charge)


async def _iterate_charges(client: ching_async.Client) -> list[Charge]:
    return [c async for c in client.charges.list(customer="cus_1")]


# Each read through a real client: (the data it is fed, the call, the check).
E2E_READS: dict[str, tuple[st.SearchStrategy[Any], Callable[[ching_async.Client], Any], Any]] = {
    "charge-retrieve": (charge_shapes, lambda c: c.charges.retrieve("ch_1"), _is_model(Charge)),
    "setup-session-retrieve": (
        session_shapes,
        lambda c: c.setup_sessions.retrieve("seti_1"),
        _is_model(SetupSession),
    ),
    "charge-list-awaited": (charge_lists, lambda c: c.charges.list(), _is_charge_list),
    "charge-list-iterated": (charge_lists, _iterate_charges, _is_charge_list),
    "find-by-idempotency-key": (
        charge_lists,
        lambda c: c.charges.find_by_idempotency_key("cus_1", "k1"),
        _is_charge_or_none,
    ),
}


@FUZZ_E2E
@pytest.mark.parametrize("read", list(E2E_READS))
@given(data=st.data(), status=wire_statuses, hdrs=headers)
async def test_e2e_read(
    canned_client: tuple[Canned, ching_async.Client],
    read: str,
    data: st.DataObject,
    status: int,
    hdrs: dict[str, str],
) -> None:
    data_of, call, check = E2E_READS[read]
    body = data.draw(bodies(data_of), label="body")
    canned, client = canned_client
    result = await _through_client(canned, status, body, hdrs, lambda: call(client))
    if not isinstance(result, ChingError):
        check(result, body)


async def test_e2e_a_retry_after_in_a_huge_year_is_a_rate_limit_error(
    canned_client: tuple[Canned, ching_async.Client],
) -> None:
    canned, client = canned_client
    hdrs = {"retry-after": HUGE_YEAR}
    body = b'{"success":false,"error":{}}'
    result = await _through_client(canned, 429, body, hdrs, lambda: client.charges.retrieve("ch_1"))
    assert isinstance(result, ching_async.RateLimitError)


@FUZZ_E2E
@given(error=error_objects(), status=wire_statuses, hdrs=headers, success=SUCCESS)
async def test_e2e_error_envelopes_on_post(
    canned_client: tuple[Canned, ching_async.Client],
    error: Any,
    status: int,
    hdrs: dict[str, str],
    success: Any,
) -> None:
    canned, client = canned_client
    env: dict[str, Any] = {"error": error}
    if success is not REMOVE:
        env["success"] = success
    result = await _through_client(
        canned,
        status,
        dumps(env),
        hdrs,
        lambda: client.setup_sessions.create(
            customer="cus_1", success_url="https://a.example/ok", cancel_url="https://a.example/no"
        ),
    )
    if success is False or not 200 <= status < 300:
        assert isinstance(result, ChingError)
