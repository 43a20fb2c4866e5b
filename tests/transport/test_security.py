"""Transport security: TLS verified by default (and loud when turned off), no
live key over plain http:// to another host, a base URL that cannot smuggle
anything into the request line, and no redirect followed (so the
Authorization header never reaches another host) but a PDF download's, which
keeps the key on the API's origin (tests/client/test_documents_redirects.py)."""

from __future__ import annotations

import contextlib
import logging
import ssl
import warnings
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

import ching_async
from tests._support.hostile import (
    CHARGE,
    KEY,
    LIVE_KEY,
    SECRET,
    assert_no_secret_in_exception,
    envelope,
    transport_of,
)
from tests._support.rawserver import RawConnection, RawRequest, RawServer

# A self-signed P-256 certificate for localhost / 127.0.0.1, valid until 2126.
# Test-only material: it protects nothing.
CERT_PEM = """-----BEGIN CERTIFICATE-----
MIIBmzCCAUGgAwIBAgIUeY8PYqTXLB6GiiF85GPBeIexL+swCgYIKoZIzj0EAwIw
FDESMBAGA1UEAwwJbG9jYWxob3N0MCAXDTI2MTEyMjIzMDYyOFoYDzIxMjYxMDI5
MjMwNjI4WjAUMRIwEAYDVQQDDAlsb2NhbGhvc3QwWTATBgcqhkjOPQIBBggqhkjO
PQMBBwNCAAQQySqcTjH+C4RSvOEpbJTIXw4w2GY8D3kRqhYUJKCJQcu1aWygjRHq
DrQ0fkoAdOP1ZKn9Py4hXQTMSbonSCoFo28wbTAdBgNVHQ4EFgQUGw9Zh+AG086R
qNpv1K26CdbzOc0wHwYDVR0jBBgwFoAUGw9Zh+AG086RqNpv1K26CdbzOc0wDwYD
VR0TAQH/BAUwAwEB/zAaBgNVHREEEzARgglsb2NhbGhvc3SHBH8AAAEwCgYIKoZI
zj0EAwIDSAAwRQIhAKYso5PxAUxH5NtHKoY21a6T7yOVdAs0xfDsScCDiAAhAiBM
JDIJ9vfQ/2HgDqoLm+54OuL/PtHsXRXY9wMP7/oBzg==
-----END CERTIFICATE-----
"""
KEY_PEM = """-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgS6cg7WQKx44xxT1z
QUj+1f+D3sVWQs8ebFwq13YzlrShRANCAAQQySqcTjH+C4RSvOEpbJTIXw4w2GY8
D3kRqhYUJKCJQcu1aWygjRHqDrQ0fkoAdOP1ZKn9Py4hXQTMSbonSCoF
-----END PRIVATE KEY-----
"""


class TLSServer:
    def __init__(self, url: str) -> None:
        self.url = url
        self.requests = 0


@pytest.fixture
async def tls_server(tmp_path: Path) -> AsyncIterator[TLSServer]:
    (tmp_path / "cert.pem").write_text(CERT_PEM)
    (tmp_path / "key.pem").write_text(KEY_PEM)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    server = TLSServer("")

    async def handle(request: web.Request) -> web.Response:
        server.requests += 1
        return web.json_response({"success": True, "data": CHARGE})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    server.url = f"https://127.0.0.1:{runner.addresses[0][1]}/ching/v1"
    try:
        yield server
    finally:
        await runner.cleanup()


def _client(url: str, **kwargs: object) -> ching_async.Client:
    return ching_async.Client(
        KEY,
        base_url=url,
        retry_policy=ching_async.RetryPolicy(instant=True),
        timeout=5.0,
        total_timeout=10.0,
        **kwargs,  # type: ignore[arg-type]
    )


# ---------------------------------------------------------------------- TLS
def test_transport_verifies_tls_by_default() -> None:
    client = ching_async.Client(KEY)
    # aiohttp: ssl=True is the default verifying context; False turns it off.
    assert transport_of(client)._ssl is True
    with pytest.warns(UserWarning, match="DISABLED"):
        insecure = ching_async.Client(KEY, verify_tls=False)
    assert transport_of(insecure)._ssl is False


