"""products.*: the wire of each endpoint, decoding, validation, image uploads."""

from __future__ import annotations

import base64
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import ching_async
from ching_async import CLEAR, Product, ProductFeature
from ching_async import IDEMPOTENCY_METADATA_KEY as MARKER
from ching_async.testing import FakeChing
from tests._support.catalog import GIF, IMAGES, JPEG, PNG, PRODUCT
from tests._support.fake_client import raw_call, sent
from tests._support.scripted import Script, envelope, error


async def test_create_sends_the_documented_body(fake: FakeChing, ching: ching_async.Client) -> None:
    product = await ching.products.create(
        name="Pro",
        description="Everything",
        image_url="https://cdn.example.com/pro.png",
        features=[{"title": "SSO", "subtitle": "SAML"}, ProductFeature("Audit log")],
        metadata={"plan": "pro"},
    )
    [request] = sent(fake, "POST", "/products")
    key = request.idempotency_key
    assert request.body == {
        "name": "Pro",
        "description": "Everything",
        "image_url": "https://cdn.example.com/pro.png",
        "features": [{"title": "SSO", "subtitle": "SAML"}, {"title": "Audit log"}],
        "metadata": {"plan": "pro", MARKER: key},
    }
    assert isinstance(product, Product)
    assert product.id.startswith("prod_")
    assert product.features == [ProductFeature("SSO", "SAML"), ProductFeature("Audit log")]
    assert (product.active, product.livemode) == (True, False)
    assert fake.product(product.id).name == "Pro"


async def test_update_sends_only_what_changes_and_clear_sends_null(
    fake: FakeChing, ching: ching_async.Client
) -> None:
    seeded = fake.add_product(name="Pro", description="old", features=[{"title": "SSO"}])
    product = await ching.products.update(
        seeded.id, description=CLEAR, features=CLEAR, active=False, metadata={"a": "1"}
    )
    [request] = sent(fake, "POST", "/products/{id}")
    assert request.path == f"/products/{seeded.id}"
    assert request.body == {
        "description": None,
        "features": None,
        "active": False,
        "metadata": {"a": "1"},
    }
    assert (product.description, product.features, product.active) == (None, None, False)
    assert product.name == "Pro"
    assert repr(CLEAR) == "ching_async.CLEAR"


async def test_retrieve_and_list(fake: FakeChing, ching: ching_async.Client) -> None:
    first, second = fake.add_product(name="Basic"), fake.add_product(name="Pro")
    assert (await ching.products.retrieve(first.id)).name == "Basic"
    listed = await ching.products.list()
    assert [p.id for p in listed] == [second.id, first.id]
    assert [p.id async for p in ching.products.list()] == [second.id, first.id]
    assert [(r.method, r.path, dict(r.query)) for r in fake.requests()] == [
        ("GET", f"/products/{first.id}", {}),
        ("GET", "/products", {}),
        ("GET", "/products", {}),
    ]
    with pytest.raises(ching_async.NotFoundError) as caught:
        await ching.products.retrieve("prod_missing")
    assert caught.value.code == "NOT_FOUND"


async def test_the_documented_object_decodes(scripted: Script, client: ching_async.Client) -> None:
    path = "/ching/v1/products/" + PRODUCT["id"]
    scripted.on("GET", path, envelope({**PRODUCT, "brand_new": 1}))
    product = await client.products.retrieve(PRODUCT["id"])
    assert product == Product(
        id=PRODUCT["id"],
        name="Pro",
        description="Everything, for teams",
        image_url="https://files.ching.co.il/images/pro.png",
        features=[ProductFeature("SSO", "SAML and OIDC"), ProductFeature("Audit log")],
        active=True,
        unlisted=False,
        metadata={"plan": "pro"},
        livemode=False,
        created=datetime(2026, 4, 19, 9, 15, 22, tzinfo=UTC),
    )
    assert product.raw["brand_new"] == 1
    assert product.to_dict()["features"][1] == {"title": "Audit log", "subtitle": None}


