"""Fault injection: canned errors, latency, resets, commit-then-drop/delay, answer-then-
commit-later, seeded rates."""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections import Counter
from collections.abc import Callable

import aiohttp
import pytest

from ching_async.testing import FakeChing, Fault, FaultKind, FaultSet

from .conftest import Api, Seeded


async def test_status_fault_answers_the_envelope_without_processing(
    api: Api, fake: FakeChing, seeded: Seeded
) -> None:
    fake.faults.add(Fault.status(503), method="POST", path="/charges")
    status, payload = await api.post("/charges", seeded.charge_body())
    assert status == 503
    assert payload == {
        "success": False,
        "error": {"status": 503, "code": "SERVICE_UNAVAILABLE", "message": "Service Unavailable"},
    }
    assert fake.charges() == []


async def test_status_fault_code_and_message_can_be_chosen(api: Api, fake: FakeChing) -> None:
    fake.faults.add(Fault.status(500, code="INTERNAL", message="boom"))
    status, payload = await api.get("/charges")
    assert (status, payload["error"]) == (
        500,
        {"status": 500, "code": "INTERNAL", "message": "boom"},
    )


async def test_html_fault_is_an_nginx_page(api: Api, fake: FakeChing) -> None:
    fake.faults.add(Fault.html(502))
    async with api.session.get(api.url + "/charges") as resp:
        assert resp.status == 502
        assert resp.content_type == "text/html"
        text = await resp.text()
    assert "<h1>502 Bad Gateway</h1>" in text
    assert "nginx" in text


@pytest.mark.parametrize(("retry_after", "header"), [(1, "1"), (2.5, "2.5"), (None, None)])
async def test_rate_limited_fault_sends_retry_after(
    api: Api, fake: FakeChing, retry_after: float | None, header: str | None
) -> None:
    fake.faults.add(Fault.rate_limited(retry_after=retry_after))
    async with api.session.get(api.url + "/charges") as resp:
        assert resp.status == 429
        assert resp.headers.get("Retry-After") == header
        payload = await resp.json()
    assert payload["success"] is False
    assert payload["error"]["status"] == 429


@pytest.mark.parametrize(
    "fault",
    [Fault.latency(0.2), Fault.commit_then_delay(0.2)],
    ids=["latency-then-commit", "commit-then-delay"],
)
async def test_delaying_faults_answer_late_with_the_committed_charge(
    api: Api, fake: FakeChing, seeded: Seeded, fault: Fault
) -> None:
    fake.faults.add(fault, method="POST", path="/charges")
    started = time.monotonic()
    status, payload = await api.post("/charges", seeded.charge_body())
    assert time.monotonic() - started >= 0.2
    assert status == 200
    [charge] = fake.charges()
    assert payload["data"]["id"] == charge.id


async def test_reset_before_processing_creates_nothing(
    api: Api, fake: FakeChing, seeded: Seeded
) -> None:
    fake.faults.add(Fault.reset_before(), method="POST", path="/charges")
    with pytest.raises(aiohttp.ClientOSError, match="reset"):
        await api.post("/charges", seeded.charge_body())
    assert fake.charges() == []
    [record] = fake.requests()
    assert (record.fault, record.status) == (Fault.reset_before(), None)


async def test_commit_then_drop_creates_the_charge_the_client_never_sees(
    api: Api, fake: FakeChing, seeded: Seeded
) -> None:
    fake.faults.add(Fault.commit_then_drop(), method="POST", path="/charges", times=1)
    body = seeded.charge_body(metadata={"order": "A-7"})
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await api.post("/charges", body)
    [charge] = fake.charges()
    assert (charge.status, charge.metadata) == ("succeeded", {"order": "A-7"})
    [record] = fake.requests()
    assert record.fault == Fault.commit_then_drop()
    assert record.status == 200  # what the fake committed, not what the client saw
    # The connection is gone but the server is fine: a retry duplicates the charge.
    status, _ = await api.post("/charges", body)
    assert status == 200
    assert len(fake.duplicates_by_metadata("order")["A-7"]) == 2


async def test_commit_then_delay_outlives_the_client_timeout(
    fake: FakeChing, api: Api, seeded: Seeded
) -> None:
    fake.faults.add(Fault.commit_then_delay(30.0), method="POST", path="/charges")
    started = time.monotonic()
    with pytest.raises(asyncio.TimeoutError):
        await api.post("/charges", seeded.charge_body(), timeout=aiohttp.ClientTimeout(total=0.2))
    assert len(fake.charges()) == 1
    assert fake.charges()[0].status == "succeeded"
    await fake.close()  # must not wait out the 30 s pause
    assert time.monotonic() - started < 5


