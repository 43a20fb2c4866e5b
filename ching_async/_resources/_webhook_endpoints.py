from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .._decode import decode_model, no_data
from .._errors import WebhookSecretLostError
from .._listing import AsyncList
from .._messages import Response
from .._models import WebhookEndpoint
from .._protocol import path_segment
from .._reconcile import MatchReconciler
from .._retry import Resend
from .._secrets import attach_context
from .._validation import (
    Fields,
    check_event_types,
    check_redirect_url,
    check_webhook_endpoint_id,
)
from ._base import Resource

__all__ = ["WebhookEndpoints"]

WEBHOOKS_PATH = "/webhooks"
# The URL: DOCS say https, the schema takes any URL, the official CLI takes
# http:// for local testing; so http(s).
_CREATE_FIELDS = Fields(
    {"url": check_redirect_url, "events": check_event_types}, required=("url", "events")
)


class WebhookEndpoints(Resource):
    """`/webhooks`: the URLs CHING delivers events to, one mode each (a test
    key manages test endpoints). There is no update: to change an endpoint
    or rotate its secret, delete it and create another.

    Retries: `delete` is retried like a GET (a retry that finds the endpoint
    gone counts as deleted). `create` shows its secret once and has no
    metadata to carry a marker, so after an ambiguous failure the endpoints
    are listed and one with the same URL and events is looked for: found, it
    exists but its secret was lost (`WebhookSecretLostError`, and no second
    endpoint is made); proven absent, the create is sent again; neither,
    `OutcomeUnknownError`.
    """

    async def create(self, *, url: str, events: Sequence[str]) -> WebhookEndpoint:
        """Register `url` for `events` (types such as "charge.succeeded", or
        ["*"] for all); repeated types are sent once.

        The answer's `secret` (`whsec_...`) is shown this once: store it now.
        It has no `id` (`list` shows it). Raises `WebhookSecretLostError` when
        the endpoint was made but the answer carrying its secret was lost.
        """
        body = _CREATE_FIELDS.body_of(locals())
        url, wanted = body["url"], body["events"]
        return await self._call(
            WebhookEndpoint,
            "POST",
            WEBHOOKS_PATH,
            body=body,
            retry=MatchReconciler(
                list_path=WEBHOOKS_PATH,
                match=_same_endpoint(url, wanted),
                wanted=f"is an endpoint for {url} with events {wanted}",
                resolve_hint="list the endpoints (webhook_endpoints.list()) to see whether it "
                "was made; if it was, its secret is lost: delete it and create it again",
            ),
            decode=_with_its_secret(url, wanted),
        )

    def list(self) -> AsyncList[WebhookEndpoint]:
        """The endpoints of this key's mode (never their secrets).
        Awaitable and async-iterable."""
        return self._list(WebhookEndpoint, WEBHOOKS_PATH, None)

    async def delete(self, id: int) -> None:
        """Delete the endpoint `id` (a number, from `list`): deliveries to it
        stop at once. The API answers without data. Retried like a GET: a
        retry that finds the endpoint gone after an attempt that may have
        taken effect succeeds (that attempt may have deleted it; gone is what
        was asked), while a 404 with no such attempt before it (the first, or
        after a refused connection or a 429) raises `NotFoundError`."""
        path = WEBHOOKS_PATH + "/" + path_segment(str(check_webhook_endpoint_id("id", id)))
        await self._call(type(None), "DELETE", path, retry=Resend.UNTIL_GONE, decode=no_data)


def _with_its_secret(url: str, events: list[str]) -> Callable[[Response], WebhookEndpoint]:
    """The endpoint the create answered. One the lookup found was made, but
    the answer carrying its secret (shown once) was lost: not a retry rule but
    what a found endpoint means here, so it is WebhookSecretLostError."""

    def decode(response: Response) -> WebhookEndpoint:
        endpoint = decode_model(response, WebhookEndpoint)
        if response.reconciled:
            lost = WebhookSecretLostError(endpoint_id=endpoint.id, url=url, events=events)
            raise attach_context(lost, response.request, attempts=response.attempts)
        return endpoint

    return decode


def _same_endpoint(url: str, events: list[str]) -> Callable[[Mapping[str, Any]], bool]:
    """An endpoint as listed with this URL and these events (in any order)."""
    wanted = set(events)

    def same(item: Mapping[str, Any]) -> bool:
        listed = item.get("events")
        if item.get("url") != url or not isinstance(listed, list):
            return False
        return all(isinstance(event, str) for event in listed) and set(listed) == wanted

    return same
