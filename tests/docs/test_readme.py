"""Every README block marked `<!-- readme-test -->` runs for real against FakeChing,
and every Python block in the README carries such a marker."""

from __future__ import annotations

import ast
import asyncio
import os
import re
import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

import ching_async
from ching_async.testing import FakeChing, Fault, sample_event
from tests._support.fake_client import client_for
from tests._support.webhooks import SECRET, sign

README = Path(__file__).resolve().parents[2] / "README.md"
# `readme-test`: a script; `readme-test: pytest`: a test module run by pytest;
# `readme-test: file NAME`: a module those tests import, written beside them;
# `readme-test: fragment`: lines from the middle of a program (see run_fragment).
BLOCK = re.compile(
    r"<!-- readme-test(?:: (?P<kind>pytest|file|fragment) ?(?P<name>[\w.]*))? -->\n"
    r"```python\n(?P<code>.*?)```",
    re.S,
)
DOC_CUSTOMER = "cus_V8ltq1pK_MWH"
DOC_CARD = "pm_WMc9X22NT1af"


def found(kind: str | None) -> list[re.Match[str]]:
    return [m for m in BLOCK.finditer(README.read_text()) if m.group("kind") == kind]


def blocks(kind: str | None) -> list[str]:
    return [m.group("code") for m in found(kind)]


def scripts() -> list[str]:
    return [code for code in blocks(None) if "__main__" not in code]


def test_readme_has_tested_examples() -> None:
    assert len(scripts()) >= 5
    assert len(blocks("pytest")) == 5
    assert [m.group("name") for m in found("file")] == ["shop.py"]
    assert len(found("fragment")) == 6


def test_every_python_block_is_tested() -> None:
    text = README.read_text()
    fences = {text.count("\n", 0, m.start()) + 1 for m in re.finditer(r"^```py", text, re.M)}
    tested = {text.count("\n", 0, m.start("code")) for m in BLOCK.finditer(text)}
    assert sorted(fences - tested) == [], "README lines of Python blocks with no readme-test marker"


async def run(args: list[str], env: dict[str, str], cwd: Path | None = None) -> str:
    proc = await asyncio.create_subprocess_exec(
        *args,
        env=env,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=60)
    text = out.decode()
    assert proc.returncode == 0, text
    return text


@pytest.fixture
async def seeded() -> types.SimpleNamespace:
    async with FakeChing() as fake:
        customer = fake.add_customer(id=DOC_CUSTOMER, name="Tal Levi", email="tal@example.com")
        card = fake.add_payment_method(customer.id)
        env = {
            **os.environ,
            "CHING_API_KEY": fake.api_key,
            "CHING_BASE_URL": fake.url,
        }
        yield types.SimpleNamespace(fake=fake, card=card.id, env=env)


@pytest.mark.parametrize("index", range(len(scripts())))
async def test_readme_script_runs(
    seeded: types.SimpleNamespace, index: int, tmp_path: Path
) -> None:
    code = scripts()[index].replace(DOC_CARD, seeded.card)
    out = await run([sys.executable, "-c", code], seeded.env, cwd=tmp_path)
    assert "Traceback" not in out


async def test_readme_quick_start_charges_once(seeded: types.SimpleNamespace) -> None:
    code = scripts()[0].replace(DOC_CARD, seeded.card)
    out = await run([sys.executable, "-c", code], seeded.env)
    charges = seeded.fake.charges_for(DOC_CUSTOMER)
    assert len(charges) == 1
    assert charges[0].amount == 9900
    assert charges[0].id in out


async def test_readme_key_reused_example_is_refused_and_charges_once(
    seeded: types.SimpleNamespace,
) -> None:
    code = next(c for c in scripts() if "IdempotencyKeyReusedError" in c)
    out = await run([sys.executable, "-c", code.replace(DOC_CARD, seeded.card)], seeded.env)
    assert "refused: True (('amount', 12900, 9900),)" in out
    [charge] = seeded.fake.charges_for(DOC_CUSTOMER)
    assert charge.amount == 9900


