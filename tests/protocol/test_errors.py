"""Error responses become typed errors carrying their request's context."""

from __future__ import annotations

import email.utils
import math
import pickle
from collections.abc import Callable
from typing import Any, TypeVar

import orjson
import pytest

import ching_async
from ching_async import (
    APIError,
    AuthenticationError,
    BadRequestError,
    CardDeclinedError,
    ChingError,
    ConflictError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ResponseDecodeError,
    UnprocessableEntityError,
)
from ching_async._messages import Request, Response
from ching_async._protocol import decode_envelope, parse_retry_after
from ching_async._secrets import BODY_EXCERPT_CHARS
from tests._support.scripted import (
    CHARGE,
    SETUP_SESSION,
    TEST_KEY,
    Reply,
    Script,
    envelope,
    error,
    raw,
)

BASE = "/ching/v1"
CUS = "cus_V8ltq1pK_MWH"
MakeClient = Callable[..., ching_async.Client]
E = TypeVar("E", bound=ChingError)

STATUS_CLASSES: list[tuple[int, str, type[APIError]]] = [
    (400, "INVALID_FIELD", BadRequestError),
    (401, "WRONG_CREDENTIALS", AuthenticationError),
    (402, "CHARGE_FAILED", CardDeclinedError),
    (403, "NO_ACCESS", PermissionDeniedError),
    (404, "NOT_FOUND", NotFoundError),
    (409, "SESSION_NOT_PENDING", ConflictError),
    (422, "INVALID_FIELD", UnprocessableEntityError),
    (429, "RATE_LIMITED", RateLimitError),
    # Every 5xx the API documents is a server error, whatever its code.
    *((status, "UNAVAILABLE", InternalServerError) for status in (500, 502, 503, 504)),
]


def assert_common(err: APIError) -> None:
    assert isinstance(err, APIError)
    assert isinstance(err, ChingError)
    text = str(err)
    assert TEST_KEY not in text
    assert TEST_KEY not in repr(err)
    assert "\n" not in text


async def retrieve_error(
    scripted: Script, client: ching_async.Client, reply: Reply, cls: type[E]
) -> E:
    """The `cls` error `charges.retrieve("ch_1")` raises when its GET is answered `reply`."""
    scripted.on("GET", BASE + "/charges/ch_1", reply)
    with pytest.raises(cls) as info:
        await client.charges.retrieve("ch_1")
    return info.value


# Each method's call, the path it sends to.
STATUS_CALLS: dict[str, tuple[str, Callable[[ching_async.Client], Any]]] = {
    "GET": ("/setup_sessions/seti_1", lambda c: c.setup_sessions.retrieve("seti_1")),
    "POST": (
        "/setup_sessions",
        lambda c: c.setup_sessions.create(
            customer=CUS, success_url="https://a.example/", cancel_url="https://b.example/"
        ),
    ),
}


@pytest.mark.parametrize("method", list(STATUS_CALLS))
@pytest.mark.parametrize(("status", "code", "cls"), STATUS_CLASSES, ids=lambda v: str(v))
async def test_status_maps_to_class(
    scripted: Script,
    make_client: MakeClient,
    method: str,
    status: int,
    code: str,
    cls: type[APIError],
) -> None:
    path, call = STATUS_CALLS[method]
    client = make_client(max_retries=0)
    message = f"it failed with {status}"
    scripted.on(method, BASE + path, error(status, code, message, headers={"X-Request-Id": "r9"}))
    with pytest.raises(cls) as info:
        await call(client)
    err = info.value
    assert type(err) is cls
    assert_common(err)
    assert (err.status, err.code, err.message, err.request_id) == (status, code, message, "r9")
    assert code in err.body
    assert err.body.startswith('{"success":false')
    assert (err.method, err.path, err.attempts) == (method, path, 1)
    assert str(err).startswith(f"{status} {code}: {message}")
    assert f"{method} {path}" in str(err)
    assert "request_id=r9" in str(err)
    assert len(scripted.seen) == 1
    # A POST carries one idempotency key, which the error names; a GET none.
    key = scripted.seen[0].headers.get("Idempotency-Key")
    assert (key is None) is (method == "GET")
    assert err.idempotency_key == key
    assert (f"idempotency_key={key}" in str(err)) is (key is not None)
    # A 5xx answer to a POST leaves its effect unknown; a 4xx, or any GET, does not.
    assert err.outcome_unknown is (method == "POST" and status >= 500)
    assert ("outcome_unknown=True" in str(err)) is err.outcome_unknown


