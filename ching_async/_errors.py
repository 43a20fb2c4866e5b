"""The exception hierarchy. Every error the library raises derives from ChingError."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

__all__ = [
    "APIConnectionError",
    "APIError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "CardDeclinedError",
    "ChingError",
    "ClientStateError",
    "ConflictError",
    "CustomerHasActiveSubscriptionError",
    "EmailExistsError",
    "DowngradeImmediateNotSupportedError",
    "IdempotencyKeyReusedError",
    "InternalServerError",
    "InvalidParameterError",
    "JournalInUseError",
    "LookupInconclusiveError",
    "NotFoundError",
    "OutcomeUnknownError",
    "PermissionDeniedError",
    "PriceArchivedError",
    "PriceNotRecurringError",
    "RateLimitError",
    "RedirectError",
    "ResponseDecodeError",
    "TargetNotFoundError",
    "TargetsNotSupportedError",
    "UnprocessableEntityError",
    "UnreadableResultError",
    "error_class_for",
    "WebhookSecretLostError",
    "error_class_for_status",
    "issue_path",
]


class ChingError(Exception):
    """Base class of every error raised by ching_async."""


class InvalidParameterError(ChingError, ValueError):
    """An argument was rejected before any request was sent."""


class JournalInUseError(InvalidParameterError):
    """A bulk job's journal is held by another run (in this process or
    another on this host): one journal, one run at a time. Raised before
    anything is sent. `path` is the journal, `job_id` the refused run's job."""

    def __init__(self, message: str, *, path: str = "", job_id: str = "") -> None:
        super().__init__(message)
        self.path = path
        self.job_id = job_id


class ClientStateError(ChingError, RuntimeError):
    """The client was used after aclose() or from another event loop."""


class _RequestContext:
    """Which request an error came from. Shared by API and connection errors."""

    method: str | None = None
    path: str | None = None
    attempts: int = 0
    idempotency_key: str | None = None
    request_id: str | None = None
    outcome_unknown: bool = False

    def _set_context(
        self,
        *,
        method: str | None,
        path: str | None,
        attempts: int,
        idempotency_key: str | None,
        request_id: str | None = None,
        outcome_unknown: bool = False,
    ) -> None:
        self.method = method
        self.path = path
        self.attempts = attempts
        self.idempotency_key = idempotency_key
        if request_id is not None:
            self.request_id = request_id
        self.outcome_unknown = outcome_unknown

    def _context_suffix(self) -> str:
        parts = []
        if self.method and self.path:
            parts.append(f"{self.method} {self.path}")
        if self.attempts:
            parts.append(f"attempts={self.attempts}")
        if self.request_id:
            parts.append(f"request_id={self.request_id}")
        if self.idempotency_key:
            parts.append(f"idempotency_key={self.idempotency_key}")
        if self.outcome_unknown:
            parts.append("outcome_unknown=True")
        return f" [{', '.join(parts)}]" if parts else ""


_NO_HEADERS: Mapping[str, str] = MappingProxyType({})


class APIError(_RequestContext, ChingError):
    """The server answered with an error envelope or an error status."""

    status: int | None
    code: str | None
    message: str
    issues: tuple[Mapping[str, Any], ...]
    # How many more issues the server listed beyond those kept in `issues`.
    issues_omitted: int
    body: str
    # The response's headers, when the error came from a response
    # (case-insensitive; a value that echoed the API key is redacted).
    headers: Mapping[str, str] = _NO_HEADERS

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        issues: Sequence[Mapping[str, Any]] = (),
        issues_omitted: int = 0,
        body: str = "",
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.issues = tuple(issues)
        self.issues_omitted = issues_omitted
        self.body = body
        self.request_id = request_id

    @property
    def fields(self) -> tuple[str, ...]:
        """The fields the server's issues name, as dotted paths ("amount",
        "installments.count"), in order; an issue without a path is left out.
        Sources disagree on `issues[].path`: a list (`["amount"]`) or a string
        (`"amount"`); either reads the same here."""
        paths = (issue_path(issue.get("path")) for issue in self.issues)
        return tuple(path for path in paths if path)

    def __str__(self) -> str:
        head = (
            f"{self.status} {self.code}: "
            if self.code
            else (f"{self.status}: " if self.status else "")
        )
        return f"{head}{self.message}{self._context_suffix()}"