@pytest.mark.parametrize(
    ("call", "match"),
    [
        ({"name": ""}, "name"),
        ({"name": None}, "name"),
        ({"name": "Pro", "image_url": "http://cdn.example.com/a.png"}, "https://"),
        ({"name": "Pro", "image_url": "/a.png"}, "image_url"),
        ({"name": "Pro", "features": "SSO"}, "features"),
        ({"name": "Pro", "features": [{"subtitle": "x"}]}, r"features\[0\] needs a title"),
        ({"name": "Pro", "features": [{"title": ""}]}, r"features\[0\]\.title"),
        ({"name": "Pro", "features": [{"title": "SSO", "icon": "x"}]}, "unknown keys"),
        ({"name": "Pro", "description": 7}, "description"),
        ({"name": "Pro", "metadata": {MARKER: "x"}}, "reserved"),
        ({"name": "Pro", "unlisted": True}, "unlisted"),
    ],
)
async def test_create_rejects_bad_arguments_before_sending(
    fake: FakeChing, ching: ching_async.Client, call: dict[str, Any], match: str
) -> None:
    with pytest.raises((ching_async.InvalidParameterError, TypeError), match=match):
        await ching.products.create(**call)
    assert fake.requests() == []


@pytest.mark.parametrize(
    ("call", "match"),
    [
        ({}, "at least one field"),
        ({"name": CLEAR}, "name"),
        ({"active": "no"}, "active"),
        ({"image_url": "ftp://x/a.png"}, "image_url"),
        ({"id": "prod 1", "name": "x"}, "id"),
    ],
)
async def test_update_rejects_bad_arguments_before_sending(
    fake: FakeChing, ching: ching_async.Client, call: dict[str, Any], match: str
) -> None:
    product_id = call.pop("id", "prod_1")
    with pytest.raises(ching_async.InvalidParameterError, match=match):
        await ching.products.update(product_id, **call)
    assert fake.requests() == []


# ------------------------------------------------------------- images
@pytest.mark.parametrize("content_type", sorted(IMAGES))
async def test_upload_image_bytes_of_each_type(
    fake: FakeChing, ching: ching_async.Client, content_type: str
) -> None:
    url = await ching.products.upload_image(IMAGES[content_type], content_type=content_type)
    [request] = sent(fake, "POST", "/products/upload_image")
    assert request.body == {
        "content": base64.b64encode(IMAGES[content_type]).decode(),
        "content_type": content_type,
    }
    [image] = fake.uploaded_images()
    assert (image.url, image.content_type, image.data) == (url, content_type, IMAGES[content_type])
    assert url.startswith("https://")


async def test_upload_image_from_a_path_names_it_after_the_file(
    fake: FakeChing, ching: ching_async.Client, tmp_path: Path
) -> None:
    path = tmp_path / "logo.jpg"
    path.write_bytes(JPEG)
    url = await ching.products.upload_image(path)
    url_from_str = await ching.products.upload_image(str(path), filename="brand")
    bodies = [r.body for r in sent(fake, "POST", "/products/upload_image")]
    assert [(b["content_type"], b["filename"]) for b in bodies] == [
        ("image/jpeg", "logo"),
        ("image/jpeg", "brand"),
    ]
    assert url != url_from_str  # two uploads, two hosted copies
    product = await ching.products.create(name="Pro", image_url=url)
    assert product.image_url == url


