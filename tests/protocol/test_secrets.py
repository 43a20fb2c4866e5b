"""The API key never shows: not in a log record (ching_async, aiohttp, asyncio
at DEBUG), a repr or str, exception args or attributes, nor anywhere along an
exception's __cause__/__context__ chain, on success and on every error path.

The server here is hostile: it echoes the Authorization header back in every
place an error can carry text (message, code, issues, details, request id,
raw body), including at offsets that straddle every truncation boundary.
A key with CR/LF or other control characters never gets as far as a header.
"""

from __future__ import annotations

import asyncio
import logging
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any

import orjson
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

import ching_async
from ching_async._decode import decode_list, decode_model, list_data, request_info
from ching_async._messages import Request, Response
from ching_async._models import Charge
from ching_async._protocol import decode_envelope
from tests._support.hostile import (
    CHARGE,
    FUZZ,
    KEY,
    SECRET,
    assert_no_secret_in_exception,
    envelope,
    exception_chain,
    leaks_secret,
)
from tests._support.rawserver import RawConnection, RawRequest, RawServer

LOGGERS = ("ching_async", "aiohttp", "aiohttp.client", "aiohttp.internal", "asyncio", "")


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name or None)
    return caplog


def assert_no_secret_in_logs(caplog: pytest.LogCaptureFixture) -> None:
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    for record in caplog.records:
        texts = [formatter.format(record), repr(record.args), repr(record.__dict__)]
        if record.exc_info and record.exc_info[1] is not None:
            texts.append("".join(traceback.format_exception(record.exc_info[1])))
            assert_no_secret_in_exception(record.exc_info[1])
        for text in texts:
            assert not leaks_secret(text), f"API key in log record {record.name}: {text[:300]}"


# ----------------------------------------------------- construction and repr
def _bad_keys() -> st.SearchStrategy[str]:
    bad_char = st.characters(
        blacklist_categories=(),
        blacklist_characters="".join(chr(c) for c in range(0x21, 0x7F)),
    )
    return st.builds(
        lambda head, bad, tail: "ck_test_" + head + bad + tail,
        st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=40),
        bad_char,
        st.text(max_size=40),
    )


@FUZZ
@given(key=_bad_keys())
@example(key=KEY + "\r\nX-Injected: 1")
@example(key=KEY + "\n")
@example(key="\t" + KEY)
@example(key=KEY[:20] + "\x00" + KEY[20:])
@example(key=KEY + "\u00a0")
@example(key=KEY + "\u2028")
def test_key_with_control_or_whitespace_characters_is_rejected(key: str) -> None:
    with pytest.raises(ching_async.InvalidParameterError) as info:
        ching_async.Client(key, base_url="https://api.ching.co.il/ching/v1")
    assert key not in str(info.value)
    assert_no_secret_in_exception(info.value)


@pytest.mark.parametrize("key", ["Q#7", "Zq7#Kp2"])
def test_a_key_too_short_to_redact_is_rejected(key: str) -> None:
    # Redaction scrubs credentials of 8 characters or more: a shorter key
    # would stay readable in an error that quotes the server's echo.
    with pytest.raises(ching_async.InvalidParameterError, match="shorter than 8") as info:
        ching_async.Client(key, base_url="https://api.ching.co.il/ching/v1")
    assert key not in str(info.value)