def issue_path(path: Any) -> str:
    """One issue's `path` as a dotted string: `["items", 0, "name"]` ->
    `items.0.name`; a string (or number) as it is; "" when there is none."""
    if isinstance(path, list | tuple):
        return ".".join(str(part) for part in path)
    return "" if path is None else str(path)


class BadRequestError(APIError):
    """400: the request was malformed or not allowed in the object's state."""


class AuthenticationError(APIError):
    """401: the API key is missing, unknown or revoked."""


class CardDeclinedError(APIError):
    """402: the card was declined (code CHARGE_FAILED)."""


class PermissionDeniedError(APIError):
    """403: the key may not do this (NO_ACCESS, LIVE_KEY_INACTIVE)."""


class NotFoundError(APIError):
    """404: no such object."""


class ConflictError(APIError):
    """409: the request conflicts with the object's current state."""


class UnprocessableEntityError(APIError):
    """422: a field failed validation on the server (INVALID_FIELD)."""


class RateLimitError(APIError):
    """429: too many requests. `retry_after` is the server's hint in seconds, if any."""

    retry_after: float | None = None


class InternalServerError(APIError):
    """5xx: the server failed. For a POST the outcome may be unknown."""


class ResponseDecodeError(APIError):
    """A response body could not be understood (not JSON, truncated, wrong shape)."""


class RedirectError(APIError):
    """A download's redirect that is not followed: too many in a row, one
    without a Location, or one to a URL that is not https (plain http only to
    a loopback host, from a client whose base URL is on one). `status` is the
    redirect's; the message names where it pointed, without its query."""


class LookupInconclusiveError(APIError):
    """A lookup by idempotency key did not find the object, but the list it
    searched was full (lists hold only the 100 newest objects), so the object
    may exist beyond it: absence is not proven. Never treat it as "not made"."""


class APIConnectionError(_RequestContext, ChingError):
    """No usable response: the connection failed, was reset, or timed out."""

    def __init__(self, message: str, *, may_have_reached_server: bool = True) -> None:
        super().__init__(message)
        self.message = message
        # False only when the request provably never left this process
        # (the connection could not be established); then a retry is always safe.
        self.may_have_reached_server = may_have_reached_server

    def __str__(self) -> str:
        return f"{self.message}{self._context_suffix()}"


class APITimeoutError(APIConnectionError):
    """The attempt timed out, or the total deadline across retries ran out."""


class OutcomeUnknownError(APIError, APIConnectionError):
    """A money-moving POST may or may not have taken effect, and reconciliation
    could not tell. Resolve it later with `find_by_idempotency_key`."""

    def __init__(
        self,
        message: str,
        *,
        idempotency_key: str,
        customer: str | None = None,
        status: int | None = None,
    ) -> None:
        APIError.__init__(self, message, status=status)
        self.may_have_reached_server = True
        self.idempotency_key = idempotency_key
        self.customer = customer
        self.outcome_unknown = True

    def __str__(self) -> str:
        return APIError.__str__(self)

    def __reduce__(self) -> tuple[Any, ...]:
        # idempotency_key is keyword-only: the default (cls, args) would not
        # unpickle. The state restores the context and every attribute.
        return (_rebuild_outcome_unknown, (type(self), self.message), self.__dict__)


def _rebuild_outcome_unknown(cls: type[OutcomeUnknownError], message: str) -> OutcomeUnknownError:
    return cls(message, idempotency_key="")


class UnreadableResultError(ResponseDecodeError, OutcomeUnknownError):
    """A POST (or another write) that may have taken effect, whose answer
    could not be read. Mostly CHING answered 2xx, so the charge, refund...
    most likely exists, but the body was not JSON, truncated, empty, over
    `max_response_bytes`, or held an object that does not decode (an answer
    of another status over `max_response_bytes` is one too).

    Both a `ResponseDecodeError` and an `OutcomeUnknownError`: never take it
    for "failed" and send again with a new key; resolve it by
    `idempotency_key` (`find_by_idempotency_key`). A reconciled POST
    (`charges.create`...) looks an unreadable 2xx's object up first, and
    ends in this only when the envelope was read but its object was not
    (`customer` is named for `charges.create`, as ever)."""