@pytest.mark.parametrize(
    ("image", "options", "match"),
    [
        (b"", {}, "empty"),
        (b"plain text", {}, "not a PNG, JPEG, WebP or GIF"),
        (PNG + b"\x00" * (2 * 1024 * 1024), {}, "at most 2 MB"),
        (PNG, {"content_type": "image/gif"}, "image/png by its first bytes"),
        (GIF, {"content_type": "image/svg+xml"}, "content_type"),
        (PNG, {"filename": "logo.png"}, "without its extension"),
        (PNG, {"filename": "a/b"}, "filename"),
        ("no-such-file.png", {}, "cannot read image"),
        ("notes.txt", {}, "not a .png"),
        (12, {}, "bytes or a pathlib.Path"),
    ],
)
async def test_upload_image_rejects_before_sending(
    fake: FakeChing, ching: ching_async.Client, image: Any, options: dict[str, Any], match: str
) -> None:
    with pytest.raises(ching_async.InvalidParameterError, match=match):
        await ching.products.upload_image(image, **options)
    assert fake.requests() == []


async def test_a_file_over_2_mb_is_refused_unread(
    fake: FakeChing, ching: ching_async.Client, tmp_path: Path
) -> None:
    big = tmp_path / "big.png"
    big.write_bytes(PNG + b"\x00" * (2 * 1024 * 1024))
    with pytest.raises(ching_async.InvalidParameterError, match="at most 2 MB"):
        await ching.products.upload_image(big)
    assert fake.requests() == []


async def test_an_image_of_2_mb_is_uploaded(fake: FakeChing, ching: ching_async.Client) -> None:
    image = PNG + b"\x00" * (2 * 1024 * 1024 - len(PNG))
    await ching.products.upload_image(image)
    assert fake.uploaded_images()[0].data == image


@pytest.mark.parametrize(
    ("data", "url"),
    [
        ("https://files.example/a.png", "https://files.example/a.png"),
        ({"url": "https://files.example/b.png"}, "https://files.example/b.png"),
        ({"image_url": "https://files.example/c.png"}, "https://files.example/c.png"),
    ],
)
async def test_upload_image_reads_every_plausible_answer(
    scripted: Script, client: ching_async.Client, data: Any, url: str
) -> None:
    scripted.on("POST", "/ching/v1/products/upload_image", envelope(data))
    assert await client.products.upload_image(PNG) == url


async def test_an_answer_without_a_url_is_a_decode_error(
    scripted: Script, client: ching_async.Client
) -> None:
    scripted.on("POST", "/ching/v1/products/upload_image", envelope({"id": "img_1"}))
    with pytest.raises(ching_async.ResponseDecodeError, match="URL"):
        await client.products.upload_image(PNG)


async def test_upload_image_is_resent_after_an_ambiguous_failure(
    scripted: Script, client: ching_async.Client
) -> None:
    path = "/ching/v1/products/upload_image"
    scripted.on("POST", path, error(503), envelope({"url": "https://files.example/a.png"}))
    assert await client.products.upload_image(PNG) == "https://files.example/a.png"
    assert len(scripted.seen_at("POST", path)) == 2


# ------------------------------------------------------------- the fake's answers
async def test_the_fake_validates_product_bodies(fake: FakeChing) -> None:
    status, payload = await raw_call(
        fake,
        "POST",
        "/products",
        {"image_url": "http://x/a.png", "features": [{"subtitle": 1}], "unlisted": True},
    )
    assert (status, payload["error"]["code"]) == (422, "INVALID_FIELD")
    assert [i["path"] for i in payload["error"]["issues"]] == [
        ["name"],
        ["image_url"],
        ["features", 0, "title"],
        ["unlisted"],
    ]
    big = base64.b64encode(PNG + b"\x00" * (2 * 1024 * 1024)).decode()
    for body in ({"content": big}, {"content": "data:image/png;base64,AAAA"}, {}):
        with warnings.catch_warnings():  # raw_call sends the 2.8 MB body as bytes
            warnings.simplefilter("ignore", ResourceWarning)
            status, payload = await raw_call(fake, "POST", "/products/upload_image", body)
        assert (status, payload["error"]["code"]) == (422, "INVALID_FIELD")
    assert fake.products() == []
    assert fake.uploaded_images() == []
