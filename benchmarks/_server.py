"""Loopback HTTP/1.1 server for the benchmarks, run in a SEPARATE process.

It answers from pre-serialized bytes so that its own cost per request is a few
microseconds and the same for every client:

    POST /ching/v1/charges  -> one CHING charge envelope   (charges.txt shape)
    GET  /ching/v1/charges  -> a 100-charge CHING list envelope
    POST /v1/charges        -> one Stripe-shaped charge     (for stripe-python)
    GET  /v1/charges        -> a Stripe list object of 100 charges

Query strings are ignored; request bodies are read (Content-Length) and
discarded; connections are kept alive. Anything else gets a 404 envelope.

Parent side: ``with LoopbackServer() as server: server.port`` starts
``python benchmarks/_server.py`` and reads "PORT <n>" from its stdout. The child
binds 127.0.0.1 port 0, exits when its stdin reaches EOF (so it dies with the
parent even on SIGKILL), and the parent terminates it in ``__exit__`` (also on
Ctrl-C or an exception), escalating to kill if needed.

The payload builders are importable (``ching_charge``, ``ching_list_body``...)
so the in-process decode benchmark uses exactly the bytes served here.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
from typing import Any

N_LIST = 100
CHING_PREFIX = "/ching/v1"
TIMESTAMP = "2026-04-19T09:15:22.000Z"
EPOCH = 1776590122  # TIMESTAMP as epoch seconds (Stripe uses integers)


# ------------------------------------------------------------------ payloads
def _suffix(i: int) -> str:
    # 12 url-safe chars, distinct per item (like the real ids in charges.txt).
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    out = []
    n = 1_000_003 * (i + 7919)
    for _ in range(12):
        n, r = divmod(n * 31 + 17, len(alphabet))
        out.append(alphabet[r])
    return "".join(out)


def ching_charge(i: int = 0, *, list_item: bool = False) -> dict[str, Any]:
    """One charge exactly as documented in charges.txt (list items add customer_name)."""
    charge: dict[str, Any] = {
        "id": "ch_" + _suffix(i),
        "object": "charge",
        "customer": "cus_V8ltq1pK_MWH",
        "payment_method": "pm_WMc9X22NT1af",
        "amount": 9900,
        "amount_captured": 9900,
        "currency": "ils",
        "status": "succeeded",
        "description": "Pro plan - April",
        "installments": {"count": 1},
        "captured": True,
        "capture_method": "automatic",
        "authorized_at": TIMESTAMP,
        "capturable_until": None,
        "captured_at": TIMESTAMP,
        "cancellation_reason": None,
        "refunded_amount": 0,
        "failure_code": None,
        "failure_message": None,
        "document": "doc_R0i70cuPK_yO",
        "metadata": {},
        "livemode": False,
        "created": TIMESTAMP,
    }
    if list_item:
        charge["customer_name"] = "Tal Levi"
    return charge


def stripe_charge(i: int = 0) -> dict[str, Any]:
    """The same information in Stripe's charge shape (epoch ints, Stripe field names)."""
    return {
        "id": "ch_" + _suffix(i),
        "object": "charge",
        "amount": 9900,
        "amount_captured": 9900,
        "amount_refunded": 0,
        "balance_transaction": None,
        "captured": True,
        "created": EPOCH,
        "currency": "ils",
        "customer": "cus_V8ltq1pK_MWH",
        "description": "Pro plan - April",
        "failure_code": None,
        "failure_message": None,
        "livemode": False,
        "metadata": {},
        "paid": True,
        "payment_method": "pm_WMc9X22NT1af",
        "payment_method_details": {
            "card": {"brand": "visa", "last4": "4242", "installments": None},
            "type": "card",
        },
        "receipt_number": "doc_R0i70cuPK_yO",
        "refunded": False,
        "statement_descriptor": None,
        "status": "succeeded",
        "transfer_group": None,
    }


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def ching_charge_body() -> bytes:
    return _dumps({"success": True, "data": ching_charge(0)})


def ching_list_body(n: int = N_LIST) -> bytes:
    return _dumps({"success": True, "data": [ching_charge(i, list_item=True) for i in range(n)]})


def stripe_charge_body() -> bytes:
    return _dumps(stripe_charge(0))


def stripe_list_body(n: int = N_LIST) -> bytes:
    return _dumps(
        {
            "object": "list",
            "data": [stripe_charge(i) for i in range(n)],
            "has_more": False,
            "url": "/v1/charges",
        }
    )


