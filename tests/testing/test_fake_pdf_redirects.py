"""FakeChing.redirect_pdfs and its file host: the PDF route answers with
redirects (on the API's origin, or on to a file host on another port), and
the file host serves the PDF without a key and refuses one that carries a
key of the fake's."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from ching_async.testing import FakeChing, Fault

from .conftest import Seeded


@pytest.fixture
def document(fake: FakeChing, seeded: Seeded) -> str:
    charge = fake.add_charge(seeded.customer, seeded.card)
    assert charge.document is not None
    return charge.document


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as plain:
        yield plain


async def get(
    session: aiohttp.ClientSession, url: str, **headers: str
) -> tuple[int, dict[str, str], bytes]:
    async with session.get(url, headers=headers, allow_redirects=False) as resp:
        return resp.status, dict(resp.headers), await resp.read()


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def test_the_pdf_route_serves_the_pdf_until_told_to_redirect(
    fake: FakeChing, document: str, session: aiohttp.ClientSession
) -> None:
    route = f"{fake.url}/documents/{document}/pdf"
    status, headers, body = await get(session, route, **bearer(fake.api_key))
    assert (status, headers["Content-Type"], body) == (
        200,
        "application/pdf",
        fake.document(document).pdf(),
    )
    fake.redirect_pdfs()
    status, headers, body = await get(session, route, **bearer(fake.api_key))
    assert (status, headers["Location"], body) == (
        302, f"{fake.file_host_url}/doc/{document}.pdf", b""
    )  # fmt: skip
    assert fake.file_host_url != fake.root_url  # another origin: the same host, another port
    assert fake.file_host_url.startswith("http://127.0.0.1:")
    # The API's rules hold first: no key, no redirect.
    assert (await get(session, route))[0] == 401
    fake.redirect_pdfs(None)
    assert (await get(session, route, **bearer(fake.api_key)))[0] == 200


async def test_the_file_host_serves_the_pdf_without_a_key_and_logs_it(
    fake: FakeChing, document: str, session: aiohttp.ClientSession
) -> None:
    url = f"{fake.file_host_url}/doc/{document}.pdf"
    status, headers, body = await get(session, url, Authorization="Bearer not-a-key-of-ours")
    assert (status, headers["Content-Type"]) == (200, "application/pdf")
    assert body == fake.document(document).pdf()
    assert (await get(session, f"{fake.file_host_url}/doc/doc_nothing.pdf"))[:1] == (404,)
    assert (await get(session, f"{fake.file_host_url}/other"))[0] == 404
    records = fake.requests_to("GET", "/doc/{id}.pdf")
    assert [(r.path, r.status) for r in records] == [
        (f"/doc/{document}.pdf", 200), ("/doc/doc_nothing.pdf", 404)
    ]  # fmt: skip
    assert records[0].headers["Authorization"] == "Bearer not-a-key-of-ours"


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "Bearer {key}"},
        {"Authorization": "bearer {key}"},
        {"X-Forwarded-Auth": "token={key}"},
        {"Authorization": "Bearer {live}"},
    ],
)
async def test_the_file_host_refuses_a_request_that_carries_a_key_of_the_fakes(
    headers: dict[str, str], fake: FakeChing, document: str, session: aiohttp.ClientSession
) -> None:
    sent = {
        name: value.format(key=fake.api_key, live=fake.live_api_key)
        for name, value in headers.items()
    }
    status, _, body = await get(session, f"{fake.file_host_url}/doc/{document}.pdf", **sent)
    assert status == 403
    assert b"API_KEY_SENT_TO_FILE_HOST" in body
    assert fake.api_key.encode() not in body


async def test_same_origin_hops_and_a_url_of_ones_own(
    fake: FakeChing, document: str, session: aiohttp.ClientSession
) -> None:
    route = f"{fake.url}/documents/{document}/pdf"
    key = bearer(fake.api_key)
    fake.redirect_pdfs(307, to="api", hops=2)
    answers = [await get(session, route + query, **key) for query in ("", "?hop=1", "?hop=2")]
    assert [(status, headers.get("Location")) for status, headers, _ in answers] == [
        (307, "pdf?hop=1"), (307, "pdf?hop=2"), (200, None)
    ]  # fmt: skip
    fake.redirect_pdfs(301, to="files", hops=2)
    answers = [await get(session, route + query, **key) for query in ("", "?hop=1")]
    assert [headers["Location"] for _, headers, _ in answers] == [
        "pdf?hop=1", f"{fake.file_host_url}/doc/{document}.pdf"
    ]  # fmt: skip
    fake.redirect_pdfs(308, to="http://files.example/{id}.pdf")
    status, headers, _ = await get(session, route, **key)
    assert (status, headers["Location"]) == (308, f"http://files.example/{document}.pdf")


@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        ({"status": 300}, ValueError),
        ({"status": 200}, ValueError),
        ({"status": True}, ValueError),
        ({"hops": 0}, ValueError),
        ({"hops": "2"}, ValueError),
        ({"to": ""}, TypeError),
        ({"to": None}, TypeError),
    ],
)
def test_redirect_pdfs_checks_its_arguments(
    arguments: dict[str, Any], error: type[Exception]
) -> None:
    with pytest.raises(error):
        FakeChing().redirect_pdfs(**arguments)


def test_the_file_host_url_exists_once_serving() -> None:
    with pytest.raises(RuntimeError, match="not running"):
        _ = FakeChing().file_host_url


@pytest.mark.parametrize(
    ("fault", "status"),
    [(Fault.status(503), 503), (Fault.html(403), 403), (Fault.reset_before(), None)],
)
async def test_faults_for_the_file_route_apply_on_the_file_host(
    fault: Fault, status: int | None, fake: FakeChing, document: str, session: aiohttp.ClientSession
) -> None:
    fake.faults.add(fault, path="/doc/{id}.pdf")
    url = f"{fake.file_host_url}/doc/{document}.pdf"
    if status is None:
        with pytest.raises(aiohttp.ClientError):
            await get(session, url)
    else:
        assert (await get(session, url))[0] == status
    fake.faults.clear()
    assert (await get(session, url))[0] == 200
    # (aiohttp re-sends a GET whose connection was reset once, on its own.)
    *faulted, served = [r.status for r in fake.requests_to("GET", "/doc/{id}.pdf")]
    assert (set(faulted), served) == ({status}, 200)


async def test_without_a_log_the_file_host_logs_nothing() -> None:
    async with FakeChing(log_requests=False) as fake, aiohttp.ClientSession() as session:
        customer = fake.add_customer()
        document = fake.add_charge(customer.id).document
        assert (await get(session, f"{fake.file_host_url}/doc/{document}.pdf"))[0] == 200
        assert fake.requests() == []