class WebhookSecretLostError(APIError):
    """`webhook_endpoints.create` failed ambiguously (a timeout, a lost
    answer, a 5xx), and the lookup after it found an endpoint with the same
    URL and events: it exists, but the answer that carried its signing
    secret was lost, and CHING shows a secret only once. The client does not
    create a second endpoint. To get a secret, delete this one
    (`webhook_endpoints.delete(err.endpoint_id)`) and create it again.

    `endpoint_id`, `url` and `events` name the endpoint found. (An endpoint
    with the same URL and events that existed before the call is found the
    same way: it is just as unusable without its secret.)
    """

    def __init__(self, *, endpoint_id: int | None, url: str, events: Sequence[str]) -> None:
        name = "?" if endpoint_id is None else str(endpoint_id)
        super().__init__(
            f"webhook endpoint {name} for {url} with events {list(events)} exists, but the "
            "answer that carried its signing secret was lost (CHING shows a secret only once); "
            f"delete it (webhook_endpoints.delete({name})) and create it again for a new secret"
        )
        self.endpoint_id = endpoint_id
        self.url = url
        self.events = tuple(events)

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only arguments: the default (cls, args) would not unpickle.
        return (_rebuild_secret_lost, (type(self),), self.__dict__)


def _rebuild_secret_lost(cls: type[WebhookSecretLostError]) -> WebhookSecretLostError:
    return cls(endpoint_id=None, url="", events=())