async def test_card_declined_on_charge_create(scripted: Script, client: ching_async.Client) -> None:
    scripted.on(
        "POST",
        BASE + "/charges",
        error(402, "CHARGE_FAILED", "Card declined", headers={"X-Request-Id": "rq_decline"}),
    )
    with pytest.raises(CardDeclinedError) as info:
        await client.charges.create(customer=CUS, payment_method="pm_1", amount=9900)
    err = info.value
    assert err.code == "CHARGE_FAILED"
    assert err.status == 402
    assert err.request_id == "rq_decline"
    assert err.attempts == 1
    assert err.idempotency_key == scripted.seen[0].headers["Idempotency-Key"]
    assert err.outcome_unknown is False
    assert len(scripted.seen) == 1, "a decline is final: never re-sent"


ISSUES = [
    {"path": ["amount"], "message": "Must be a positive integer"},
    {"path": ["currency"], "message": "Unsupported currency"},
]


@pytest.mark.parametrize("field", ["issues", "details"])
async def test_422_issues_or_details(
    scripted: Script, client: ching_async.Client, field: str
) -> None:
    scripted.on(
        "POST", BASE + "/charges", error(422, "INVALID_FIELD", "Invalid body", **{field: ISSUES})
    )
    with pytest.raises(UnprocessableEntityError) as info:
        await client.charges.create(customer=CUS, payment_method="pm_1", amount=1)
    assert info.value.issues == tuple(ISSUES)
    assert info.value.code == "INVALID_FIELD"


async def test_issues_non_dict_items_dropped(scripted: Script, client: ching_async.Client) -> None:
    err = await retrieve_error(
        scripted,
        client,
        error(400, "INVALID_FIELD", issues=["junk", {"path": ["x"], "message": "m"}, 3]),
        BadRequestError,
    )
    assert err.issues == ({"path": ["x"], "message": "m"},)


@pytest.mark.parametrize(
    ("retry_after", "expected"),
    [("7", 7.0), ("0", 0.0), ("1.5", 1.5), ("soon", None), (None, None)],
)
async def test_429_retry_after(
    scripted: Script,
    make_client: MakeClient,
    retry_after: str | None,
    expected: float | None,
) -> None:
    client = make_client(max_retries=0)
    headers = {} if retry_after is None else {"Retry-After": retry_after}
    err = await retrieve_error(
        scripted, client, error(429, "RATE_LIMITED", headers=headers), RateLimitError
    )
    assert err.retry_after == expected


async def test_429_retried_then_raised(scripted: Script, client: ching_async.Client) -> None:
    scripted.on(
        "POST", BASE + "/setup_sessions", error(429, "RATE_LIMITED", headers={"Retry-After": "1"})
    )
    with pytest.raises(RateLimitError) as info:
        await client.setup_sessions.create(
            customer=CUS, success_url="https://a.example/", cancel_url="https://b.example/"
        )
    assert info.value.attempts == 3
    assert info.value.retry_after == 1.0
    assert info.value.outcome_unknown is False
    assert len(scripted.seen) == 3


async def test_429_with_long_retry_after_is_final(
    scripted: Script, client: ching_async.Client
) -> None:
    err = await retrieve_error(
        scripted,
        client,
        error(429, "RATE_LIMITED", headers={"Retry-After": "3600"}),
        RateLimitError,
    )
    assert err.retry_after == 3600.0
    assert err.attempts == 1
    assert len(scripted.seen) == 1


