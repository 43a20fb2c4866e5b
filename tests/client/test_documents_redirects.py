"""documents.download_pdf as a real server may answer it: the Accept header
it sends, and the redirects it follows (to https only, at most 5 in a row,
the API key never to another origin), through MockTransport and over real
sockets against FakeChing's file host."""

from __future__ import annotations

import asyncio
import io
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import aiohttp
import pytest

import ching_async
from ching_async.testing import FakeChing, Fault, MockTransport, envelope_response
from tests._support.fake_client import client_for, sent
from tests._support.hostile import KEY, SECRET, leaks_secret

API = "https://api.ching.co.il/ching/v1"
ROUTE = API + "/documents/doc_1/pdf"
FILE = "https://files.ching.co.il/doc/doc_1.pdf"
PDF = b"%PDF-1.4\n" + b"x" * 5000 + b"\n%%EOF\n"
PDF_ACCEPT = "application/pdf, application/json;q=0.9, */*;q=0.1"
FILE_ROUTE = "/doc/{id}.pdf"

Answer = Callable[[ching_async.Request], ching_async.Response]


def respond(status: int, body: bytes = b"", **headers: str) -> Answer:
    def answer(request: ching_async.Request) -> ching_async.Response:
        return ching_async.Response(status, headers, body, request, attempts=request.attempt)

    return answer


def moved(location: str, status: int = 302) -> Answer:
    return respond(status, b"", Location=location)


PDF_ANSWER = respond(200, PDF, **{"Content-Type": "application/pdf"})


def web(routes: Mapping[str, Answer | Sequence[Answer]]) -> MockTransport:
    """A transport that answers each URL (query included) from `routes`: a
    sequence answers in turn, its last answer repeating. Any other URL is
    answered 599, which no test expects."""
    turns = {url: list(a) if isinstance(a, Sequence) else [a] for url, a in routes.items()}

    def handler(request: ching_async.Request) -> ching_async.Response:
        answers = turns.get(request.url)
        if not answers:
            return respond(599, f"unrouted: {request.url}".encode())(request)
        return (answers.pop(0) if len(answers) > 1 else answers[0])(request)

    return MockTransport(handler)


def client(transport: MockTransport, **options: Any) -> ching_async.Client:
    options.setdefault("retry_policy", ching_async.RetryPolicy(instant=True))
    return ching_async.Client(KEY, base_url=API, transport=transport, **options)


def urls(transport: MockTransport) -> list[str]:
    return [request.url for request in transport.requests()]


def keyed(request: Any, secret: str = SECRET) -> bool:
    """Whether the request carried the key (in any header)."""
    return any(secret in value for value in request.headers.values())


async def download(transport: MockTransport, tmp_path: Path, **options: Any) -> int:
    async with client(transport, **options) as ching:
        return await ching.documents.download_pdf("doc_1", tmp_path / "a.pdf")


async def refused(
    transport: MockTransport, tmp_path: Path, error: type[ching_async.ChingError], **options: Any
) -> Any:
    """The download's error; nothing written, and the key nowhere in it."""
    with pytest.raises(error) as caught:
        await download(transport, tmp_path, **options)
    assert os.listdir(tmp_path) == []
    for text in (str(caught.value), repr(caught.value), getattr(caught.value, "body", "")):
        assert not leaks_secret(text)
    return caught.value


# ------------------------------------------------------------------- Accept
async def test_the_download_asks_for_a_pdf_and_other_calls_keep_their_accept(
    tmp_path: Path,
) -> None:
    transport = web({ROUTE: PDF_ANSWER, API + "/documents": lambda r: envelope_response(r, [])})
    async with client(transport) as ching:
        await ching.documents.download_pdf("doc_1", tmp_path / "a.pdf")
        await ching.documents.list()
        # A caller's own Accept goes with every other call; the download's
        # replaces it, whatever its case.
        for name in ("Accept", "accept"):
            accepting = ching.with_options(headers={name: "text/plain"})
            await accepting.documents.download_pdf("doc_1", tmp_path / "a.pdf")
            await accepting.documents.list()
    accepts = [
        [value for header, value in request.headers.items() if header.lower() == "accept"]
        for request in transport.requests()
    ]
    # The transport adds its static `Accept: application/json` to a request without one.
    assert accepts == [[PDF_ACCEPT], [], [PDF_ACCEPT], ["text/plain"], [PDF_ACCEPT], ["text/plain"]]


