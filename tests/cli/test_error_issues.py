"""How the CLI shows the ``issues`` of a server's error envelope, whatever their shape."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from ching_async import UnprocessableEntityError
from ching_async.cli._output import describe_error

from .conftest import Ran

Ching = Callable[..., Ran]


def _error(*paths: Any) -> UnprocessableEntityError:
    issues = [{"path": path, "message": "x"} for path in paths]
    return UnprocessableEntityError("bad", status=422, code="INVALID_FIELD", issues=issues)


def test_an_issue_path_that_is_not_a_list_is_shown_whole() -> None:
    error = _error(["items", 0, "amount"], "email", 5, True, None, [])
    shown = "items.0.amount: x; email: x; 5: x; True: x; -: x; -: x"
    assert describe_error(error).endswith(f"(issues: {shown})")


def _serve_422(issues: list[dict[str, Any]]) -> ThreadingHTTPServer:
    body = json.dumps(
        {
            "success": False,
            "error": {"status": 422, "code": "INVALID_FIELD", "message": "bad", "issues": issues},
        }
    ).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(422)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep the test output clean

    return ThreadingHTTPServer(("127.0.0.1", 0), Handler)


@pytest.fixture
def odd_issues_api(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict[str, Any]]]:
    """An API answering 422 with issues whose paths are a number, a bool and a string."""
    issues: list[dict[str, Any]] = [
        {"path": 5, "message": "x"},
        {"path": False, "message": "y"},
        {"path": "email", "message": "z"},
    ]
    server = _serve_422(issues)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("CHING_API_KEY", "ck_test_" + "ab" * 32)
    monkeypatch.setenv("CHING_BASE_URL", f"http://127.0.0.1:{server.server_port}/ching/v1")
    try:
        yield issues
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_issue_paths_that_are_not_lists_are_one_error_line(
    ching: Ching, odd_issues_api: list[dict[str, Any]]
) -> None:
    ran = ching("charges", "get", "ch_1")
    assert (ran.code, ran.out) == (1, "")
    assert len(ran.err_lines) == 1
    line = ran.err_lines[0]
    assert line.startswith("ching: error: UnprocessableEntityError: 422 INVALID_FIELD: bad")
    assert line.endswith("(issues: 5: x; False: y; email: z)")


def test_issue_paths_that_are_not_lists_are_kept_as_sent_with_json(
    ching: Ching, odd_issues_api: list[dict[str, Any]]
) -> None:
    ran = ching("charges", "get", "ch_1", "--json")
    assert ran.code == 1
    error = json.loads(ran.out)["error"]
    assert (error["type"], error["status"], error["issues"]) == (
        "UnprocessableEntityError",
        422,
        odd_issues_api,
    )
    assert len(ran.err_lines) == 1
    assert ran.err_lines[0].endswith("(issues: 5: x; False: y; email: z)")