async def test_get_5xx_exhausts_retries(scripted: Script, client: ching_async.Client) -> None:
    err = await retrieve_error(
        scripted, client, error(503, "UNAVAILABLE", "try later"), InternalServerError
    )
    assert err.attempts == 3
    assert err.status == 503
    assert err.outcome_unknown is False
    assert len(scripted.seen) == 3


async def test_success_false_on_200(scripted: Script, client: ching_async.Client) -> None:
    err = await retrieve_error(
        scripted,
        client,
        error(200, "SESSION_EXPIRED", "expired", headers={"X-Request-Id": "r2"}),
        APIError,
    )
    assert_common(err)
    assert err.code == "SESSION_EXPIRED"
    assert err.message == "expired"
    assert err.request_id == "r2"
    # Documented: a failure on a 2xx is reported as a 400.
    assert type(err) is BadRequestError
    assert err.status == 400
    assert len(scripted.seen) == 1


async def test_html_on_502(scripted: Script, make_client: MakeClient) -> None:
    client = make_client(max_retries=0)
    page = (
        b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
        b"<center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n"
    )
    err = await retrieve_error(scripted, client, raw(502, page), InternalServerError)
    assert_common(err)
    assert err.status == 502
    assert err.code is None
    assert "unexpected body" in err.message
    assert "502 Bad Gateway" in err.body
    assert "\r" not in err.body
    assert "\n" not in err.body
    assert str(err).startswith("502: HTTP 502")


@pytest.mark.parametrize(
    ("status", "cls"),
    [(200, ResponseDecodeError), (404, NotFoundError), (500, InternalServerError)],
)
async def test_empty_body(
    scripted: Script,
    make_client: MakeClient,
    status: int,
    cls: type[APIError],
) -> None:
    client = make_client(max_retries=0)
    err = await retrieve_error(
        scripted, client, raw(status, b"", content_type="application/json"), cls
    )
    assert type(err) is cls
    assert err.status == status
    assert "empty" in err.message
    assert err.body == ""


TRUNCATED = b'{"success": true, "data": {"id": "ch_1", "amou'


@pytest.mark.parametrize(
    ("status", "cls"),
    [(200, ResponseDecodeError), (201, ResponseDecodeError), (400, BadRequestError)],
)
async def test_truncated_json(
    scripted: Script, client: ching_async.Client, status: int, cls: type[APIError]
) -> None:
    err = await retrieve_error(scripted, client, raw(status, TRUNCATED, "application/json"), cls)
    assert type(err) is cls
    assert err.status == status
    assert err.body == TRUNCATED.decode()
    if status < 300:
        assert "not JSON" in err.message


@pytest.mark.parametrize(
    "payload",
    [
        [CHARGE],
        CHARGE,
        "success",
        None,
        42,
        {"data": CHARGE},
        {"success": "true", "data": CHARGE},
        {"success": 1, "data": CHARGE},
        {"success": None, "data": CHARGE},
    ],
    ids=[
        "list",
        "bare-object",
        "string",
        "null",
        "number",
        "success-missing",
        "success-str",
        "success-int",
        "success-null",
    ],
)
async def test_non_envelope_2xx_is_decode_error(
    scripted: Script, client: ching_async.Client, payload: Any
) -> None:
    err = await retrieve_error(
        scripted, client, raw(200, orjson.dumps(payload), "application/json"), ResponseDecodeError
    )
    assert_common(err)
    assert err.status == 200
    assert "not a CHING envelope" in err.message
    assert (err.method, err.path, err.attempts) == ("GET", "/charges/ch_1", 1)
    assert len(scripted.seen) == 1, "a 2xx is never retried"


