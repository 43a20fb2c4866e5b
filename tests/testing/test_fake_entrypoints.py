"""``python -m ching_async.testing`` and the pytest plugin, each run in a subprocess."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import urllib.request
from pathlib import Path

import pytest

from ching_async.testing import FakeChing

TIMEOUT = 60


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTEST_ADDOPTS", None)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _get_json(url: str, key: str) -> tuple[int, object]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"})
    with urllib.request.urlopen(request, timeout=10) as resp:
        return resp.status, json.loads(resp.read())


def _read_banner(process: subprocess.Popen[str]) -> dict[str, str]:
    assert process.stdout is not None
    banner: dict[str, str] = {}
    for _ in range(3):
        label, _, value = process.stdout.readline().rpartition(" ")
        banner[label.strip()] = value.strip()
    return banner


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "term"])
def test_standalone_server_answers_and_stops_cleanly(stop_signal: signal.Signals) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "ching_async.testing", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    try:
        banner = _read_banner(process)
        url, key = banner["Fake CHING API listening on"], banner["Test API key:"]
        assert url.startswith("http://127.0.0.1:")
        assert url.endswith("/ching/v1")
        assert key == FakeChing().api_key  # the CLI's default seed is FakeChing's
        status, payload = _get_json(url + "/charges", key)
        assert (status, payload) == (200, {"success": True, "data": []})
        process.send_signal(stop_signal)
        out, err = process.communicate(timeout=TIMEOUT)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    assert "Traceback" not in err
    assert out.rstrip().endswith("Stopped.")


def test_standalone_server_reports_a_taken_port() -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "ching_async.testing", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            env=_env(),
        )
    assert result.returncode == 1
    assert result.stderr.startswith("error:")


PLUGIN_TESTS = """
import os

import aiohttp
import pytest

import ching_async
from ching_async.testing import FakeChing


@pytest.mark.asyncio
async def test_fake_ching_fixture(fake_ching):
    assert isinstance(fake_ching, FakeChing)
    headers = {"Authorization": f"Bearer {fake_ching.api_key}"}
    async with aiohttp.ClientSession(headers=headers) as session:
        async with session.get(fake_ching.url + "/charges") as resp:
            assert resp.status == 200


@pytest.fixture
def fake_ching_options():
    return {"seed": 5, "honor_idempotency_keys": True}


@pytest.mark.asyncio
async def test_options_are_applied(fake_ching):
    assert fake_ching.honor_idempotency_keys
    assert fake_ching.api_key == FakeChing(seed=5).api_key


@pytest.mark.asyncio
async def test_ching_client_fixture(ching_client, fake_ching):
    assert isinstance(ching_client, ching_async.Client)
    customer = fake_ching.add_customer(name="Tal")
    card = fake_ching.add_payment_method(customer.id)
    charge = await ching_client.charges.create(
        customer=customer.id, payment_method=card.id, amount=4990
    )
    assert [c.id for c in fake_ching.charges()] == [charge.id]


CHING_ENV = ("CHING_API_KEY", "CHING_BASE_URL")
BEFORE = {name: os.environ.get(name) for name in CHING_ENV}
URLS = []


@pytest.mark.parametrize("run", [1, 2])
def test_ching_test_mode_fixture_twice_in_a_row(ching_test_mode, fake_ching_threaded, run):
    assert ching_test_mode is fake_ching_threaded
    assert fake_ching_threaded.honor_idempotency_keys  # fake_ching_options apply
    client = ching_async.Client()
    assert (client.base_url, client.retry_policy.instant) == (ching_test_mode.url, True)
    assert os.environ["CHING_BASE_URL"] == ching_test_mode.url
    URLS.append(client.base_url)
    assert len(set(URLS)) == run  # each test has its own fake


@pytest.mark.asyncio
async def test_ching_test_mode_fixture_in_an_async_test(ching_test_mode):
    customer = ching_test_mode.add_customer(name="Tal")
    card = ching_test_mode.add_payment_method(customer.id)
    async with ching_async.Client() as client:
        await client.charges.create(customer=customer.id, payment_method=card.id, amount=1)
    assert len(ching_test_mode.charges()) == 1


def test_nothing_is_left_after_the_fixtures():
    assert {name: os.environ.get(name) for name in CHING_ENV} == BEFORE
    assert ching_async.Client("ck_test_1").retry_policy == ching_async.RetryPolicy()
"""


@pytest.mark.parametrize("mode", ["strict", "auto"])
def test_plugin_fixtures_work_in_strict_and_auto_mode(tmp_path: Path, mode: str) -> None:
    client_exists = hasattr(__import__("ching_async"), "Client")
    source = (
        PLUGIN_TESTS
        if client_exists
        else PLUGIN_TESTS.split("@pytest.mark.asyncio\nasync def test_ching_client")[0]
    )
    (tmp_path / "test_plugin_inner.py").write_text(textwrap.dedent(source))
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "error",
         "-o", f"asyncio_mode={mode}", "-o", "asyncio_default_fixture_loop_scope=function",
         str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        cwd=tmp_path,
        env=_env(),
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{7 if client_exists else 2} passed" in result.stdout


def test_plugin_imports_without_pytest_asyncio() -> None:
    code = (
        "import sys; sys.modules['pytest_asyncio'] = None\n"
        "import pytest, ching_async.testing.plugin as plugin\n"
        "assert plugin._fixture is pytest.fixture\n"
        "assert 'ching_async.testing._server' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=TIMEOUT, env=_env())


def test_importing_ching_async_does_not_import_the_fake() -> None:
    code = "import sys, ching_async; assert 'ching_async.testing' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=TIMEOUT, env=_env())
