"""Turn a Response into models: envelope, then the converter, then provenance."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from ._convert import model_hook, model_list_hook, structure
from ._errors import ResponseDecodeError
from ._messages import Response
from ._models import Customer, RequestInfo, UpsertAction, UpsertResult
from ._protocol import decode_envelope, forget_parse, success_envelope, unreadable_answer
from ._secrets import redacted_head, request_secrets, response_headers

__all__ = ["decode_list", "decode_model", "request_info"]

T = TypeVar("T")


def request_info(response: Response) -> RequestInfo:
    request = response.request
    secrets = request_secrets(request)
    return RequestInfo(
        method=request.method,
        path=request.path,
        status=response.status,
        attempts=response.attempts,
        idempotency_key=request.idempotency_key,
        request_id=response.request_id_without(secrets),
        reconciled=response.reconciled,
        headers=response_headers(response.headers, secrets),
    )


def decode_error(response: Response, cls: type[Any], exc: Exception) -> ResponseDecodeError:
    forget_parse(response)
    # The converter's message may quote server data (a whole field, however
    # long): cut it, and no secret starting in what is kept survives the cut.
    detail = redacted_head(str(exc), 200, request_secrets(response.request))
    return unreadable_answer(
        f"could not decode {cls.__name__}: {type(exc).__name__}: {detail}", response
    )


def decode_model(
    response: Response, cls: type[T], *, when_empty: Mapping[str, Any] | None = None
) -> T:
    """The response's object as `cls`; `when_empty` stands in for an envelope
    without data (an endpoint that may answer a bare `{"success": true}`)."""
    data = decode_envelope(response)
    if data is None and when_empty is not None:
        data = dict(when_empty)
    return decode_item(response, cls, data, request_info(response))


def decode_upsert(response: Response) -> UpsertResult:
    """customers.upsert: the customer, and the `action` the server reports
    beside `data` (as the docs destructure it) or inside it."""
    customer = decode_model(response, Customer)
    envelope = success_envelope(response)
    action: Any = envelope.get("action")
    if action is None and isinstance(envelope.get("data"), dict):
        action = envelope["data"].get("action")
    try:
        # The converter's tolerant-enum rule: an unknown word stays a str.
        known = structure(action, UpsertAction | str | None)  # type: ignore[arg-type]
    except TypeError as exc:  # named by its field, as the converter names a model's
        error = decode_error(response, UpsertResult, TypeError(f"action: {exc}"))
    else:
        return UpsertResult(customer=customer, action=known, raw=envelope)
    raise error  # outside the except block, as in decode_item


def no_data(response: Response) -> None:
    """An answer without data (a delete's): a failure's typed error, else None."""
    decode_envelope(response)


def decode_image_url(response: Response) -> str:
    """products.upload_image: the hosted image's URL, in an answer whose shape
    no source documents ("a URL"): the data itself, or its `url` or `image_url`."""
    data = decode_envelope(response)
    if isinstance(data, dict):
        data = data.get("url") or data.get("image_url")
    if isinstance(data, str) and data:
        return data
    raise decode_error(response, str, TypeError("expected the image's URL"))


def decode_item(response: Response, cls: type[T], data: Any, info: RequestInfo) -> T:
    try:
        return model_hook(cls)(data, cls, info)
    except Exception as exc:  # any shape problem becomes one typed error
        error = decode_error(response, cls, exc)
    # The error's traceback keeps this frame alive: not the payload with it.
    del data
    # Raised outside the except block: the converter's exception, which may
    # quote server data, stays out of __context__ (`from None` only hides it).
    raise error


def decode_list(response: Response, cls: type[T], items: list[Any], info: RequestInfo) -> list[T]:
    decode_all = model_list_hook(cls)
    try:
        return decode_all(items, cls, info)
    except Exception as exc:
        error = decode_error(response, cls, exc)
    # The error's traceback keeps the callers' frames alive, and they hold
    # this list of payloads (parsed from the body, never handed to the
    # caller): emptied, it does not stay alive with the error.
    items.clear()
    raise error  # outside the except block, as in decode_item


def list_data(response: Response, cls: type[Any]) -> list[Any]:
    data = decode_envelope(response)
    if type(data) is not list:
        raise decode_error(response, cls, TypeError(f"expected a list, got {type(data).__name__}"))
    return data


__all__ += ["decode_image_url", "decode_item", "list_data", "no_data"]