async def test_readme_bulk_example_charges_each_row_once(
    seeded: types.SimpleNamespace, tmp_path: Path
) -> None:
    code = next(c for c in scripts() if "create_many" in c).replace(DOC_CARD, seeded.card)
    out = await run([sys.executable, "-c", code], seeded.env, cwd=tmp_path)
    assert "succeeded=100" in out
    assert len(seeded.fake.charges_for(DOC_CUSTOMER)) == 100
    assert (tmp_path / "billing-2026-11.jsonl").exists()


async def test_readme_documents_example_saves_the_pdf(
    seeded: types.SimpleNamespace, tmp_path: Path
) -> None:
    code = next(c for c in scripts() if "download_pdf" in c).replace(DOC_CARD, seeded.card)
    out = await run([sys.executable, "-c", code], seeded.env, cwd=tmp_path)
    [document] = seeded.fake.documents()
    assert (tmp_path / "invoice.pdf").read_bytes() == document.pdf()
    assert f"saved {len(document.pdf())} bytes" in out
    assert os.listdir(tmp_path) == ["invoice.pdf"]  # no temporary file left


async def test_readme_webhook_endpoints_example_creates_then_deletes(
    seeded: types.SimpleNamespace,
) -> None:
    code = next(c for c in scripts() if "webhook_endpoints.create" in c)
    out = await run([sys.executable, "-c", code], seeded.env)
    assert "store this now, it is shown once: whsec_" in out
    assert [(r.method, r.route) for r in seeded.fake.requests()] == [
        ("POST", "/webhooks"),
        ("GET", "/webhooks"),
        ("DELETE", "/webhooks/{id}"),
    ]
    assert seeded.fake.webhook_endpoints() == []


async def test_readme_products_example_run_twice_makes_one_product(
    seeded: types.SimpleNamespace,
) -> None:
    code = next(c for c in scripts() if "products.upload_image" in c)
    for _ in range(2):  # its idempotency key: the second run finds the product
        await run([sys.executable, "-c", code], seeded.env)
    [product] = seeded.fake.products()
    assert (product.name, product.description) == ("Pro", None)
    assert product.image_url == seeded.fake.uploaded_images()[-1].url
    assert [f["title"] for f in product.features or []] == ["SSO", "Audit log"]


async def test_readme_prices_and_discounts_examples(seeded: types.SimpleNamespace) -> None:
    fake = seeded.fake
    await run(
        [sys.executable, "-c", next(c for c in scripts() if "cancel_pending" in c)], seeded.env
    )
    monthly, once = fake.prices()
    assert [m.status for m in monthly.migrations] == ["canceled"]
    assert (monthly.unit_amount, once.unit_amount) == (9900, 5900)
    code = next(c for c in scripts() if "discounts.archive" in c)
    out = await run([sys.executable, "-c", code], seeded.env)
    [launch] = fake.discounts()
    assert (launch.code, launch.archived, launch.targets) == (
        "LAUNCH",
        True,
        [fake.prices()[-1].id],
    )
    assert "0 uses; 0 subscriptions" in out


async def test_readme_sell_a_plan_opens_a_checkout_per_run(seeded: types.SimpleNamespace) -> None:
    fake = seeded.fake
    code = next(c for c in scripts() if "checkout_sessions.create" in c)
    for _ in range(2):  # the catalog is found by its keys; each run opens a session
        out = await run([sys.executable, "-c", code], seeded.env)
    [product] = fake.products()
    [price] = fake.prices()
    assert (product.name, price.product, price.unit_amount) == ("Pro", product.id, 99000)
    sessions = fake.checkout_sessions()
    assert [(s.customer, s.price, s.status) for s in sessions] == [
        (DOC_CUSTOMER, price.id, "pending")
    ] * 2
    assert f"pay at {sessions[-1].url}" in out
    assert [p.customer for p in fake.billing_portal_sessions()] == [DOC_CUSTOMER] * 2
    assert fake.billing_portal_sessions()[-1].url not in out  # printed: only its expiry
    assert fake.charges() == []


