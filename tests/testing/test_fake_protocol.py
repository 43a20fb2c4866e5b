"""Auth, envelope, routing, ids and timestamps of the fake CHING server."""

from __future__ import annotations

import re

import aiohttp
import pytest

from ching_async.testing import FakeChing

from .conftest import Api, Seeded

ID_RE = r"[A-Za-z0-9_-]{12}"
TIMESTAMP_RE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


async def _status_and_error(fake: FakeChing, headers: dict[str, str]) -> tuple[int, object]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(fake.url + "/charges", headers=headers) as resp,
    ):
        return resp.status, (await resp.json())["error"]


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer ck_test_" + "0" * 64},
        {"Authorization": "Basic abc"},
        {"Authorization": "Bearer "},
    ],
    ids=["missing", "unknown", "wrong-scheme", "empty"],
)
async def test_bad_credentials_get_401_envelope(fake: FakeChing, headers: dict[str, str]) -> None:
    status, error = await _status_and_error(fake, headers)
    assert status == 401
    assert error == {
        "status": 401,
        "code": "WRONG_CREDENTIALS",
        "message": "Missing or invalid API key",
    }


def test_generated_keys_have_the_documented_shape(fake: FakeChing) -> None:
    assert re.fullmatch(r"ck_test_[0-9a-f]{64}", fake.api_key)
    assert re.fullmatch(r"ck_live_[0-9a-f]{64}", fake.live_api_key)


@pytest.mark.parametrize(
    ("key", "livemode"),
    [
        ("ck_test_" + "a" * 64, False),
        ("sk_test_" + "b" * 64, False),
        ("ck_live_" + "c" * 64, True),
        ("sk_live_" + "d" * 64, True),
    ],
)
async def test_livemode_comes_from_the_key_prefix(
    fake: FakeChing, seeded: Seeded, key: str, livemode: bool
) -> None:
    fake.add_api_key(key)
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {key}"}) as session:
        status, body = await Api(session, fake.url).post("/charges", seeded.charge_body())
    assert status == 200
    assert body["data"]["livemode"] is livemode


def test_add_api_key_rejects_unknown_prefixes(fake: FakeChing) -> None:
    with pytest.raises(ValueError, match="ck_test_"):
        fake.add_api_key("pk_test_123")


async def test_inactive_live_keys_get_403(fake: FakeChing) -> None:
    fake.live_keys_active = False
    status, error = await _status_and_error(fake, {"Authorization": f"Bearer {fake.live_api_key}"})
    assert (status, error["code"]) == (403, "LIVE_KEY_INACTIVE")  # type: ignore[index]


async def test_url_includes_the_ching_v1_prefix(fake: FakeChing) -> None:
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/ching/v1", fake.url)
    assert fake.url == fake.root_url + "/ching/v1"


async def test_legacy_v1_prefix_is_an_alias(fake: FakeChing, api: Api, seeded: Seeded) -> None:
    status, created = await api.post("/charges", seeded.charge_body())
    assert status == 200
    legacy = Api(api.session, fake.root_url + "/v1")
    status, fetched = await legacy.get(f"/charges/{created['data']['id']}")
    assert status == 200
    assert fetched == created


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/nope"), ("DELETE", "/charges"), ("GET", "/charges/ch_x/capture")],
)
async def test_unknown_routes_get_404_envelope(api: Api, method: str, path: str) -> None:
    status, body = await api.call(method, path)
    assert status == 404
    assert body["success"] is False
    assert body["error"]["code"] == "NOT_FOUND"
    assert body["error"]["status"] == 404