# ---------------------------------------------------------------- following
@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_a_redirect_to_the_file_host_is_followed_without_the_key(
    status: int, tmp_path: Path
) -> None:
    transport = web({ROUTE: moved(FILE, status), FILE: PDF_ANSWER})
    assert await download(transport, tmp_path) == len(PDF)
    assert (tmp_path / "a.pdf").read_bytes() == PDF
    api, file = transport.requests()
    assert (api.url, file.url) == (ROUTE, FILE)
    assert (keyed(api), keyed(file)) == (True, False)
    assert (file.method, file.body) == ("GET", None)
    assert file.headers["Accept"] == PDF_ACCEPT


@pytest.mark.parametrize(
    ("location", "url"),
    [
        ("/files/doc_1.pdf", "https://api.ching.co.il/files/doc_1.pdf"),
        ("file.pdf", API + "/documents/doc_1/file.pdf"),
        ("../../files/x.pdf", API + "/files/x.pdf"),
        ("?download=1", ROUTE + "?download=1"),
        ("//files.ching.co.il/doc/doc_1.pdf", FILE),
        (FILE + "#page=2", FILE),  # a fragment is never sent
        (" " + FILE + "\t", FILE),
        ("https://files.ching.co.il/doc/חשבונית 1.pdf?a=ב", "https://files.ching.co.il/doc/"
         "%D7%97%D7%A9%D7%91%D7%95%D7%A0%D7%99%D7%AA%201.pdf?a=%D7%91"),
    ],
)  # fmt: skip
async def test_a_location_is_resolved_against_the_url_that_answered(
    location: str, url: str, tmp_path: Path
) -> None:
    transport = web({ROUTE: moved(location), url: PDF_ANSWER})
    assert await download(transport, tmp_path) == len(PDF)
    assert urls(transport) == [ROUTE, url]


async def test_a_relative_location_after_a_hop_resolves_against_that_hop(tmp_path: Path) -> None:
    first, then = "https://files.ching.co.il/a/b/c.pdf?sig=1", "https://files.ching.co.il/a/d.pdf"
    transport = web({ROUTE: moved(first), first: moved("../d.pdf"), then: PDF_ANSWER})
    assert await download(transport, tmp_path) == len(PDF)
    assert urls(transport) == [ROUTE, first, then]


@pytest.mark.parametrize(
    ("location", "same_origin"),
    [
        ("https://api.ching.co.il:443/ching/v1/files/doc_1.pdf", True),
        ("https://API.Ching.co.il/files/doc_1.pdf", True),
        ("/ching/v1/files/doc_1.pdf", True),
        (FILE, False),
        ("https://api.ching.co.il:8443/files/doc_1.pdf", False),
        ("https://ching.co.il/files/doc_1.pdf", False),
        ("https://api.ching.co.il.example.com/files/doc_1.pdf", False),
    ],
)
async def test_the_key_goes_only_to_the_apis_origin(
    location: str, same_origin: bool, tmp_path: Path
) -> None:
    seen: list[ching_async.Request] = []

    async def spy(request: ching_async.Request, call_next: ching_async.Handler) -> Any:
        response = await call_next(request)
        seen.extend([request, response.request])
        return response

    transport = MockTransport(lambda r: moved(location)(r) if r.url == ROUTE else PDF_ANSWER(r))
    assert await download(transport, tmp_path, middlewares=[spy]) == len(PDF)
    api, hop = transport.requests()
    assert (keyed(api), keyed(hop)) == (True, same_origin)
    # A user middleware never sees the key; the answer names the hop's URL.
    assert not any(keyed(request) for request in seen)
    assert seen[-1].url == hop.url


async def test_once_off_the_origin_the_key_never_comes_back(tmp_path: Path) -> None:
    back = API + "/files/doc_1.pdf"
    transport = web({ROUTE: moved(FILE), FILE: moved(back), back: PDF_ANSWER})
    await download(transport, tmp_path)
    assert [keyed(request) for request in transport.requests()] == [True, False, False]


@pytest.mark.parametrize("hops", [1, 5])
async def test_up_to_five_redirects_in_a_row_are_followed(hops: int, tmp_path: Path) -> None:
    chain = {f"{FILE}?hop={n}": moved(f"{FILE}?hop={n + 1}") for n in range(1, hops)}
    transport = web({ROUTE: moved(f"{FILE}?hop=1"), **chain, f"{FILE}?hop={hops}": PDF_ANSWER})
    assert await download(transport, tmp_path) == len(PDF)
    assert len(transport.requests()) == hops + 1


