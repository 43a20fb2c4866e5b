"""`ching webhooks trigger TYPE --to URL`: a signed sample event sent to a
local receiver (on its own thread: the command runs its own event loop),
which verifies the signature. No API key, no API call."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import pytest
from aiohttp import web

import ching_async
from ching_async.testing._thread import LoopThread
from ching_async.webhooks import aiohttp_handler

from .conftest import Ran

Ching = Callable[..., Ran]
SECRET = "whsec_cli_trigger_" + "4" * 24


class Receiver:
    """A webhook endpoint verifying deliveries with SECRET, served from a thread."""

    def __init__(self, status: int = 200) -> None:
        self.events: list[ching_async.Event] = []
        self.status = status
        self._thread = LoopThread("webhook receiver")
        self.url = self._thread.run(self._start())

    async def _start(self) -> str:
        async def on_event(event: ching_async.Event) -> None:
            self.events.append(event)
            if self.status >= 500:
                raise RuntimeError("the handler failed")

        app = web.Application()
        app.router.add_post("/hooks", aiohttp_handler(SECRET, on_event))
        self._runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.1)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        return f"http://127.0.0.1:{self._runner.addresses[0][1]}/hooks"

    def __enter__(self) -> Receiver:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._thread.run(self._runner.cleanup())
        self._thread.stop()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as server:
        yield server


def test_a_sample_reaches_the_handler_verified(ching: Ching, receiver: Receiver) -> None:
    ran = ching("webhooks", "trigger", "subscription.updated", "--to", receiver.url,
                "--secret", SECRET)  # fmt: skip
    assert ran.code == 0, ran.err
    [event] = receiver.events
    assert ran.out == f"sent subscription.updated {event.id} to {receiver.url}: answered 200\n"
    assert isinstance(event.data, ching_async.Subscription)
    assert event.data.status == "past_due"
    assert ran.err == ""


def test_json_shows_the_event_and_the_answer(
    ching: Ching, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHING_WEBHOOK_SECRET", SECRET)
    ran = ching("--json", "webhooks", "trigger", "charge.succeeded", "--to", receiver.url)
    assert ran.code == 0, ran.err
    shown = json.loads(ran.out)
    [event] = receiver.events
    assert (shown["ok"], shown["status"], shown["error"]) == (True, 200, None)
    assert shown["event"]["id"] == event.id
    assert shown["event"]["data"]["status"] == "succeeded"


def test_an_endpoint_that_fails_is_exit_1(ching: Ching) -> None:
    with Receiver(status=500) as failing:
        ran = ching("webhooks", "trigger", "refund.created", "--to", failing.url,
                    "--secret", SECRET)  # fmt: skip
    assert ran.code == 1
    [event] = failing.events
    assert event.type == "refund.created"
    assert (
        ran.err == f"ching: error: sent refund.created {event.id} to {failing.url}: answered 500\n"
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["invoice.paid", "--to", "http://127.0.0.1:9/h", "--secret", SECRET],
         "no sample for event type 'invoice.paid'; choose one of: charge.succeeded"),
        (["charge.succeeded", "--to", "not a url", "--secret", SECRET], "url must be"),
        (["charge.succeeded", "--to", "http://127.0.0.1:9/h"], "no webhook secret"),
        (["charge.succeeded", "--secret", SECRET], "--to"),
    ],
)  # fmt: skip
def test_bad_arguments_send_nothing(ching: Ching, argv: list[str], message: str) -> None:
    ran = ching("webhooks", "trigger", *argv)
    assert message in ran.usage_error()


def test_a_secret_without_whsec_is_sent_with_a_warning(ching: Ching, receiver: Receiver) -> None:
    ran = ching("webhooks", "trigger", "charge.succeeded", "--to", receiver.url,
                "--secret", "abc")  # fmt: skip
    assert ran.code == 1  # the receiver's secret is another: it refused the signature
    assert ran.err_lines[0] == (
        "ching: warning: the secret does not start with whsec_ as CHING's endpoint secrets "
        "do; signing with it anyway"
    )
    assert ran.err_lines[1].endswith(": answered 400")
    assert len(ran.err_lines) == 2


@pytest.mark.parametrize(
    "argv",
    [["trigger", "charge.succeeded", "--to", "http://127.0.0.1:9/h", "--secret", SECRET],
     ["verify", "--secret", SECRET, "--signature", "00", "-"]],
    ids=["trigger", "verify"],
)  # fmt: skip
def test_a_command_that_sends_nothing_offers_no_server_options(
    ching: Ching, argv: list[str]
) -> None:
    ran = ching("webhooks", argv[0], "--help")
    assert ran.code == 0
    assert "--secret-env" in ran.out
    assert "--api-key" not in ran.out
    assert "--fake" not in ran.out
    for option in ("--fake", "--api-key=ck_test_x"):
        refused = ching("webhooks", *argv, option).usage_error()
        assert f"unrecognized arguments: {option}" in refused