# (method, path, body, what the 404 names): every lookup of an unknown id, one per table
UNKNOWN_IDS = [
    ("GET", "/charges/ch_missing", None, "charge: ch_missing"),
    ("POST", "/charges/ch_missing/capture", None, "charge: ch_missing"),
    ("POST", "/charges/ch_missing/cancel", None, "charge: ch_missing"),
    ("POST", "/setup_sessions", {"customer": "cus_missing", "success_url": "https://e.co/s",
                                 "cancel_url": "https://e.co/c"}, "customer: cus_missing"),
    ("GET", "/setup_sessions/seti_missing", None, "setup session: seti_missing"),
    ("POST", "/setup_sessions/seti_missing/cancel", None, "setup session: seti_missing"),
    ("POST", "/customers/cus_missing", {"name": "x"}, "customer: cus_missing"),
    ("DELETE", "/customers/cus_missing", None, "customer: cus_missing"),
    ("GET", "/customers/cus_missing/payment_methods", None, "customer: cus_missing"),
    ("POST", "/payment_methods/test-card", {"customer": "cus_missing"}, "customer: cus_missing"),
    ("GET", "/payment_methods/pm_missing", None, "payment method: pm_missing"),
    ("POST", "/payment_methods/pm_missing/detach", None, "payment method: pm_missing"),
    ("GET", "/refunds/re_missing", None, "refund: re_missing"),
    ("POST", "/refunds", {"charge": "ch_missing", "amount": 1}, "charge: ch_missing"),
]  # fmt: skip


@pytest.mark.parametrize(("method", "path", "body", "named"), UNKNOWN_IDS)
async def test_unknown_ids_get_404_naming_them(
    api: Api, method: str, path: str, body: object, named: str
) -> None:
    status, payload = await api.call(method, path, body)
    error = {"status": 404, "code": "NOT_FOUND", "message": f"No such {named}"}
    assert (status, payload["error"]) == (404, error)


async def test_unknown_routes_outside_the_prefix_are_404_too(fake: FakeChing, api: Api) -> None:
    status, body = await Api(api.session, fake.root_url).get("/favicon.ico")
    assert (status, body["error"]["code"]) == (404, "NOT_FOUND")


@pytest.mark.parametrize("raw", [b"not json", b"[1, 2]", b'"text"', b"null", b"{"])
async def test_bodies_that_are_not_json_objects_get_400(api: Api, raw: bytes) -> None:
    headers = {"Content-Type": "application/json"}
    status, body = await api.call("POST", "/charges", data=raw, headers=headers)
    assert status == 400
    assert body["success"] is False
    assert body["error"]["status"] == 400


async def test_empty_body_counts_as_an_empty_object(api: Api) -> None:
    status, body = await api.call("POST", "/charges", data=b"")
    assert status == 422
    paths = [issue["path"] for issue in body["error"]["issues"]]
    assert paths == [["customer"], ["payment_method"], ["amount"]]


async def test_ids_and_timestamps_have_the_documented_shapes(api: Api, seeded: Seeded) -> None:
    assert re.fullmatch(f"cus_{ID_RE}", seeded.customer)
    assert re.fullmatch(f"pm_{ID_RE}", seeded.card)
    _, charge = await api.post("/charges", seeded.charge_body())
    data = charge["data"]
    assert re.fullmatch(f"ch_{ID_RE}", data["id"])
    assert re.fullmatch(f"doc_{ID_RE}", data["document"])
    for field in ("created", "authorized_at", "captured_at"):
        assert TIMESTAMP_RE.fullmatch(data[field]), field


async def test_seed_makes_ids_and_keys_reproducible() -> None:
    first, second, other = FakeChing(seed=7), FakeChing(seed=7), FakeChing(seed=8)
    assert first.api_key == second.api_key != other.api_key
    ids = [fake.add_customer(name="x").id for fake in (first, second, other)]
    assert ids[0] == ids[1] != ids[2]


async def test_customers_can_be_read(api: Api, fake: FakeChing) -> None:
    customer = fake.add_customer(name="Noa", email="noa@example.com", id="cus_fixed_id_01")
    status, body = await api.get("/customers/cus_fixed_id_01")
    assert status == 200
    assert body["data"]["id"] == customer.id
    assert body["data"]["name"] == "Noa"
    status, body = await api.get("/customers/cus_missing")
    assert (status, body["error"]["code"]) == (404, "NOT_FOUND")


def test_url_before_start_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="not running"):
        _ = FakeChing().url


async def test_starting_twice_is_an_error(fake: FakeChing) -> None:
    with pytest.raises(RuntimeError, match="already running"):
        await fake.start()