async def test_self_signed_certificate_is_refused_by_default(tls_server: TLSServer) -> None:
    async with _client(tls_server.url) as client:
        with pytest.raises(ching_async.APIConnectionError) as info:
            await client.charges.retrieve("ch_1")
    exc = info.value
    assert type(exc) is ching_async.APIConnectionError
    assert "certificate" in str(exc).lower()
    assert exc.may_have_reached_server is False  # the handshake failed: nothing was sent
    assert tls_server.requests == 0
    assert_no_secret_in_exception(exc)


async def test_trusted_certificate_is_accepted(tls_server: TLSServer, tmp_path: Path) -> None:
    """The refusal above is about trust, not a broken server: trusting this
    certificate (through a caller's session) makes the same call succeed."""
    (tmp_path / "ca.pem").write_text(CERT_PEM)
    context = ssl.create_default_context(cafile=str(tmp_path / "ca.pem"))
    connector = aiohttp.TCPConnector(ssl=context)
    async with (
        aiohttp.ClientSession(connector=connector) as session,
        _client(tls_server.url, session=session) as client,
    ):
        charge = await client.charges.retrieve("ch_1")
    assert charge.id == CHARGE["id"]
    assert tls_server.requests == 1


async def test_verify_tls_false_works_and_is_loud(
    tls_server: TLSServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="ching_async")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        client = _client(tls_server.url, verify_tls=False)
    assert [
        w for w in caught if issubclass(w.category, UserWarning) and "DISABLED" in str(w.message)
    ]
    assert any(
        r.name == "ching_async" and r.levelno == logging.WARNING and "DISABLED" in r.getMessage()
        for r in caplog.records
    )
    async with client:
        charge = await client.charges.retrieve("ch_1")
    assert charge.id == CHARGE["id"]


async def test_tls_connections_read_at_most_64_kib_at_a_time(
    tls_server: TLSServer, capped_transports: list[Any]
) -> None:
    """Under TLS the SSL protocol's reads are capped too (see _aiohttp.cap_read_size)."""
    with pytest.warns(UserWarning, match="DISABLED"):
        client = _client(tls_server.url, verify_tls=False)
    async with client:
        charge = await client.charges.retrieve("ch_1")
    assert charge.id == CHARGE["id"]
    assert len(capped_transports) == 1
    assert capped_transports[0]._ssl_protocol.max_size == 64 * 1024


# ------------------------------------------------------- plain http guard
@pytest.mark.parametrize(
    "url",
    [
        "http://api.ching.co.il/ching/v1",
        "http://10.0.0.7/ching/v1",
        "http://192.168.1.1:8080/",
        "http://127.0.0.1.nip.io/ching/v1",
        "http://localhost.evil.example/ching/v1",
        "http://[::ffff:8.8.8.8]/",
        "HTTP://API.CHING.CO.IL/ching/v1",
    ],
)
@pytest.mark.parametrize("key", [LIVE_KEY, "sk_live_" + SECRET])
def test_live_key_over_plain_http_is_refused(url: str, key: str) -> None:
    with pytest.raises(ching_async.InvalidParameterError, match="http://") as info:
        ching_async.Client(key, base_url=url)
    assert_no_secret_in_exception(info.value)


def test_live_key_over_plain_http_from_environment_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CHING_API_KEY", LIVE_KEY)
    monkeypatch.setenv("CHING_BASE_URL", "http://api.ching.co.il/ching/v1")
    with pytest.raises(ching_async.InvalidParameterError, match="http://"):
        ching_async.Client()


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8787/ching/v1",
        "http://localhost:8787/ching/v1",
        "http://[::1]:8787/ching/v1",
        "http://127.5.5.5/v1",
        "https://api.ching.co.il/ching/v1",
    ],
)
def test_live_key_allowed_over_https_or_loopback(url: str) -> None:
    assert ching_async.Client(LIVE_KEY, base_url=url).mode == "live"