async def test_readme_subscriptions_example(seeded: types.SimpleNamespace) -> None:
    code = next(c for c in scripts() if "subscriptions.change_price" in c)
    out = await run([sys.executable, "-c", code.replace(DOC_CARD, seeded.card)], seeded.env)
    fake = seeded.fake
    [sub] = fake.subscriptions()
    basic, pro = fake.prices()
    assert (sub.customer, sub.price, sub.status, sub.cancel_at_period_end) == (
        DOC_CUSTOMER,
        pro.id,
        "active",
        True,
    )
    first, upgrade = fake.charges_for(DOC_CUSTOMER)
    assert first.amount == basic.unit_amount == 4900
    assert f"upgrade True {upgrade.amount}" in out
    assert "active True" in out


async def test_readme_middleware_example_sees_each_attempt(seeded: types.SimpleNamespace) -> None:
    code = next(c for c in scripts() if "tag_and_time" in c)
    out = await run([sys.executable, "-c", code], seeded.env)
    assert "GET /charges attempt 1: 200" in out
    assert seeded.fake.requests()[-1].headers["X-Shop"] == "tel-aviv-1"


async def test_readme_aiohttp_app_shares_one_client(
    seeded: types.SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHING_API_KEY", seeded.env["CHING_API_KEY"])
    monkeypatch.setenv("CHING_BASE_URL", seeded.env["CHING_BASE_URL"])
    code = next(c for c in blocks(None) if "cleanup_ctx" in c)
    module = types.ModuleType("readme_app")
    exec(compile(code, "README.md", "exec"), module.__dict__)
    seeded.fake.add_charge(DOC_CUSTOMER, amount=1234)
    runner = web.AppRunner(module.make_app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(2):
                url = f"http://127.0.0.1:{port}/customers/{DOC_CUSTOMER}/charges"
                async with http.get(url) as resp:
                    assert resp.status == 200
                    assert [c["amount"] for c in await resp.json()] == [1234]
    finally:
        await runner.cleanup()


@pytest.mark.parametrize("index", range(len(blocks("pytest"))))
async def test_readme_pytest_example_passes(
    seeded: types.SimpleNamespace, tmp_path: Path, index: int
) -> None:
    for block in found("file"):
        (tmp_path / block.group("name")).write_text(block.group("code"))
    code = blocks("pytest")[index]
    (tmp_path / "test_example.py").write_text(code)
    out = await run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_example.py"],
        seeded.env,
        cwd=tmp_path,
    )
    tests = len(re.findall(r"^(?:async )?def test_", code, re.M))
    assert re.search(rf"^{tests} passed in ", out, re.M), out


async def test_readme_webhook_receiver_handles_a_signed_delivery_once(
    seeded: types.SimpleNamespace, capsys: pytest.CaptureFixture[str]
) -> None:
    code = next(c for c in blocks(None) if "aiohttp_handler" in c)
    module = types.ModuleType("readme_webhooks")
    exec(compile(code, "README.md", "exec"), module.__dict__)
    runner = web.AppRunner(module.make_app())
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/webhooks/ching"
    try:
        fake = seeded.fake
        fake.add_webhook_endpoint(url, secret=module.SECRET, events=["charge.succeeded"])
        charge = fake.add_charge(DOC_CUSTOMER, amount=4321)
        await fake.deliver_pending()
        event_id = next(iter(module.handled))
        fake.resend_webhook_event(event_id)  # a repeated delivery is skipped
        await fake.deliver_pending()
        async with (
            aiohttp.ClientSession() as http,
            http.post(url, data=b"{}", headers={"Ching-Signature": "00"}) as resp,
        ):
            assert resp.status == 400
    finally:
        await runner.cleanup()
    assert capsys.readouterr().out.count(f"paid {charge.id} 4321") == 1
    assert len(module.handled) == 1


async def test_readme_sync_example_charges_each_order_once(seeded: types.SimpleNamespace) -> None:
    code = next(c for c in scripts() if "ThreadPoolExecutor" in c).replace(DOC_CARD, seeded.card)
    out = await run([sys.executable, "-c", code], seeded.env)
    charges = seeded.fake.charges_for(DOC_CUSTOMER)
    assert sorted(c.amount for c in charges) == [1500, 4990, 9900]
    assert "3 charges" in out
    [paid] = [c for c in charges if c.amount == 9900]
    assert f"order-1002 is {paid.id}" in out


@pytest.mark.parametrize(("marker", "amount"), [("django.setup()", 9900), ("Celery(", 4990)])
async def test_readme_framework_examples_charge_once(
    seeded: types.SimpleNamespace, marker: str, amount: int
) -> None:
    """The Django view and the Celery task of "Use it with": one charge, its
    id or JSON printed, no thread left behind (the process exits)."""
    code = next(c for c in scripts() if marker in c).replace(DOC_CARD, seeded.card)
    out = await run([sys.executable, "-c", code], seeded.env)
    [charge] = seeded.fake.charges_for(DOC_CUSTOMER)
    assert charge.amount == amount
    assert charge.id in out


# A `readme-test: fragment` block may `await` at top level and use what the
# prose around it assumes (fragment_names). Each id placeholder is replaced
# by a new object of its kind, one per occurrence, as a reader's own ids would
# be: `capture("ch_...")` and `cancel("ch_...")` are two alternatives, so two
# charges, each held (requires_capture) so that either works.
PLACEHOLDERS: dict[str, Callable[[FakeChing], str]] = {
    "ch_...": lambda fake: fake.add_charge(DOC_CUSTOMER, amount=9900, capture_method="manual").id,
    "pm_...": lambda fake: fake.add_payment_method(DOC_CUSTOMER).id,
    "cus_...": lambda fake: DOC_CUSTOMER,
}
DELIVERY = sample_event("charge.succeeded")


def fragment_names(seeded: types.SimpleNamespace, ching: ching_async.Client) -> dict[str, Any]:
    return {
        "ching_async": ching_async,
        "ching": ching,  # every section's connected client
        # an order to charge, as in "Retries and double charges"
        "cus": DOC_CUSTOMER,
        "pm": seeded.card,
        "invoice_id": "2026-11-0042",
        # a webhook delivery as a web framework hands it over
        "raw_body": DELIVERY.body,
        "headers": {"Ching-Signature": sign(DELIVERY.body)},
        "secret": SECRET,
    }


class Placeholders(ast.NodeTransformer):
    def __init__(self, fake: FakeChing) -> None:
        self.fake = fake
        self.made: list[str] = []  # the ids, in the order the fragment names them

    def visit_Constant(self, node: ast.Constant) -> ast.AST:
        make = PLACEHOLDERS.get(node.value) if isinstance(node.value, str) else None
        if make is None:
            return node
        self.made.append(make(self.fake))
        return ast.copy_location(ast.Constant(self.made[-1]), node)


def unknown_names(tree: ast.AST) -> list[str]:
    """`ching_async.X` the package lacks: a branch the run does not take (an
    `except` clause that never matches) is checked too."""
    return [
        f"ching_async.{node.attr}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "ching_async"
        and not hasattr(ching_async, node.attr)
    ]


async def run_fragment(
    seeded: types.SimpleNamespace, needle: str, **client_options: Any
) -> tuple[dict[str, Any], list[str]]:
    """Run the fragment holding `needle` with a client on the seeded fake: its
    names after the run, and the ids its placeholders became."""
    text = README.read_text()
    match = next(m for m in found("fragment") if needle in m.group("code"))
    tree = ast.parse(match.group("code"))
    ast.increment_lineno(tree, text.count("\n", 0, match.start("code")))  # README's lines
    placeholders = Placeholders(seeded.fake)
    tree = placeholders.visit(tree)
    assert unknown_names(tree) == []
    code = compile(tree, str(README), "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    async with client_for(seeded.fake, **client_options) as ching:
        names = fragment_names(seeded, ching)
        if (running := eval(code, names)) is not None:  # a coroutine when it awaits
            await running
    return names, placeholders.made


@pytest.mark.parametrize("index", range(len(found("fragment"))))
async def test_readme_fragment_runs(seeded: types.SimpleNamespace, index: int) -> None:
    await run_fragment(seeded, found("fragment")[index].group("code"))


async def test_readme_capture_fragment_captures_one_charge_and_releases_another(
    seeded: types.SimpleNamespace,
) -> None:
    names, (captured, released) = await run_fragment(seeded, "charges.capture")
    fake = seeded.fake
    assert (fake.charge(captured).status, fake.charge(captured).amount_captured) == (
        "succeeded",
        5000,
    )
    assert (fake.charge(released).status, fake.charge(released).cancellation_reason) == (
        "canceled",
        "abandoned",
    )
    assert names["charge"].id == released


async def test_readme_saved_cards_fragment(seeded: types.SimpleNamespace) -> None:
    names, (_, detached, default, customer) = await run_fragment(seeded, "payment_methods.detach")
    fake = seeded.fake
    assert fake.payment_method(detached).status == "inactive"
    assert [c.id for c in fake.payment_methods_for(customer) if c.is_default] == [default]
    card = names["card"]  # the test card
    assert (card.customer, card.brand, fake.payment_method(card.id).brand) == (
        DOC_CUSTOMER,
        "mastercard",
        "mastercard",
    )


async def test_readme_response_headers_fragment(
    seeded: types.SimpleNamespace, capsys: pytest.CaptureFixture[str]
) -> None:
    async def rate_limit_header(
        request: ching_async.Request, call_next: ching_async.Handler
    ) -> ching_async.Response:
        response = await call_next(request)  # as a server that sends one would answer
        return response.replace(headers={**response.headers, "ratelimit-remaining": "59"})

    names, [charge] = await run_fragment(seeded, "RateLimit", middlewares=[rate_limit_header])
    assert names["charge"].id == charge
    assert capsys.readouterr().out == "59\n"


async def test_readme_outcome_unknown_fragment_finds_the_charge_later(
    seeded: types.SimpleNamespace,
) -> None:
    fake = seeded.fake

    async def answer_lost(
        request: ching_async.Request, call_next: ching_async.Handler
    ) -> ching_async.Response:
        """For the create only: its lookups before sending pass (the
        customer's charges, then the project's), the POST commits but its
        answer is lost, and every lookup after it fails."""
        if request.method != "POST":
            return await call_next(request)
        rules = [
            fake.faults.add(Fault.latency(0), method="GET", path="/charges", times=2),
            fake.faults.add(Fault.commit_then_drop(), method="POST", path="/charges", times=1),
            fake.faults.add(Fault.status(503), method="GET", path="/charges"),
        ]
        try:
            return await call_next(request)
        finally:
            for rule in rules:
                fake.faults.remove(rule)

    names, _ = await run_fragment(seeded, "OutcomeUnknownError", call_middlewares=[answer_lost])
    [charge] = fake.charges_for(DOC_CUSTOMER)
    assert charge.metadata["ching_async_idempotency_key"] == "invoice-2026-11-0042"
    [post] = fake.requests_to("POST", "/charges")
    assert post.fault == Fault.commit_then_drop()
    assert names["charge"].id == charge.id  # found by the later lookup


async def test_readme_construct_event_fragment(seeded: types.SimpleNamespace) -> None:
    names, _ = await run_fragment(seeded, "construct_event")
    event = names["event"]
    assert (event.id, event.type) == (DELIVERY.id, "charge.succeeded")
    assert isinstance(event.data, ching_async.Charge)
    assert event.data.id == DELIVERY.data["id"]