async def _until_committed(fake: FakeChing) -> None:
    # A bound, not a timing assertion: the commit is due within 0.3 s.
    async with asyncio.timeout(10):
        await fake.wait_for_commits()


async def test_latency_past_the_client_timeout_still_commits(
    api: Api, fake: FakeChing, seeded: Seeded
) -> None:
    fake.faults.add(Fault.latency(0.3), method="POST", path="/charges", times=1)
    with pytest.raises(asyncio.TimeoutError):
        await api.post("/charges", seeded.charge_body(), timeout=aiohttp.ClientTimeout(total=0.05))
    # The client hung up; the slow server goes on and commits. (Polled: on a loaded
    # machine the server may not even have read the request when the client gave up.)
    async with asyncio.timeout(10):
        while not fake.charges() or fake.pending_commits():  # noqa: ASYNC110
            await asyncio.sleep(0.01)
    [charge] = fake.charges()
    assert charge.status == "succeeded"
    [record] = fake.requests()
    assert (record.fault, record.status) == (Fault.latency(0.3), 200)


@pytest.mark.parametrize(
    ("fault", "content_type", "marker"),
    [
        (Fault.status_then_commit(504, 30.0), "application/json", '"GATEWAY_TIMEOUT"'),
        (Fault.html_then_commit(504, 30.0), "text/html", "<h1>504 Gateway Timeout</h1>"),
    ],
)
async def test_then_commit_answers_the_error_now_and_commits_later(
    api: Api, fake: FakeChing, seeded: Seeded, fault: Fault, content_type: str, marker: str
) -> None:
    fake.faults.add(fault, method="POST", path="/charges", times=1)
    started = time.monotonic()
    async with api.session.post(api.url + "/charges", json=seeded.charge_body()) as resp:
        assert (resp.status, resp.content_type) == (504, content_type)
        assert marker in await resp.text()
    # 30 s away: nothing is committed yet, and nothing is logged until it is.
    assert (fake.charges(), fake.requests(), fake.pending_commits()) == ([], [], 1)
    await fake.close()  # commits what is pending at once, without waiting 30 s
    assert time.monotonic() - started < 5
    [charge] = fake.charges()
    assert charge.status == "succeeded"
    [record] = fake.requests()
    assert (record.fault, record.status, fake.pending_commits()) == (fault, 200, 0)


async def test_status_then_commit_commits_after_seconds_while_serving(
    api: Api, fake: FakeChing, seeded: Seeded
) -> None:
    fault = Fault.status_then_commit(502, 0.2, code="BAD_GATEWAY", message="upstream")
    fake.faults.add(fault, method="POST", path="/charges", times=1)
    status, payload = await api.post("/charges", seeded.charge_body(metadata={"order": "B-1"}))
    assert (status, payload["error"]) == (
        502,
        {"status": 502, "code": "BAD_GATEWAY", "message": "upstream"},
    )
    await _until_committed(fake)
    [charge] = fake.charges()
    assert charge.metadata == {"order": "B-1"}
    # The client saw a failure; a blind re-send now duplicates the charge.
    assert (await api.post("/charges", seeded.charge_body(metadata={"order": "B-1"})))[0] == 200
    assert len(fake.duplicates_by_metadata("order")["B-1"]) == 2


async def test_then_commit_of_an_invalid_request_commits_its_error(
    api: Api, fake: FakeChing, seeded: Seeded
) -> None:
    fake.faults.add(Fault.status_then_commit(504, 0.0), method="POST", path="/charges")
    assert (await api.post("/charges", seeded.charge_body(amount=-1)))[0] == 504
    await _until_committed(fake)
    assert (fake.requests()[0].status, fake.charges()) == (422, [])


async def test_matching_is_by_method_and_route_template(
    api: Api, fake: FakeChing, seeded: Seeded
) -> None:
    fake.faults.add(Fault.status(500), method="post", path="/charges/{id}/capture")
    manual = fake.add_charge(seeded.customer, capture_method="manual").id
    assert (await api.get(f"/charges/{manual}"))[0] == 200
    assert (await api.post(f"/charges/{manual}/cancel"))[0] == 200
    assert (await api.post(f"/charges/{manual}/capture"))[0] == 500
    assert (await api.post("/charges", seeded.charge_body()))[0] == 200


async def test_matching_accepts_concrete_and_prefixed_paths(
    api: Api, fake: FakeChing, seeded: Seeded
) -> None:
    first = fake.add_charge(seeded.customer).id
    second = fake.add_charge(seeded.customer).id
    fake.faults.add(Fault.status(500), method="GET", path=f"/ching/v1/charges/{first}")
    assert (await api.get(f"/charges/{first}"))[0] == 500
    assert (await api.get(f"/charges/{second}"))[0] == 200