async def test_non_envelope_on_post_keeps_idempotency_key(
    scripted: Script, client: ching_async.Client
) -> None:
    scripted.on("POST", BASE + "/setup_sessions", raw(200, b"OK", "text/plain"))
    with pytest.raises(ResponseDecodeError) as info:
        await client.setup_sessions.create(
            customer=CUS, success_url="https://a.example/", cancel_url="https://b.example/"
        )
    assert info.value.idempotency_key == scripted.seen[0].headers["Idempotency-Key"]
    assert info.value.body == "OK"


async def test_success_true_without_data_is_decode_error_for_models(
    scripted: Script, client: ching_async.Client
) -> None:
    scripted.on(
        "GET", BASE + "/setup_sessions/s", raw(200, b'{"success":true}', "application/json")
    )
    with pytest.raises(ResponseDecodeError) as info:
        await client.setup_sessions.retrieve("s")
    assert "SetupSession" in str(info.value)


async def test_error_text_never_contains_key(scripted: Script, client: ching_async.Client) -> None:
    # Even a server that echoes the Authorization header back must not put the
    # key into the error's string form (which ends up in logs).
    echo = f"Invalid API key provided: Bearer {TEST_KEY}"
    err = await retrieve_error(
        scripted, client, error(401, "WRONG_CREDENTIALS", echo), AuthenticationError
    )
    assert TEST_KEY not in str(err)
    assert TEST_KEY not in repr(err)
    assert TEST_KEY not in err.message
    assert TEST_KEY not in err.body
    assert all(TEST_KEY not in str(arg) for arg in err.args)
    assert "Invalid API key provided" in str(err)


async def test_decode_error_body_never_contains_key(
    scripted: Script, client: ching_async.Client
) -> None:
    data = {**SETUP_SESSION, "created": f"echo Bearer {TEST_KEY}"}
    scripted.on("GET", BASE + "/setup_sessions/s", envelope(data))
    with pytest.raises(ResponseDecodeError) as info:
        await client.setup_sessions.retrieve("s")
    assert "echo Bearer <redacted>" in info.value.body
    assert TEST_KEY not in info.value.body
    assert TEST_KEY not in str(info.value)


async def test_unknown_4xx_status_is_base_api_error(
    scripted: Script, client: ching_async.Client
) -> None:
    err = await retrieve_error(scripted, client, error(418, "TEAPOT", "short and stout"), APIError)
    assert type(err) is APIError
    assert err.status == 418
    assert str(err).startswith("418 TEAPOT: short and stout")


async def test_redirect_not_followed(scripted: Script, client: ching_async.Client) -> None:
    err = await retrieve_error(
        scripted,
        client,
        raw(302, b"", content_type="text/plain", Location="https://evil.example/steal"),
        APIError,
    )
    assert err.status == 302
    assert len(scripted.seen) == 1


async def test_setup_session_conflict_codes(scripted: Script, client: ching_async.Client) -> None:
    scripted.on(
        "POST",
        BASE + "/setup_sessions/seti_1/cancel",
        error(409, "SESSION_NOT_PENDING", "Only pending sessions can be canceled"),
    )
    with pytest.raises(ConflictError) as info:
        await client.setup_sessions.cancel("seti_1")
    assert info.value.code == "SESSION_NOT_PENDING"
    assert info.value.outcome_unknown is False


async def test_envelope_helpers_smoke(scripted: Script, client: ching_async.Client) -> None:
    # Sanity check of the scripted fixture itself: a success still decodes.
    scripted.on("GET", BASE + "/setup_sessions/seti_1", envelope(SETUP_SESSION))
    assert (await client.setup_sessions.retrieve("seti_1")).id == SETUP_SESSION["id"]


def test_error_hierarchy() -> None:
    # Every error the package exports, so a new one cannot escape `except ChingError`.
    exported = [getattr(ching_async, name) for name in ching_async.__all__]
    errors = [obj for obj in exported if isinstance(obj, type) and issubclass(obj, Exception)]
    assert len(errors) >= 20
    for cls in errors:
        assert issubclass(cls, ChingError), cls
    assert issubclass(ching_async.APITimeoutError, ching_async.APIConnectionError)
    assert issubclass(ching_async.InvalidParameterError, ValueError)
    assert issubclass(ching_async.ClientStateError, RuntimeError)
    assert not issubclass(ching_async.APIConnectionError, APIError)