def _response(status: str, body: bytes) -> bytes:
    head = (
        f"HTTP/1.1 {status}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Request-Id: req_bench\r\n"
        "\r\n"
    )
    return head.encode() + body


def build_routes() -> dict[tuple[bytes, bytes], bytes]:
    return {
        (b"POST", CHING_PREFIX.encode() + b"/charges"): _response("200 OK", ching_charge_body()),
        (b"GET", CHING_PREFIX.encode() + b"/charges"): _response("200 OK", ching_list_body()),
        (b"POST", b"/v1/charges"): _response("200 OK", stripe_charge_body()),
        (b"GET", b"/v1/charges"): _response("200 OK", stripe_list_body()),
    }


_NOT_FOUND = _response(
    "404 Not Found",
    _dumps(
        {
            "success": False,
            "error": {"status": 404, "code": "NOT_FOUND", "message": "no such route"},
        }
    ),
)
_BAD_REQUEST = _response("400 Bad Request", b'{"success":false}')


# -------------------------------------------------------------------- server
class _HttpProtocol(asyncio.Protocol):
    """Minimal keep-alive HTTP/1.1: Content-Length bodies only, no chunked requests."""

    def __init__(self, routes: dict[tuple[bytes, bytes], bytes]) -> None:
        self._routes = routes
        self._buf = b""
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        buf = self._buf + data if self._buf else data
        transport = self._transport
        assert transport is not None
        while True:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                break
            head = buf[:end]
            lower = head.lower()
            length = 0
            i = lower.find(b"\r\ncontent-length:")
            if i >= 0:
                j = lower.find(b"\r\n", i + 2)
                length = int(lower[i + 17 : j if j >= 0 else end])
            if b"\r\ntransfer-encoding:" in lower:
                transport.write(_BAD_REQUEST)
                transport.close()
                return
            total = end + 4 + length
            if len(buf) < total:
                break
            line = head[: head.find(b"\r\n")] if b"\r\n" in head else head
            parts = line.split(b" ")
            method = parts[0]
            path = parts[1].split(b"?", 1)[0] if len(parts) > 1 else b""
            transport.write(self._routes.get((method, path), _NOT_FOUND))
            buf = buf[total:]
            if b"\r\nconnection: close" in lower:
                transport.close()
                return
        self._buf = buf

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None


def _exit_on_stdin_eof() -> None:
    """The parent holds our stdin; EOF means the parent is gone (or asked us to stop)."""
    try:
        while sys.stdin.buffer.read(4096):
            pass
    finally:
        os._exit(0)


async def _serve() -> None:
    routes = build_routes()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _HttpProtocol(routes), "127.0.0.1", 0, backlog=1024)
    port = server.sockets[0].getsockname()[1]
    sys.stdout.write(f"PORT {port}\n")
    sys.stdout.flush()
    async with server:
        await server.serve_forever()


def main() -> None:
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    # Ctrl-C in the terminal reaches the whole process group; the parent cleans up.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_exit_on_stdin_eof, daemon=True).start()
    asyncio.run(_serve())


# -------------------------------------------------------------- parent side
class LoopbackServer:
    """Start the server in a child process; always stop it on exit."""

    def __init__(self, start_timeout: float = 15.0) -> None:
        self._start_timeout = start_timeout
        self._proc: subprocess.Popen[bytes] | None = None
        self.port = 0

    def start(self) -> int:
        self._proc = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        line = _readline_with_timeout(self._proc, self._start_timeout)
        if not line.startswith(b"PORT "):
            self.stop()
            raise RuntimeError(f"benchmark server did not start (got {line!r})")
        self.port = int(line.split()[1])
        return self.port

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        with contextlib.suppress(Exception):
            assert proc.stdin is not None
            proc.stdin.close()  # the child exits on EOF
        if proc.poll() is None:
            proc.terminate()
        try:
            proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        with contextlib.suppress(Exception):
            assert proc.stdout is not None
            proc.stdout.close()

    def __enter__(self) -> LoopbackServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _readline_with_timeout(proc: subprocess.Popen[bytes], timeout: float) -> bytes:
    result: list[bytes] = []

    def read() -> None:
        assert proc.stdout is not None
        result.append(proc.stdout.readline())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout)
    return result[0] if result else b""


if __name__ == "__main__":
    main()