async def test_a_sixth_redirect_is_refused_naming_its_status_and_location(tmp_path: Path) -> None:
    chain = {f"{FILE}?sig={n}": moved(f"{FILE}?sig={n + 1}", 307) for n in range(1, 6)}
    transport = web({ROUTE: moved(f"{FILE}?sig=1"), **chain})
    error = await refused(transport, tmp_path, ching_async.RedirectError)
    assert str(error).startswith(
        f"307: a 307 redirect to {FILE} is not followed: 5 redirects in a row already (at most 5)"
    )
    assert (error.status, error.method, error.path) == (307, "GET", FILE)  # no ?sig=
    assert "sig=" not in str(error)
    assert len(transport.requests()) == 6  # not retried


# ----------------------------------------------------------------- refusals
@pytest.mark.parametrize(
    ("headers", "match"),
    [
        ({}, "302 redirect without a Location header"),
        ({"Location": "  "}, "302 redirect without a Location header"),
        ({"Location": "http://files.ching.co.il/doc/doc_1.pdf"}, "https only"),
        ({"Location": "ftp://files.ching.co.il/doc/doc_1.pdf"}, "https only"),
        ({"Location": "javascript:alert(1)"}, "https only"),
        ({"Location": "http://127.0.0.1:9/doc_1.pdf"}, "https only"),  # not from an https API
        ({"Location": "https://me:pw0rd@files.ching.co.il/x.pdf"}, "holds user:password@"),
        ({"Location": "https:///doc_1.pdf"}, "names no host"),
        ({"Location": "https://files.ching.co.il:99999/x.pdf"}, "Location that is not a URL"),
        ({"Location": "https://[::1/x.pdf"}, "Location that is not a URL"),
    ],
)
async def test_a_redirect_that_cannot_be_followed_is_a_redirect_error(
    headers: dict[str, str], match: str, tmp_path: Path
) -> None:
    # The redirect's body echoes the key: the error's excerpt of it must not.
    transport = web({ROUTE: respond(302, f"moved; you sent {KEY}".encode(), **headers)})
    error = await refused(transport, tmp_path, ching_async.RedirectError)
    assert match in str(error)
    assert (error.status, error.method, error.path) == (302, "GET", "/documents/doc_1/pdf")
    assert "pw0rd" not in str(error)
    assert len(transport.requests()) == 1  # nothing followed, not retried


async def test_other_calls_do_not_follow_redirects() -> None:
    transport = web({API + "/documents/doc_1": moved(API + "/documents/doc_2")})
    async with client(transport) as ching:
        with pytest.raises(ching_async.APIError) as caught:
            await ching.documents.retrieve("doc_1")
    assert caught.value.status == 302
    assert not isinstance(caught.value, ching_async.RedirectError)
    assert len(transport.requests()) == 1


# ------------------------------------------------- what the file host answers
SIGNED = FILE + "?X-Amz-Signature=c0ffee"


@pytest.mark.parametrize(
    ("answer", "error", "match"),
    [
        (respond(403, f"<Error>{KEY}</Error>".encode()), ching_async.PermissionDeniedError, "403"),
        (respond(404, b"Not Found"), ching_async.NotFoundError, "404"),
        (respond(200, b"<html>sign in</html>"), ching_async.ResponseDecodeError, "not a PDF"),
        (respond(200, PDF + b"more"), ching_async.ResponseDecodeError, "max_download_bytes"),
    ],
)
async def test_a_file_host_answer_that_is_not_the_pdf_is_a_typed_error_naming_it(
    answer: Answer, error: type[ching_async.APIError], match: str, tmp_path: Path
) -> None:
    transport = web({ROUTE: moved(SIGNED), SIGNED: answer})
    found = await refused(transport, tmp_path, error, max_download_bytes=len(PDF))
    assert match in str(found)
    assert (found.method, found.path) == ("GET", FILE)  # where it came from, without the query
    assert "c0ffee" not in str(found)
    assert urls(transport) == [ROUTE, SIGNED]  # sent with its query; a 4xx is not retried


async def test_a_file_host_that_keeps_failing_ends_in_its_typed_error(tmp_path: Path) -> None:
    transport = web({ROUTE: moved(SIGNED), SIGNED: respond(503, b"<h1>busy</h1>")})
    found = await refused(transport, tmp_path, ching_async.InternalServerError)
    assert (found.status, found.attempts, found.path) == (503, 3, FILE)
    assert urls(transport) == [ROUTE, SIGNED] * 3  # each attempt asked the API again


def lost(request: ching_async.Request) -> ching_async.Response:
    raise ching_async.APIConnectionError("connection reset by the file host")


