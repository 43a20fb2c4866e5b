"""The default transport's session options: app_info (User-Agent), proxy= and
proxies from the environment (trust_env), against a loopback proxy."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

import ching_async
from ching_async.testing import FakeChing, MockTransport, envelope_response
from tests._support.loopback import serving
from tests._support.scripted import CHARGE, TEST_KEY

# Never resolved: a request that reaches it went through the proxy.
NOWHERE = "http://ching.invalid/ching/v1"


class Proxy:
    """A forward proxy on 127.0.0.1 that answers every request itself and
    records the absolute URL and headers it got."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, str]]] = []
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.seen.append((str(request.url), dict(request.headers)))
        return web.json_response({"success": True, "data": [CHARGE]})


@pytest.fixture
async def proxy() -> AsyncIterator[Proxy]:
    proxy = Proxy()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", proxy.handle)
    async with serving(app) as url:
        proxy.url = url
        yield proxy


@pytest.fixture(autouse=True)
def no_proxy_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


def client(api_key: str = TEST_KEY, **options: Any) -> ching_async.Client:
    options.setdefault("base_url", NOWHERE)
    options.setdefault("retry_policy", ching_async.RetryPolicy(instant=True))
    options.setdefault("max_retries", 0)
    return ching_async.Client(api_key, **options)


async def test_app_info_is_appended_to_the_user_agent() -> None:
    async with (
        FakeChing() as fake,
        client(fake.api_key, base_url=fake.url, app_info="myshop/1.4") as c,
    ):
        await c.charges.list()
        [record] = fake.requests()
    assert record.headers["User-Agent"].startswith("ching-async/")
    assert record.headers["User-Agent"].endswith(" aiohttp/" + aiohttp.__version__ + " myshop/1.4")


async def test_app_info_goes_with_a_callers_session_too(proxy: Proxy) -> None:
    async with (
        aiohttp.ClientSession() as session,
        client(base_url=proxy.url + "/ching/v1", session=session, app_info="a/1") as c,
    ):
        await c.charges.list()
    assert proxy.seen[0][1]["User-Agent"].endswith(" a/1")


async def test_explicit_proxy_carries_every_request(proxy: Proxy) -> None:
    async with client(proxy=proxy.url) as c:
        charges = await c.charges.list()
    assert [charge.id for charge in charges] == [CHARGE["id"]]
    [(url, headers)] = proxy.seen
    assert url == NOWHERE + "/charges"
    assert headers["Authorization"] == "Bearer " + TEST_KEY  # plain http: the proxy sees it


async def test_proxy_credentials_go_to_the_proxy_and_are_never_shown(proxy: Proxy) -> None:
    with_password = proxy.url.replace("http://", "http://shop:s3cret-pw@")
    async with client(proxy=with_password) as c:
        await c.charges.list()
        assert "s3cret-pw" not in repr(c)
    expected = "Basic " + base64.b64encode(b"shop:s3cret-pw").decode()
    assert proxy.seen[0][1]["Proxy-Authorization"] == expected


async def test_environment_proxy_is_used_by_default(
    proxy: Proxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    async with client() as c:
        await c.charges.list()
    assert len(proxy.seen) == 1


async def test_trust_env_false_ignores_the_environment(
    proxy: Proxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    async with client(trust_env=False) as c:
        with pytest.raises(ching_async.APIConnectionError) as raised:
            await c.charges.list()
    assert raised.value.may_have_reached_server is False  # ching.invalid never resolves
    assert proxy.seen == []


async def test_no_proxy_and_loopback_bypass_the_environment_proxy(
    proxy: Proxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv("NO_PROXY", "ching.invalid")
    async with client() as c:
        with pytest.raises(ching_async.APIConnectionError):
            await c.charges.list()
    monkeypatch.delenv("NO_PROXY")
    # A fake on 127.0.0.1 is never reached through a proxy: the proxy's
    # loopback is another machine's.
    async with FakeChing() as fake, client(fake.api_key, base_url=fake.url) as c:
        await c.charges.list()
    assert proxy.seen == []


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"app_info": ""}, "app_info must be 1-200 printable ASCII"),
        ({"app_info": "shop\r\nX-Evil: 1"}, "app_info must be 1-200 printable ASCII"),
        ({"app_info": 3}, "app_info must be 1-200 printable ASCII"),
        ({"proxy": "socks5://127.0.0.1:1080"}, "proxy must be an absolute http"),
        ({"proxy": "http://127.0.0.1:99999"}, "proxy is not a valid URL"),
        ({"proxy": b"http://p"}, "proxy must be a URL string"),
        ({"trust_env": "no"}, "trust_env must be True or False"),
    ],
)
def test_bad_session_options_are_refused(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ching_async.InvalidParameterError, match=message):
        client(**options)


def test_a_proxy_password_is_never_echoed_in_an_error() -> None:
    with pytest.raises(ching_async.InvalidParameterError) as raised:
        client(proxy="ftp://user:s3cret-pw@proxy:1")
    assert "s3cret-pw" not in str(raised.value)


@pytest.mark.parametrize(
    "options", [{"app_info": "a/1"}, {"proxy": "http://127.0.0.1:1"}, {"trust_env": False}]
)
async def test_session_options_do_not_combine_with_a_transport(options: dict[str, Any]) -> None:
    transport = MockTransport(lambda request: envelope_response(request, []))
    with pytest.raises(ching_async.InvalidParameterError, match="configure your transport"):
        client(transport=transport, **options)


async def test_proxy_options_do_not_combine_with_a_callers_session() -> None:
    async with aiohttp.ClientSession() as session:
        for options in ({"proxy": "http://127.0.0.1:1"}, {"trust_env": True}):
            with pytest.raises(ching_async.InvalidParameterError, match="configure your session"):
                client(session=session, **options)