async def test_times_scripts_a_sequence(api: Api, fake: FakeChing) -> None:
    fake.faults.add(Fault.status(503), times=1)
    fake.faults.add(Fault.rate_limited(), times=2)
    statuses = [(await api.get("/charges"))[0] for _ in range(4)]
    assert statuses == [503, 429, 429, 200]
    assert [rule.applied for rule in fake.faults.rules] == [1, 2]


async def test_clear_and_remove(api: Api, fake: FakeChing) -> None:
    rule = fake.faults.add(Fault.status(500))
    fake.faults.add(Fault.status(502), method="POST")
    fake.faults.remove(rule)
    assert (await api.get("/charges"))[0] == 200
    fake.faults.clear()
    assert fake.faults.rules == ()


@pytest.mark.parametrize(
    "build",
    [
        lambda: Fault.status(999),
        lambda: Fault.html(42),
        lambda: Fault.latency(-1),
        lambda: Fault.commit_then_delay(-0.5),
        lambda: Fault.status_then_commit(200, 1.0),
        lambda: Fault.html_then_commit(302, 1.0),
        lambda: Fault.status_then_commit(600, 1.0),
        lambda: Fault.status_then_commit(504, -1.0),
        lambda: Fault.html_then_commit(504, math.nan),
        lambda: Fault.status_then_commit(504, math.inf),
    ],
)
def test_invalid_faults_are_rejected(build: Callable[[], Fault]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - messages come from HTTPStatus too
        build()


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (lambda: Fault.status_then_commit("504", 1.0), "status must be an int"),  # type: ignore[arg-type]
        (lambda: Fault.status_then_commit(504.0, 1.0), "status must be an int"),  # type: ignore[arg-type]
        (lambda: Fault.html_then_commit(True, 1.0), "status must be an int"),
        (lambda: Fault.html_then_commit(504, "1"), "seconds must be a number"),  # type: ignore[arg-type]
        (lambda: Fault.status_then_commit(504, None), "seconds must be a number"),  # type: ignore[arg-type]
    ],
)
def test_then_commit_arguments_of_the_wrong_type_are_type_errors(
    build: Callable[[], Fault], match: str
) -> None:
    with pytest.raises(TypeError, match=match):
        build()


def test_invalid_rules_are_rejected() -> None:
    faults = FaultSet(random.Random(0))
    with pytest.raises(ValueError, match="rate"):
        faults.add(Fault.status(500), rate=1.5)
    with pytest.raises(ValueError, match="times"):
        faults.add(Fault.status(500), times=0)


def test_cumulative_rates_split_one_draw_between_rules() -> None:
    faults = FaultSet(random.Random(3))
    faults.add(Fault.status(500), path="/charges", rate=0.10)
    faults.add(Fault.status(503), path="/charges", rate=0.10)
    faults.add(Fault.commit_then_drop(), path="/charges", rate=0.05)
    drawn = Counter(faults.draw("POST", "/charges", "/charges") for _ in range(20_000))
    assert drawn[Fault.status(500)] == pytest.approx(2000, rel=0.1)
    assert drawn[Fault.status(503)] == pytest.approx(2000, rel=0.1)
    assert drawn[Fault.commit_then_drop()] == pytest.approx(1000, rel=0.15)
    assert drawn[None] == pytest.approx(15_000, rel=0.05)
    assert faults.draw("GET", "/charges", "/charges") is not None  # any method matches


async def _fault_sequence(seed: int) -> list[FaultKind | None]:
    async with FakeChing(seed=seed) as fake:
        fake.faults.add(Fault.status(500), method="GET", path="/charges", rate=0.2)
        fake.faults.add(Fault.rate_limited(), method="GET", path="/charges", rate=0.2)
        headers = {"Authorization": f"Bearer {fake.api_key}"}
        async with aiohttp.ClientSession(headers=headers) as session:
            api = Api(session, fake.url)
            for _ in range(40):
                await api.get("/charges")
        return [record.fault.kind if record.fault else None for record in fake.requests()]


async def test_seeded_rates_are_deterministic() -> None:
    first, again, other = (
        await _fault_sequence(11),
        await _fault_sequence(11),
        await _fault_sequence(12),
    )
    assert first == again
    assert first != other
    assert {FaultKind.STATUS, FaultKind.RATE_LIMITED, None} <= set(first)


async def test_seeding_objects_does_not_shift_fault_draws(fake: FakeChing) -> None:
    fake.faults.add(Fault.status(500), rate=0.5)
    reference = FaultSet(random.Random(1))  # the ``fake`` fixture uses seed=1
    reference.add(Fault.status(500), rate=0.5)
    for _ in range(5):
        fake.add_customer(name="noise")
    expected = [reference.draw("GET", "/charges", "/charges") for _ in range(20)]
    assert [fake.faults.draw("GET", "/charges", "/charges") for _ in range(20)] == expected