_STATUS_CLASSES: dict[int, type[APIError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    402: CardDeclinedError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}


def error_class_for_status(status: int) -> type[APIError]:
    """Map an HTTP status to its error class; the code stays data, not type."""
    if status >= 500:
        return InternalServerError
    return _STATUS_CLASSES.get(status, APIError)


# ------------------------------------------- documented codes with a class
# Each derives from the class of the status its code is documented with, and
# is chosen only when the response's status agrees (`error_class_for`): an
# `except BadRequestError` catches what the status says, whatever the code.
class PriceArchivedError(BadRequestError):
    """400 `price_archived`: the price is archived and can no longer be used."""


class TargetNotFoundError(BadRequestError):
    """400 `target_not_found`: a discount target names no product or price
    of this project and mode (or not one of the rule's `target_type`)."""


class TargetsNotSupportedError(BadRequestError):
    """400 `targets_not_supported`: an `order` discount rule takes no targets."""


# subscriptions
class DowngradeImmediateNotSupportedError(BadRequestError):
    """400 `DOWNGRADE_IMMEDIATE_NOT_SUPPORTED`: `change_price` with
    `change_timing="immediately"` to a cheaper price (a current period is
    never refunded): leave `change_timing` out, or say `at_period_end`."""


class PriceNotRecurringError(BadRequestError):
    """400 `price_not_recurring`: a subscription's price (or the new one of
    `change_price`) must be a recurring price."""


class CustomerHasActiveSubscriptionError(ConflictError):
    """409 `CUSTOMER_HAS_ACTIVE_SUBSCRIPTION`: a customer with an active,
    trialing or past_due subscription cannot be deleted: cancel it first."""


class EmailExistsError(ConflictError):
    """409 `EMAIL_EXISTS`: another customer already has that email (on
    `customers.create`, or an update to another customer's email). Use
    `customers.upsert(identify_by="email", ...)` to update that customer
    instead of creating one."""


# exactly-once creates: the code of the answer _reconcile makes (CHING has none)
KEY_REUSED = "idempotency_key_reused"


class IdempotencyKeyReusedError(BadRequestError):
    """400 `idempotency_key_reused`, the client's own (CHING does not compare;
    Stripe refuses such a key alike): an exactly-once create's idempotency key
    already made an object with other parameters (another amount, card or
    customer), so that object is not this call's result, and nothing was
    sent. Use a new key for a new object, or the same parameters to get that
    one back. Never `outcome_unknown`.

    `found_id`: the object the key made. `differences`: each field that
    differs, as `(field, this call's value, the object's)`; `fields` names them.
    """

    @property
    def found_id(self) -> str | None:
        """The id of the object the key made."""
        for issue in self.issues:
            found_id = issue.get("found_id")
            if isinstance(found_id, str):
                return found_id
        return None

    @property
    def differences(self) -> tuple[tuple[str, Any, Any], ...]:
        """`(field, this call's value, the object's)` for each field that differs."""
        return tuple(
            (issue_path(issue.get("path")), issue.get("sent"), issue.get("found"))
            for issue in self.issues
            if issue.get("path") is not None
        )


_CODE_CLASSES: dict[str, type[APIError]] = {
    KEY_REUSED: IdempotencyKeyReusedError,
    "EMAIL_EXISTS": EmailExistsError,
    "price_archived": PriceArchivedError,
    "target_not_found": TargetNotFoundError,
    "targets_not_supported": TargetsNotSupportedError,
    "DOWNGRADE_IMMEDIATE_NOT_SUPPORTED": DowngradeImmediateNotSupportedError,
    "price_not_recurring": PriceNotRecurringError,
    "CUSTOMER_HAS_ACTIVE_SUBSCRIPTION": CustomerHasActiveSubscriptionError,
}


def error_class_for(status: int, code: str | None) -> type[APIError]:
    """The class of an error envelope: the documented code's own class when
    the status is the one it is documented with, else the status's class."""
    by_status = error_class_for_status(status)
    by_code = _CODE_CLASSES.get(code) if code is not None else None
    if by_code is not None and issubclass(by_code, by_status):
        return by_code
    return by_status


# ------------------------------------------------------- checkout sessions
# Codes of `checkout_sessions.create`. Two are documented as 400; no source
# gives the others a status. Each is a rule of the request that broke, which
# the docs answer with 400, so each is a BadRequestError; under another
# status the code stays data and the status picks the class.
class DiscountCodeNotFoundError(BadRequestError):
    """400 `discount_code_not_found`: an entry of `coupon_codes` is no
    discount code of this project and mode. (An expired or used-up code is no
    error: it is just not applied.)"""


class LineItemTargetNotFoundError(BadRequestError):
    """400 `line_item_target_not_found`: a line item's `price` or `product`
    names nothing in this project and mode."""


class MixedRequiresRecurringPriceError(BadRequestError):
    """`mixed_requires_recurring_price`: with `line_items`, `price` must be a
    recurring price (a plan plus one-time items); sell a one-time price as a
    line item instead."""


class CartTotalInvalidError(BadRequestError):
    """`cart_total_invalid`: the line items add up to less than 0."""


class CaptureMethodNotSupportedForMixedError(BadRequestError):
    """`capture_method_not_supported_for_mixed`: `capture_method="manual"`
    is for one-time prices and carts, not for a recurring price or a mixed
    session."""


class PaymentMethodsNotSupportedForRecurringError(BadRequestError):
    """`payment_methods_not_supported_for_recurring`: `payment_methods` (an
    embedded checkout's choice) is for one-time prices and carts only."""


class ExpressCheckoutDisabledError(BadRequestError):
    """`express_checkout_disabled`: `auto_open_wallets` needs wallets
    (express checkout) enabled for the project."""


class AutoOpenWalletsRequiresWalletError(BadRequestError):
    """`auto_open_wallets_requires_wallet`: `auto_open_wallets` needs
    "wallet" among `payment_methods` (leave `payment_methods` out for both)."""


class AutoOpenWalletsNotSupportedForRecurringError(BadRequestError):
    """`auto_open_wallets_not_supported_for_recurring`: `auto_open_wallets`
    is for one-time prices and carts only."""


_CHECKOUT_CODES: dict[str, type[APIError]] = {
    "discount_code_not_found": DiscountCodeNotFoundError,
    "line_item_target_not_found": LineItemTargetNotFoundError,
    "mixed_requires_recurring_price": MixedRequiresRecurringPriceError,
    "cart_total_invalid": CartTotalInvalidError,
    "capture_method_not_supported_for_mixed": CaptureMethodNotSupportedForMixedError,
    "payment_methods_not_supported_for_recurring": PaymentMethodsNotSupportedForRecurringError,
    "express_checkout_disabled": ExpressCheckoutDisabledError,
    "auto_open_wallets_requires_wallet": AutoOpenWalletsRequiresWalletError,
    "auto_open_wallets_not_supported_for_recurring": AutoOpenWalletsNotSupportedForRecurringError,
}
_CODE_CLASSES.update(_CHECKOUT_CODES)
__all__ += [cls.__name__ for cls in _CHECKOUT_CODES.values()]