# ------------------------------------------------------- base URL hygiene
@pytest.mark.parametrize(
    "url",
    [
        "https://api.ching.co.il/ching/v1\r\nX-Injected: 1",
        "https://api.ching.co.il/ching/v1 HTTP/1.1\r\nX-Injected: 1",
        "https://api.ching.co.il/ching v1",
        "https://api.ching.co.il/ching/v1\x00",
        "https://api.ching.co.il/ching/v1\t",
        "https://api.ching.co.il:99999/ching/v1",
        "https://api.ching.co.il:-1/ching/v1",
        "https://[::1/ching/v1",
        "https://user:hunter2@api.ching.co.il/ching/v1",
        # Wrong in another way too: the password must not be echoed either.
        "ftp://user:hunter2@api.ching.co.il/ching/v1",
        "//user:hunter2@api.ching.co.il/ching/v1",
        "https://user:hunter2@:443/ching/v1",
        # urlsplit's own error quotes the netloc (NFKC-unsafe characters).
        "https://user:hunter2\uff03@api.ching.co.il/ching/v1",
        "https://user:hunter2\u2100@api.ching.co.il/ching/v1",
    ],
)
def test_malformed_base_url_is_rejected_at_construction(url: str) -> None:
    """Caught when the client is built, as a ChingError, not later as a bare
    ValueError from aiohttp or as a request line with spaces in it."""
    with pytest.raises(ching_async.InvalidParameterError) as info:
        ching_async.Client(KEY, base_url=url)
    assert "hunter2" not in str(info.value)


async def test_base_url_cannot_smuggle_into_the_request_line() -> None:
    """A base URL carrying CR/LF is refused when the client is built."""
    with pytest.raises(ching_async.InvalidParameterError):
        _client("http://127.0.0.1:9 HTTP/1.1\r\nX-Injected: 1\r\nY:")


@pytest.mark.parametrize(
    "path",
    [
        "/charges/ch_1 HTTP/1.1\r\nX-Injected: 1\r\nY:",
        "/charges/ch_1 HTTP/1.1",
        "/charges/ch_1\tx",
        "/charges/ch_1\x00",
    ],
)
async def test_a_middleware_cannot_smuggle_a_path_into_the_request_line(path: str) -> None:
    """A path that got past every check (here a user middleware's rewrite)
    is refused by the transport, never sent: aiohttp, told the URL is
    encoded, would send a raw space and split the request line."""

    rewrites = [path]

    async def rewrite(
        request: ching_async.Request, call_next: ching_async.Handler
    ) -> ching_async.Response:
        if rewrites:
            request = request.replace(path=rewrites.pop())
        return await call_next(request)

    async with RawServer() as server:
        client = _client(server.url, middlewares=[rewrite], max_connections=1)
        async with client:
            with pytest.raises(ching_async.InvalidParameterError, match="percent-encode"):
                await client.charges.retrieve("ch_1")
            assert server.requests == []
            # The refused attempt gave its pool slot back: with a pool of one,
            # the next call reaches the server instead of waiting out its timeout.
            with contextlib.suppress(ching_async.ChingError):
                await client.charges.retrieve("ch_1")
        assert [r.target for r in server.requests] == ["/ching/v1/charges/ch_1"]


def test_sendable_url_check_passes_encoded_urls() -> None:
    from ching_async._protocol import check_sendable_url

    url = "https://api.ching.co.il/ching/v1/charges/ch%201?customer=cus_1&q=a%20b"
    assert check_sendable_url(url) == url


# ---------------------------------------------------------------- redirects
@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_redirect_to_another_port_is_not_followed(status: int, method: str) -> None:
    async with RawServer() as elsewhere:  # would answer a valid charge if reached

        async def redirect(conn: RawConnection, request: RawRequest) -> None:
            target = elsewhere.root + request.target
            await conn.respond(status, b"", {"Location": target}, content_type="")

        async with RawServer(redirect) as origin, _client(origin.url) as client:
            call = (
                client.charges.retrieve("ch_1")
                if method == "GET"
                else client.charges.capture("ch_1", amount=100)
            )
            with pytest.raises(ching_async.APIError) as info:
                await call
    assert info.value.status == status
    assert elsewhere.total == 0, "the client connected to the redirect target"
    assert not elsewhere.requests
    assert origin.requests[0].headers["authorization"] == "Bearer " + KEY
    assert_no_secret_in_exception(info.value)


async def test_redirect_on_same_host_is_not_followed_either() -> None:
    async def redirect(conn: RawConnection, request: RawRequest) -> None:
        if request.target.endswith("/moved"):
            await conn.respond(200, envelope(CHARGE))
        else:
            await conn.respond(302, b"", {"Location": "/ching/v1/charges/moved"}, content_type="")

    async with RawServer(redirect) as server, _client(server.url) as client:
        with pytest.raises(ching_async.APIError) as info:
            await client.charges.retrieve("ch_1")
    assert info.value.status == 302
    assert [r.target for r in server.requests] == ["/ching/v1/charges/ch_1"]
