"""The public surface of ching_async.webhooks, and what importing it costs."""

from __future__ import annotations

import ast
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

import ching_async
import ching_async.webhooks
from ching_async.webhooks import SignatureVerificationError, WebhookPayloadError

PACKAGE_DIR = Path(ching_async.webhooks.__file__).parent


def run_fresh(code: str) -> None:
    """Run `code` in a fresh interpreter (nothing imported yet); it must print 'ok'."""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "ok", out.stderr


def test_the_public_names_are_the_ones_users_import() -> None:
    # What README, examples, the CLI and ching_async/__init__.py import: none may go.
    public = """Event OnEvent SIGNATURE_HEADER SignatureVerificationError WebhookPayloadError
        aiohttp_handler asgi_app compute_signature construct_event verify_signature"""
    assert sorted(ching_async.webhooks.__all__) == sorted(public.split())
    assert all(hasattr(ching_async.webhooks, name) for name in ching_async.webhooks.__all__)
    assert ching_async.webhooks.Event is ching_async.Event
    assert ching_async.webhooks.SIGNATURE_HEADER == "Ching-Signature"


def test_errors_are_ching_errors_exported_from_the_package() -> None:
    assert issubclass(SignatureVerificationError, ching_async.ChingError)
    assert issubclass(WebhookPayloadError, ching_async.ChingError)
    assert ching_async.SignatureVerificationError is SignatureVerificationError
    assert ching_async.WebhookPayloadError is WebhookPayloadError
    assert {"SignatureVerificationError", "WebhookPayloadError", "Event"} <= set(
        ching_async.__all__
    )


@pytest.mark.parametrize("error", [SignatureVerificationError, WebhookPayloadError])
def test_errors_keep_their_public_name_in_tracebacks_and_pickles(error: type[Exception]) -> None:
    assert f"{error.__module__}.{error.__qualname__}" == f"ching_async.webhooks.{error.__name__}"
    copy = pickle.loads(pickle.dumps(error("bad signature")))
    assert (type(copy), str(copy)) == (error, "bad signature")


def test_import_ching_async_imports_neither_webhooks_nor_aiohttp_web() -> None:
    run_fresh(
        "import sys, ching_async\n"
        "assert 'ching_async.webhooks' not in sys.modules\n"
        "assert 'aiohttp.web' not in sys.modules\n"
        "ching_async.SignatureVerificationError\n"
        "assert 'aiohttp.web' not in sys.modules\n"
        "print('ok')\n"
    )


def test_webhooks_is_an_attribute_after_a_bare_import_ching_async() -> None:
    run_fresh(
        "import sys, ching_async\n"
        "assert 'ching_async.webhooks' not in sys.modules\n"
        "ching_async.webhooks.construct_event\n"
        "assert ching_async.webhooks is sys.modules['ching_async.webhooks']\n"
        "assert 'aiohttp.web' not in sys.modules\n"
        "print('ok')\n"
    )


def test_only_the_aiohttp_receiver_imports_aiohttp_web_and_only_when_built() -> None:
    run_fresh(
        "import sys\n"
        "from ching_async.webhooks import aiohttp_handler, asgi_app, construct_event\n"
        "secret = 'whsec_' + '5e' * 32\n"
        "asgi_app(secret, print)\n"
        "assert 'aiohttp.web' not in sys.modules\n"
        "aiohttp_handler(secret, print)\n"
        "assert 'aiohttp.web' in sys.modules\n"
        "print('ok')\n"
    )


def test_unknown_attributes_of_ching_async_still_raise_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'webhook'"):
        ching_async.webhook  # noqa: B018


def _cross_module_private_imports() -> list[str]:
    """`from .x import _name` between ching_async modules, in the webhooks package."""
    found = []
    for path in sorted(PACKAGE_DIR.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.level > 0:
                found += [
                    f"{path.name}: from {'.' * node.level}{node.module or ''} import {a.name}"
                    for a in node.names
                    if a.name.startswith("_")
                ]
    return found


def test_no_private_name_is_imported_across_modules() -> None:
    assert _cross_module_private_imports() == []