def test_key_from_environment_with_trailing_newline_is_rejected(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CHING_API_KEY", KEY + "\n")
    with pytest.raises(ching_async.InvalidParameterError) as info:
        ching_async.Client()
    assert_no_secret_in_exception(info.value)


def test_client_and_request_reprs_never_show_key() -> None:
    client = ching_async.Client(KEY, base_url="https://api.ching.co.il/ching/v1")
    for text in (repr(client), str(client), repr(client._api_key), str(client._api_key)):
        assert not leaks_secret(text), text
    for name in ("Authorization", "authorization", "AUTHORIZATION"):
        request = Request(
            method="GET",
            path="/charges",
            base_url=client.base_url,
            headers={name: "Bearer " + KEY, "Accept": "application/json"},
        )
        response = Response(status=200, headers={}, body=b"", request=request)
        for text in (repr(request), str(request), repr(response), str(response)):
            assert not leaks_secret(text), text
        assert "<redacted>" in repr(request)
    # A frozen request derived by a middleware keeps redacting.
    derived = request.with_headers({"X-Shop": "1"})
    assert not leaks_secret(repr(derived))


def test_an_api_key_refuses_to_be_pickled_and_copies_share_it() -> None:
    import copy
    import pickle

    key = ching_async.Client(KEY)._api_key
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        with pytest.raises(TypeError, match="cannot be pickled") as info:
            pickle.dumps(key, protocol)
        assert not leaks_secret(str(info.value))
    assert copy.copy(key) is key
    assert copy.deepcopy(key) is key


# --------------------------------------------------- decode-boundary echo
REQUEST = Request(
    method="POST",
    path="/charges",
    base_url="https://api.ching.co.il/ching/v1",
    headers={"Authorization": "Bearer " + KEY},
    idempotency_key="k-1",
)
padding = st.text(
    st.sampled_from(["a", " ", "\x00", "\n", "\u00e9", "\u05d0", "\U0001f4b3", "\t", '"']),
    max_size=3000,
)


@st.composite
def echoing_bodies(draw: st.DrawFn) -> bytes:
    """Bodies that carry the key somewhere, at every kind of offset."""
    echo = draw(st.sampled_from(["Bearer " + KEY, KEY]))
    pad = draw(padding)
    kind = draw(st.sampled_from(["raw", "message", "code", "issues", "details", "field"]))
    if kind == "raw":
        body = (pad + echo + draw(padding)).encode()
    elif kind == "field":
        field = draw(st.sampled_from(["created", "amount", "status", "id", "metadata"]))
        body = orjson.dumps({"success": True, "data": {**CHARGE, field: pad + echo}})
    else:
        error: dict[str, Any] = {"code": "X", "message": "m"}
        if kind in ("message", "code"):
            error[kind] = pad + echo
        else:
            error[kind] = [{"path": ["a", pad + echo], "message": pad + echo, echo: 1}]
        success = draw(st.sampled_from([False, True, None]))
        body = orjson.dumps({"success": success, "error": error})
    # The same JSON value, the key spelled with escapes (see ESCAPES below).
    form = draw(st.sampled_from([None, *sorted(ESCAPES)]))
    return body if form is None else body.replace(KEY.encode(), spell(KEY, form).encode())


@FUZZ
@given(
    body=echoing_bodies(),
    status=st.sampled_from([200, 201, 400, 401, 402, 403, 404, 409, 422, 429, 500, 502, 503]),
    request_id=st.sampled_from(["", "req_1", KEY, "Bearer " + KEY]),
)
@example(body=b"y" * 460 + KEY.encode(), status=500, request_id="")
@example(body=b"\x00" * 2250 + KEY.encode(), status=500, request_id="")
@example(
    body=orjson.dumps({"success": True, "data": {**CHARGE, "created": "x" * 150 + KEY}}),
    status=200,
    request_id="",
)
@example(
    body=orjson.dumps({"success": False, "error": {"code": KEY, "message": "m"}}),
    status=400,
    request_id=KEY,
)
def test_echoed_key_never_reaches_an_error(body: bytes, status: int, request_id: str) -> None:
    headers = {"x-request-id": request_id} if request_id else {}
    response = Response(status=status, headers=headers, body=body, request=REQUEST)
    for decode in (
        lambda: decode_envelope(response),
        lambda: decode_model(response, Charge),
        lambda: decode_list(response, Charge, list_data(response, Charge), request_info(response)),
    ):
        try:
            decode()
        except ching_async.ChingError as exc:
            assert_no_secret_in_exception(exc)


# ------------------------------------------------------ every wire path
class Hostile:
    """A RawServer handler whose behaviour each test case sets."""

    def __init__(self) -> None:
        self.mode = "ok"
        self.status = 200
        self.pad = 0
        self.stored: dict[str, Any] = {}

    async def __call__(self, conn: RawConnection, request: RawRequest) -> None:
        auth = request.headers.get("authorization", "")
        echo = {"X-Request-Id": auth, "X-Echo": auth}
        if self.mode == "ok":
            await conn.respond(200, envelope(CHARGE), echo)
        elif self.mode == "status":
            error = {
                "status": self.status,
                "code": auth,
                "message": "x" * self.pad + auth,
                "issues": [{"path": auth, "message": auth}],
                "details": [{"path": auth, "message": auth}],
            }
            body = orjson.dumps({"success": False, "error": error, "echo": auth})
            await conn.respond(self.status, body, {**echo, "Retry-After": "0"})
        elif self.mode == "raw":
            await conn.respond(self.status, ("y" * self.pad + auth).encode(), echo, content_type="")
        elif self.mode == "decode":
            data = {**CHARGE, "created": "x" * self.pad + auth, "amount": auth}
            await conn.respond(200, envelope(data), echo)
        elif self.mode == "hang":
            await asyncio.sleep(3600)
        elif self.mode == "drop":
            conn.keep_alive = False
            conn.writer.transport.abort()
        elif self.mode == "truncated":
            body = envelope({**CHARGE, "description": auth})
            head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            await conn.send(head + body[: len(body) // 2])
            conn.keep_alive = False
        elif self.mode == "huge":
            await conn.respond(200, b"x" * 5000, echo)
        elif self.mode == "redirect":
            await conn.respond(302, b"", {"Location": "http://127.0.0.1:1/?k=" + auth})
        elif self.mode == "bad_header":
            # aiohttp's parser error quotes the offending line.
            await conn.send(f"HTTP/1.1 200 OK\r\n{auth}\r\nContent-Length: 0\r\n\r\n".encode())
            conn.keep_alive = False
        elif self.mode in ("reconcile", "reconcile_declined"):
            await self._reconcile(conn, request, auth, echo)

    async def _reconcile(
        self, conn: RawConnection, request: RawRequest, auth: str, echo: dict[str, str]
    ) -> None:
        """POST /charges creates the charge but answers CHING's own 503; the
        lookup that follows finds it, and echoes the key wherever it can."""
        if request.method == "POST":
            sent = orjson.loads(request.body)
            self.stored = {
                **CHARGE,
                "customer": sent["customer"],
                "payment_method": sent["payment_method"],
                "amount": sent["amount"],
                "metadata": sent["metadata"],
                **(
                    {"status": "failed", "failure_message": "declined for " + auth}
                    if self.mode == "reconcile_declined"
                    else {}
                ),
            }
            error = {"status": 503, "code": "UNAVAILABLE", "message": "busy"}
            await conn.respond(503, orjson.dumps({"success": False, "error": error}))
        else:
            await conn.respond(200, envelope([self.stored]), echo)


@pytest.fixture
async def hostile() -> AsyncIterator[tuple[Hostile, RawServer]]:
    handler = Hostile()
    async with RawServer(handler) as server:
        yield handler, server


def _client(url: str, **kwargs: Any) -> ching_async.Client:
    kwargs.setdefault("timeout", 0.3)
    kwargs.setdefault("total_timeout", 2.0)
    kwargs.setdefault("max_retries", 1)
    return ching_async.Client(
        KEY, base_url=url, retry_policy=ching_async.RetryPolicy(instant=True), **kwargs
    )


Call = Callable[[ching_async.Client], Awaitable[Any]]
CALLS: dict[str, Call] = {
    "retrieve": lambda c: c.charges.retrieve("ch_1"),
    "list": lambda c: c.charges.list(customer="cus_1"),
    "create": lambda c: c.charges.create(customer="cus_1", payment_method="pm_1", amount=100),
    "capture": lambda c: c.charges.capture("ch_1", amount=100),
    "setup": lambda c: c.setup_sessions.create(
        customer="cus_1", success_url="https://a.example/ok", cancel_url="https://a.example/x"
    ),
}


async def _run(client: ching_async.Client, call: Call) -> BaseException | None:
    try:
        await call(client)
    except ching_async.ChingError as exc:
        assert_no_secret_in_exception(exc)
        return exc
    return None


async def test_success_path_logs_nothing_secret(
    hostile: tuple[Hostile, RawServer], debug_logs: pytest.LogCaptureFixture
) -> None:
    asyncio.get_running_loop().set_debug(True)
    _handler, server = hostile
    async with _client(server.url) as client:
        charge = await client.charges.retrieve("ch_1")
        assert not leaks_secret(repr(charge))
        assert not leaks_secret(repr(charge.request_info))
        for name in CALLS:
            await _run(client, CALLS[name])
    assert server.requests
    assert all(r.headers["authorization"] == "Bearer " + KEY for r in server.requests)
    assert debug_logs.records, "DEBUG logging was not captured at all"
    assert_no_secret_in_logs(debug_logs)


async def test_every_error_status_400_to_504(
    hostile: tuple[Hostile, RawServer], debug_logs: pytest.LogCaptureFixture
) -> None:
    handler, server = hostile
    handler.mode = "status"
    seen: set[str] = set()
    async with _client(server.url) as client:
        for status in range(400, 505):
            handler.status = status
            for name in ("retrieve", "setup"):
                exc = await _run(client, CALLS[name])
                assert isinstance(exc, ching_async.APIError), (status, name, exc)
                assert exc.status == status
                seen.add(type(exc).__name__)
        handler.status = 503
        exc = await _run(client, CALLS["create"])  # 503 on POST /charges: reconcile path
        assert isinstance(exc, ching_async.OutcomeUnknownError)
        seen.add(type(exc).__name__)
    assert {"BadRequestError", "RateLimitError", "InternalServerError"} <= seen
    assert_no_secret_in_logs(debug_logs)


RAW_PADS = [*range(0, 40, 13), *range(420, 520, 3), *range(1900, 2100, 17)]


@pytest.mark.parametrize(
    ("mode", "status", "pads", "expected"),
    [
        # The body is the echo itself, cut anywhere: whatever the status, an error.
        *[
            pytest.param(
                "raw", status, RAW_PADS, {"retrieve": ching_async.ChingError}, id=f"raw-{status}"
            )
            for status in (200, 404, 500)
        ],
        # A charge with the echo in its fields: a decode error, and a list of it too.
        pytest.param(
            "decode",
            200,
            range(0, 260, 3),
            {"retrieve": ching_async.ResponseDecodeError, "list": None},
            id="decode",
        ),
    ],
)
async def test_an_echo_cut_at_every_offset(
    hostile: tuple[Hostile, RawServer],
    debug_logs: pytest.LogCaptureFixture,
    mode: str,
    status: int,
    pads: Iterable[int],
    expected: dict[str, type[BaseException] | None],
) -> None:
    handler, server = hostile
    handler.mode, handler.status = mode, status
    async with _client(server.url, max_retries=0) as client:
        for pad in pads:
            handler.pad = pad
            for name, raised in expected.items():
                exc = await _run(client, CALLS[name])
                assert raised is None or isinstance(exc, raised), (pad, name, exc)
    assert_no_secret_in_logs(debug_logs)


@pytest.mark.parametrize("mode", ["hang", "drop", "truncated", "huge", "redirect"])
@pytest.mark.parametrize("call", sorted(CALLS))
async def test_connection_timeout_and_decode_paths(
    hostile: tuple[Hostile, RawServer],
    debug_logs: pytest.LogCaptureFixture,
    mode: str,
    call: str,
) -> None:
    handler, server = hostile
    handler.mode = mode
    async with _client(server.url, max_response_bytes=1000) as client:
        exc = await _run(client, CALLS[call])
    assert isinstance(exc, ching_async.ChingError), exc
    if mode == "hang":
        assert isinstance(exc, ching_async.APITimeoutError | ching_async.OutcomeUnknownError)
    assert_no_secret_in_logs(debug_logs)


async def test_connection_refused_and_closed_client(debug_logs: pytest.LogCaptureFixture) -> None:
    server = RawServer()
    async with server:
        url = server.url
    # The port is closed now: connection refused, retried, then raised.
    client = _client(url)
    exc = await _run(client, CALLS["retrieve"])
    assert isinstance(exc, ching_async.APIConnectionError)
    assert not exc.may_have_reached_server
    await client.aclose()
    exc = await _run(client, CALLS["retrieve"])
    assert isinstance(exc, ching_async.ClientStateError)
    assert_no_secret_in_logs(debug_logs)


async def test_reconciled_results_and_errors_are_redacted(
    hostile: tuple[Hostile, RawServer], debug_logs: pytest.LogCaptureFixture
) -> None:
    """A result found by reconciliation is built for the POST, which had no
    Authorization header yet: the lookup's echo is still redacted."""
    handler, server = hostile
    handler.mode = "reconcile"
    async with _client(server.url) as client:
        charge = await CALLS["create"](client)
        assert charge.request_info.reconciled
        assert charge.request_info.request_id == "Bearer <redacted>"
        assert not leaks_secret(repr(charge.request_info))
        handler.mode = "reconcile_declined"
        exc = await _run(client, CALLS["create"])
    assert isinstance(exc, ching_async.CardDeclinedError)
    assert exc.request_id == "Bearer <redacted>"
    assert "declined for Bearer <redacted>" in str(exc)
    assert_no_secret_in_logs(debug_logs)


@pytest.mark.parametrize("call", ["retrieve", "create"])
async def test_parser_error_quoting_the_key_is_redacted(
    hostile: tuple[Hostile, RawServer], debug_logs: pytest.LogCaptureFixture, call: str
) -> None:
    """aiohttp's parser error quotes the bad header line (here: the echoed
    Authorization header); our error carries its text without the key."""
    handler, server = hostile
    handler.mode = "bad_header"
    async with _client(server.url, max_retries=0) as client:
        exc = await _run(client, CALLS[call])
    connection_error = exc if call == "retrieve" else exc.__cause__ if exc else None
    assert isinstance(connection_error, ching_async.APIConnectionError), exc
    assert "Bearer <redacted>" in str(connection_error)
    assert_no_secret_in_logs(debug_logs)


async def test_outcome_unknown_chain(
    hostile: tuple[Hostile, RawServer], debug_logs: pytest.LogCaptureFixture
) -> None:
    """POST /charges times out and so does every reconciliation lookup: the
    OutcomeUnknownError's whole chain (cause: the lookup's error) is clean."""
    handler, server = hostile
    handler.mode = "hang"
    async with _client(server.url, timeout=0.2, total_timeout=1.0, max_retries=2) as client:
        exc = await _run(client, CALLS["create"])
    assert isinstance(exc, ching_async.OutcomeUnknownError)
    assert exc.__cause__ is not None
    assert_no_secret_in_logs(debug_logs)


def test_secret_detector_detects() -> None:
    """The helpers these tests rely on do find a key, whole or in part."""
    assert leaks_secret(KEY)
    assert leaks_secret("xx" + SECRET[20:40] + "yy")
    assert not leaks_secret("ck_test_<redacted>")
    # Spelled with JSON escapes, as is and inside a repr.
    escaped = spell(KEY, "all-upper")
    assert SECRET[:12] not in escaped
    assert leaks_secret(escaped)
    assert leaks_secret(repr({"body": escaped}))
    assert leaks_secret(spell(KEY, "underscores"))
    try:
        try:
            raise ValueError("Bearer " + KEY)
        except ValueError:
            raise ching_async.ChingError("clean") from None
    except ching_async.ChingError as exc:
        with pytest.raises(AssertionError):
            assert_no_secret_in_exception(exc)


async def test_fake_request_log_repr_never_shows_key() -> None:
    """FakeChing's request records keep the header (tests assert on it), but
    their repr, which pytest prints when an assertion on them fails, does not."""
    from ching_async.testing import FakeChing

    async with FakeChing(api_key=KEY) as fake:
        async with ching_async.Client(KEY, base_url=fake.url) as client:
            await client.customers.list()
        record = fake.requests()[-1]
        assert record.headers["Authorization"] == f"Bearer {KEY}"
        for text in (repr(record), str(record), repr(fake.requests())):
            assert not leaks_secret(text), text
            assert "GET" in text
            assert "<redacted>" in text


async def test_raw_server_request_repr_never_shows_key() -> None:
    """The same for this suite's own raw server: its request records are what
    a failing hardening test prints."""
    seen: list[RawRequest] = []

    async def record(conn: RawConnection, request: RawRequest) -> None:
        seen.append(request)
        await conn.respond(200, envelope(CHARGE))

    async with (
        RawServer(record) as server,
        ching_async.Client(KEY, base_url=server.url) as client,
    ):
        await client.charges.retrieve("ch_1")
    assert seen[0].headers["authorization"] == f"Bearer {KEY}"
    for text in (repr(seen[0]), str(seen[0]), repr(seen)):
        assert not leaks_secret(text), text
        assert "<redacted>" in text


# ------------------------------------------------------ user middlewares
class Recorder:
    """A user middleware that keeps everything it can read of each response,
    and hands on a derived copy (as a middleware that adds a header would)."""

    def __init__(self, derive: bool) -> None:
        self.derive = derive
        self.seen: list[str] = []

    async def __call__(self, request: Request, call_next: Any) -> Response:
        self.seen.append(repr(vars(request)))
        response: Response = await call_next(request)
        req = response.request
        self.seen += [repr(response), repr(req), repr(dict(req.headers)), repr(vars(req))]
        # Not response.headers or .body: those are the server's own bytes,
        # here echoing the key on purpose (see SECURITY.md).
        self.seen += [repr(response.request_id), repr(req.url), repr(req.replace(attempt=9))]
        return response.replace(elapsed=0.0) if self.derive else response


@pytest.mark.parametrize("derive", [False, True], ids=["as-is", "derived"])
@pytest.mark.parametrize("mode", ["ok", "status", "reconcile", "reconcile_declined"])
async def test_user_middleware_never_sees_the_key(
    hostile: tuple[Hostile, RawServer],
    debug_logs: pytest.LogCaptureFixture,
    mode: str,
    derive: bool,
) -> None:
    """The response a user middleware gets back carries its request without
    the Authorization header; what it hands on is still redacted as before."""
    handler, server = hostile
    handler.mode = mode
    handler.status = 400
    outer, inner = Recorder(derive), Recorder(derive)
    async with _client(server.url, middlewares=[outer, inner]) as client:
        for name in ("retrieve", "list", "create"):
            await _run(client, CALLS[name])
        if mode == "reconcile":
            charge = await CALLS["create"](client)
            assert charge.request_info.request_id == "Bearer <redacted>"
    assert all(r.headers["authorization"] == "Bearer " + KEY for r in server.requests)
    for recorder in (outer, inner):
        assert len(recorder.seen) > 3
        for text in recorder.seen:
            assert not leaks_secret(text), text
    assert_no_secret_in_logs(debug_logs)


# ----------------------------------------------- JSON-escaped echoes
def _u(c: str, *, upper: bool = False) -> str:
    code = f"{ord(c):04x}"
    return "\\u" + (code.upper() if upper else code)


_SHORT = {'"': '\\"', "\\": "\\\\", "/": "\\/"}
# Each form spells the i-th character of the key; a quote or backslash left
# literal by a form gets its short escape (a bare one would end the string).
ESCAPES: dict[str, Callable[[int, str], str]] = {
    "underscores": lambda i, c: _u(c) if c == "_" else c,
    "underscores-upper": lambda i, c: _u(c, upper=True) if c == "_" else c,
    "all-lower": lambda i, c: _u(c),
    "all-upper": lambda i, c: _u(c, upper=True),
    "every-third": lambda i, c: _u(c) if i % 3 == 0 else c,
    "every-seventh-upper": lambda i, c: _u(c, upper=True) if i % 7 == 0 else c,
    "mixed-case-hex": lambda i, c: _u(c)[:5] + _u(c, upper=True)[5:],
    "mixed": lambda i, c: [c, _u(c), _u(c, upper=True), _u(c)[:5] + _u(c, upper=True)[5:]][i % 4],
    "short-escapes": lambda i, c: _SHORT.get(c, c),
}


def spell(key: str, form: str) -> str:
    """`key` as the inside of a JSON string, spelled the `form` way."""
    out = []
    for i, c in enumerate(key):
        spelled = ESCAPES[form](i, c)
        out.append(_SHORT[c] if spelled == c and c in '"\\' else spelled)
    return "".join(out)


# A key with "/", '"' and "\\" (printable ASCII, so a valid key) covers the
# short escapes too.
SLASH_KEY = "ck_test_" + SECRET[:20] + '/"\\' + SECRET[20:]


def _escaped_echo_bodies(key: str, form: str) -> dict[str, bytes]:
    """Bodies that echo `key` (in JSON spelling `form`) where an error keeps text."""
    spelled = spell(key, form)
    surrogate = "\\ud83d\\udcb3"  # U+1F4B3 as a surrogate pair, right before the key
    marker = "@@KEY@@"
    shapes: dict[str, Any] = {
        "message": {"success": False, "error": {"code": "X", "message": "m " + marker}},
        "code": {"success": False, "error": {"code": marker, "message": "m"}},
        "issues": {
            "success": False,
            "error": {
                "code": "X",
                "message": "m",
                "issues": [{"path": [marker], "message": marker}],
            },
        },
        "unknown-field": {"success": False, "error": {"code": "X", "message": "m"}, "e": marker},
        "charge-field": {"success": True, "data": {**CHARGE, "created": marker}},
        "list-item": {"success": True, "data": [{**CHARGE, "amount": marker}]},
        "not-an-envelope": {"echo": marker},
    }
    bodies = {}
    for name, shape in shapes.items():
        raw = orjson.dumps(shape).decode()
        bodies[name] = raw.replace(marker, "Bearer " + spelled).encode()
        bodies[name + "+surrogate"] = raw.replace(marker, surrogate + spelled).encode()
        # Past every excerpt boundary too.
        padded = raw.replace(marker, "p" * 480 + spelled)
        bodies[name + "+padded"] = padded.encode()
        # Cut anywhere: not JSON any more, the raw text still must not show it.
        bodies[name + "+truncated"] = padded.encode()[: len(padded) - 3]
    # Raw text straddling the excerpt's read window, where control characters
    # collapse and pull the window's end into the excerpt.
    for pad in (1990, 1999, 2000, 2001):
        bodies[f"raw-at-{pad}+truncated"] = ("y" * pad + spelled).encode()
        bodies[f"raw-controls-{pad}+truncated"] = ("\x00" * pad + spelled + "z").encode()
    return bodies


@pytest.mark.parametrize("form", sorted(ESCAPES))
@pytest.mark.parametrize("key", [KEY, SLASH_KEY], ids=["key", "key-with-slash-quote-backslash"])
def test_json_escaped_echo_never_reaches_an_error(key: str, form: str) -> None:
    """The server echoes the key as the same JSON string value, spelled with
    escapes: err.body, vars(err), its pickle and its chain stay clean."""
    import pickle

    request = REQUEST.with_headers({"Authorization": "Bearer " + key})
    secret = key.removeprefix("ck_test_")
    checked = 0
    for name, body in _escaped_echo_bodies(key, form).items():
        if not name.endswith("+truncated"):
            # The same JSON value as the key itself.
            assert secret in repr(orjson.loads(body)).replace("\\\\", "\\"), name
        for status in (200, 400, 500):
            headers = {"x-request-id": spell(key, form)}
            response = Response(status=status, headers=headers, body=body, request=request)
            for decode in (
                lambda response=response: decode_envelope(response),
                lambda response=response: decode_model(response, Charge),
                lambda response=response: decode_list(
                    response, Charge, list_data(response, Charge), request_info(response)
                ),
            ):
                try:
                    decode()
                except ching_async.ChingError as exc:
                    checked += 1
                    for item in exception_chain(exc):
                        # Values as they are (a repr would double every backslash).
                        values = [*vars(item).values(), *item.args]
                        texts = [
                            str(item),
                            repr(item),
                            *(v if type(v) is str else repr(v) for v in values),
                        ]
                        for text in texts:
                            assert not leaks_secret(text), (name, status, text[:300])
                        pickled = pickle.dumps(item)
                        assert not leaks_secret(pickled.decode("latin-1")), name
    assert checked > 50


def test_a_request_without_credentials_still_redacts_and_pickles_nothing() -> None:
    """What a user middleware gets: no Authorization header, the secret kept
    only for redaction, shown and pickled as nothing."""
    import copy
    import pickle

    from ching_async._messages import without_credentials

    hidden = without_credentials(REQUEST.with_headers({"X-Shop": "1"}))
    assert hidden is not None
    assert dict(hidden.headers) == {"X-Shop": "1"}
    assert without_credentials(hidden) is None
    response = Response(status=200, headers={"x-request-id": KEY}, body=b"", request=hidden)
    assert response.request_id == "<redacted>"
    derived = copy.deepcopy(hidden.replace(attempt=2))
    assert (
        Response(status=200, headers={"x-request-id": KEY}, body=b"", request=derived).request_id
        == "<redacted>"
    )
    for text in (repr(hidden), repr(vars(hidden)), repr(vars(derived))):
        assert not leaks_secret(text), text
    pickled = pickle.dumps(hidden)
    assert not leaks_secret(pickled.decode("latin-1"))
    assert dict(pickle.loads(pickled).headers) == {"X-Shop": "1"}