# ======================================================== parse_retry_after
NOW = 1_700_000_000.0


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("7", 7.0),
        (" 7 ", 7.0),
        ("0", 0.0),
        ("2.5", 2.5),
        ("120", 120.0),
        ("-3", 0.0),
        ("-0.5", 0.0),
        (None, None),
        ("", None),
        ("   ", None),
        ("soon", None),
        ("7s", None),
        ("0x10", None),
        ("Mon, 99 Foo 2024 99:99:99 GMT", None),
        ("inf", None),
        ("-inf", None),
        ("Infinity", None),
        ("nan", None),
        ("NaN", None),
        ("1e999", None),
    ],
)
def test_parse_retry_after_values(value: str | None, expected: float | None) -> None:
    result = parse_retry_after(value, now=NOW)
    assert result == expected
    if result is not None:
        assert math.isfinite(result)
        assert result >= 0


def test_parse_retry_after_http_date() -> None:
    future = email.utils.formatdate(NOW + 30, usegmt=True)
    assert future.endswith("GMT")
    assert parse_retry_after(future, now=NOW) == pytest.approx(30.0)
    past = email.utils.formatdate(NOW - 3600, usegmt=True)
    assert parse_retry_after(past, now=NOW) == 0.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412480.0 - 90) == 90.0


def test_parse_retry_after_date_defaults_to_wall_clock() -> None:
    # No `now`: a date long past is 0, a date far ahead is large and positive.
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
    far = parse_retry_after("Fri, 01 Jan 2100 00:00:00 GMT")
    assert far is not None
    assert far > 365 * 24 * 3600


def test_parse_retry_after_naive_date_ignored() -> None:
    # "-0000" means "no zone information": there is no instant to wait for.
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 -0000", now=NOW) is None


# ========================================================== decode_envelope
def _response(
    status: int, body: bytes | Any, *, method: str = "GET", headers: dict[str, str] | None = None
) -> Response:
    if not isinstance(body, bytes):
        body = orjson.dumps(body)
    request = Request(
        method=method,
        path="/charges/ch_1",
        base_url="https://api.example/ching/v1",
        headers={"Authorization": "Bearer " + TEST_KEY},
        idempotency_key="k-1" if method == "POST" else None,
    )
    return Response(status=status, headers=headers or {}, body=body, request=request, attempts=2)


def test_decode_envelope_success() -> None:
    assert decode_envelope(_response(200, {"success": True, "data": {"id": "x"}})) == {"id": "x"}
    assert decode_envelope(_response(201, {"success": True, "data": [1, 2]})) == [1, 2]
    assert decode_envelope(_response(200, {"success": True})) is None
    assert decode_envelope(_response(200, {"success": True, "data": None, "extra": 1})) is None


def test_decode_envelope_failure_context() -> None:
    body = {
        "success": False,
        "error": {"status": 404, "code": "NOT_FOUND", "message": "No such charge"},
    }
    response = _response(404, body, method="POST", headers={"x-request-id": "rq"})
    with pytest.raises(NotFoundError) as info:
        decode_envelope(response)
    err = info.value
    assert (err.status, err.code, err.message) == (404, "NOT_FOUND", "No such charge")
    assert (err.method, err.path, err.attempts) == ("POST", "/charges/ch_1", 2)
    assert err.idempotency_key == "k-1"
    assert err.request_id == "rq"
    assert err.issues == ()


@pytest.mark.parametrize(
    "error_obj",
    [None, "boom", [], {"code": 5, "message": ""}, {"message": None}],
    ids=repr,
)
def test_decode_envelope_malformed_error_object(error_obj: Any) -> None:
    with pytest.raises(ConflictError) as info:
        decode_envelope(_response(409, {"success": False, "error": error_obj}))
    err = info.value
    assert err.status == 409
    assert err.code is None
    assert err.message == "HTTP 409"