@pytest.mark.parametrize("failure", [respond(503, b"busy"), lost], ids=["503", "lost"])
async def test_a_failed_hop_is_retried_from_the_api_route(failure: Answer, tmp_path: Path) -> None:
    transport = web({ROUTE: moved(FILE), FILE: [failure, PDF_ANSWER]})
    assert await download(transport, tmp_path) == len(PDF)
    assert (tmp_path / "a.pdf").read_bytes() == PDF
    assert urls(transport) == [ROUTE, FILE, ROUTE, FILE]
    assert [(keyed(r), r.attempt) for r in transport.requests()] == [
        (True, 1), (False, 1), (True, 2), (False, 2)
    ]  # fmt: skip


async def test_a_hop_gets_what_is_left_of_the_attempts_timeout(tmp_path: Path) -> None:
    async def slow(request: ching_async.Request) -> ching_async.Response:
        await asyncio.sleep(0.1)
        return moved(FILE)(request) if request.url == ROUTE else PDF_ANSWER(request)

    transport = MockTransport(slow)
    await download(transport, tmp_path, timeout=1.0)
    api, file = transport.requests()
    assert api.timeout == 1.0
    assert 0.5 < file.timeout <= 0.9
    # An answer that used the whole attempt: the hop is not sent, the attempt timed out.
    transport = MockTransport(slow)
    with pytest.raises(ching_async.APITimeoutError, match="while following"):
        await download(transport, tmp_path, timeout=0.05, max_retries=0)
    assert urls(transport) == [ROUTE]


async def test_each_hop_is_logged_without_the_query_or_the_key(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="ching_async")
    await download(web({ROUTE: moved(SIGNED), SIGNED: PDF_ANSWER}), tmp_path)
    [hop] = [r for r in caplog.records if "redirect" in r.getMessage()]
    assert hop.getMessage() == (
        f"GET /documents/doc_1/pdf -> 302: redirect 1 to {FILE} (without the API key)"
    )
    assert not any("c0ffee" in r.getMessage() or SECRET in r.getMessage() for r in caplog.records)


# ------------------------------------------------------ over the wire: FakeChing
def paid_document(fake: FakeChing) -> str:
    customer = fake.add_customer(name="Tal Levi")
    document = fake.add_charge(customer.id, amount=9900).document
    assert document is not None
    return document


def wire(fake: FakeChing) -> list[tuple[str, bool, int | None]]:
    """Each request the fake and its file host got: (path?hop, keyed, status)."""
    key = fake.api_key
    return [
        (r.path + "".join(f"?hop={h}" for h in r.query.getall("hop", [])), keyed(r, key), r.status)
        for r in fake.requests()
    ]


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_over_the_wire_the_file_host_gets_no_key_and_both_get_the_pdf_accept(
    status: int, fake: FakeChing, ching: ching_async.Client
) -> None:
    document = paid_document(fake)
    fake.redirect_pdfs(status)
    buffer = io.BytesIO()
    assert await ching.documents.download_pdf(document, buffer) == len(buffer.getvalue())
    assert buffer.getvalue() == fake.document(document).pdf()
    await ching.documents.retrieve(document)
    pdf = f"/documents/{document}/pdf"
    file = f"/doc/{document}.pdf"
    assert wire(fake) == [(pdf, True, status), (file, False, 200), (pdf[:-4], True, 200)]
    accepts = [r.headers.getall("Accept") for r in fake.requests()]
    assert accepts == [[PDF_ACCEPT], [PDF_ACCEPT], ["application/json"]]


async def test_over_the_wire_a_callers_session_sends_the_pdf_accept_too(
    fake: FakeChing, tmp_path: Path
) -> None:
    """A session of the caller's gets the static headers with each request:
    the download's own Accept replaces the static one there too."""
    document = paid_document(fake)
    fake.redirect_pdfs(302)
    async with aiohttp.ClientSession() as session, client_for(fake, session=session) as ching:
        await ching.documents.download_pdf(document, tmp_path / "a.pdf")
        await ching.documents.retrieve(document)
    accepts = [r.headers.getall("Accept") for r in fake.requests()]
    assert accepts == [[PDF_ACCEPT], [PDF_ACCEPT], ["application/json"]]
    assert [keyed(r, fake.api_key) for r in fake.requests()] == [True, False, True]