def test_decode_envelope_non_json_error() -> None:
    with pytest.raises(InternalServerError) as info:
        decode_envelope(_response(503, b"Service Unavailable"))
    assert info.value.body == "Service Unavailable"
    assert info.value.message == "HTTP 503 with an unexpected body"


@pytest.mark.parametrize("status", [301, 302, 307, 399])
def test_a_failure_envelope_on_a_3xx_keeps_its_status(status: int) -> None:
    # Only a 2xx carrying `success: false` takes the body's status (or 400).
    body = {"success": False, "error": {"code": "X", "message": "m", "status": 404}}
    with pytest.raises(APIError) as info:
        decode_envelope(_response(status, body, method="POST"))
    assert type(info.value) is APIError
    assert (info.value.status, info.value.code) == (status, "X")


def test_decode_envelope_success_envelope_on_error_status() -> None:
    # `success: true` with a 4xx status is still an error: the status wins.
    with pytest.raises(BadRequestError):
        decode_envelope(_response(400, {"success": True, "data": {}}))


def test_decode_envelope_2xx_reasons() -> None:
    for body, reason in [
        (b"", "empty"),
        (b"<html>", "not JSON"),
        (b"[]", "not a CHING envelope"),
        (b'{"success":"yes"}', "not a CHING envelope"),
    ]:
        with pytest.raises(ResponseDecodeError) as info:
            decode_envelope(_response(200, body))
        assert reason in info.value.message, body


def test_decode_envelope_redacts_echoed_key() -> None:
    body = {"success": False, "error": {"code": "X", "message": f"bad key {TEST_KEY}!"}}
    with pytest.raises(AuthenticationError) as info:
        decode_envelope(_response(401, body))
    assert info.value.message == "bad key <redacted>!"
    assert TEST_KEY not in info.value.body
    assert info.value.args == ("bad key <redacted>!",)


def test_body_excerpt_is_bounded_and_single_line() -> None:
    body = b"<p>\x00\x1b[31m" + b"x" * 5000 + b"\n</p>"
    with pytest.raises(InternalServerError) as info:
        decode_envelope(_response(500, body))
    excerpt = info.value.body
    assert len(excerpt) == BODY_EXCERPT_CHARS + 3
    assert excerpt.endswith("...")
    assert all(ch.isprintable() for ch in excerpt)


def test_body_excerpt_invalid_utf8() -> None:
    with pytest.raises(InternalServerError) as info:
        decode_envelope(_response(500, b"\xff\xfe bad \xc3"))
    assert "bad" in info.value.body
    assert "\ufffd" in info.value.body


def test_errors_survive_pickling_with_their_context() -> None:
    """Errors cross process boundaries (multiprocessing, job-queue result
    stores). OutcomeUnknownError's keyword-only idempotency_key once made it
    the one that could not be unpickled."""
    unknown = ching_async.OutcomeUnknownError(
        "could not tell", idempotency_key="inv-7", customer="cus_1", status=503
    )
    unknown._set_context(
        method="POST",
        path="/charges",
        attempts=3,
        idempotency_key="inv-7",
        request_id="req_1",
        outcome_unknown=True,
    )
    unreadable = ching_async.UnreadableResultError("not JSON", idempotency_key="inv-8", status=200)
    unreadable._set_context(
        method="POST", path="/charges", attempts=1, idempotency_key="inv-8", outcome_unknown=True
    )
    inconclusive = ching_async.LookupInconclusiveError("full list", status=200)
    declined = ching_async.CardDeclinedError("no", status=402)
    for original in (unknown, unreadable, inconclusive, declined):
        copy = pickle.loads(pickle.dumps(original))
        assert type(copy) is type(original)
        assert str(copy) == str(original)
        assert vars(copy) == vars(original)