@pytest.mark.parametrize(
    ("to", "hops", "keys"),
    [
        ("api", 1, [True, True]),  # same origin: the key goes on
        ("api", 2, [True, True, True]),
        ("files", 3, [True, True, True, False]),  # two on the API's origin, then off it
    ],
)
async def test_over_the_wire_a_same_origin_redirect_keeps_the_key(
    to: str, hops: int, keys: list[bool], fake: FakeChing, ching: ching_async.Client, tmp_path: Path
) -> None:
    document = paid_document(fake)
    fake.redirect_pdfs(302, to=to, hops=hops)
    await ching.documents.download_pdf(document, tmp_path / "a.pdf")
    assert (tmp_path / "a.pdf").read_bytes() == fake.document(document).pdf()
    assert [k for _, k, _ in wire(fake)] == keys
    assert [s for _, _, s in wire(fake)] == [302] * hops + [200]  # 401 had the key been dropped


async def test_over_the_wire_a_sixth_redirect_is_refused(
    fake: FakeChing, ching: ching_async.Client, tmp_path: Path
) -> None:
    document = paid_document(fake)
    fake.redirect_pdfs(308, to="api", hops=6)
    with pytest.raises(ching_async.RedirectError, match="5 redirects in a row already") as caught:
        await ching.documents.download_pdf(document, tmp_path / "a.pdf")
    assert caught.value.status == 308
    assert caught.value.path == f"{fake.url}/documents/{document}/pdf"
    assert len(sent(fake, "GET", "/documents/{id}/pdf")) == 6
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("location", ["http://files.example/{id}.pdf", "ftp://127.0.0.1/{id}"])
async def test_over_the_wire_only_https_or_loopback_http_is_followed(
    location: str, fake: FakeChing, ching: ching_async.Client, tmp_path: Path
) -> None:
    document = paid_document(fake)
    fake.redirect_pdfs(302, to=location)
    with pytest.raises(ching_async.RedirectError, match="https only") as caught:
        await ching.documents.download_pdf(document, tmp_path / "a.pdf")
    assert location.replace("{id}", document) in str(caught.value)
    assert len(fake.requests()) == 1
    assert os.listdir(tmp_path) == []


async def test_over_the_wire_a_file_host_failure_is_retried_from_the_api_route(
    fake: FakeChing, ching: ching_async.Client, tmp_path: Path
) -> None:
    document = paid_document(fake)
    fake.redirect_pdfs(302)
    fake.faults.add(Fault.status(503), path=FILE_ROUTE, times=1)
    await ching.documents.download_pdf(document, tmp_path / "a.pdf")
    assert (tmp_path / "a.pdf").read_bytes() == fake.document(document).pdf()
    pdf, file = f"/documents/{document}/pdf", f"/doc/{document}.pdf"
    assert wire(fake) == [
        (pdf, True, 302),
        (file, False, 503),
        (pdf, True, 302),
        (file, False, 200),
    ]


async def test_over_the_wire_a_file_host_refusal_names_it(
    fake: FakeChing, ching: ching_async.Client, tmp_path: Path
) -> None:
    document = paid_document(fake)
    fake.redirect_pdfs(302)
    fake.faults.add(Fault.html(403), path=FILE_ROUTE)
    with pytest.raises(ching_async.PermissionDeniedError) as caught:
        await ching.documents.download_pdf(document, tmp_path / "a.pdf")
    assert caught.value.path == f"{fake.file_host_url}/doc/{document}.pdf"
    assert os.listdir(tmp_path) == []


def test_the_sync_client_follows_the_redirect_too(tmp_path: Path) -> None:
    with FakeChing() as fake:
        document = paid_document(fake)
        fake.redirect_pdfs(303)
        with ching_async.SyncClient(fake.api_key, base_url=fake.url) as ching:
            assert ching.documents.download_pdf(document, tmp_path / "a.pdf") > 0
        assert (tmp_path / "a.pdf").read_bytes() == fake.document(document).pdf()
        assert [keyed(r, fake.api_key) for r in fake.requests()] == [True, False]


async def test_over_the_wire_the_client_fails_loudly_if_the_key_reaches_the_file_host(
    fake: FakeChing, tmp_path: Path
) -> None:
    """What the file host is for: a client that forwards its key (here, a
    middleware adding it as a header of its own) is refused there."""

    async def leaky(request: ching_async.Request, call_next: ching_async.Handler) -> Any:
        return await call_next(request.with_headers({"X-Key": fake.api_key}))

    document = paid_document(fake)
    fake.redirect_pdfs(302)
    async with client_for(fake, middlewares=[leaky]) as ching:
        with pytest.raises(ching_async.PermissionDeniedError) as caught:
            await ching.documents.download_pdf(document, tmp_path / "a.pdf")
    assert caught.value.code == "API_KEY_SENT_TO_FILE_HOST"
