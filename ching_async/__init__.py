"""ching_async: the asyncio-first Python SDK for the CHING payments API.

async with ching_async.Client() as ching:      # key from CHING_API_KEY
    charge = await ching.charges.create(customer="cus_...", payment_method="pm_...",
                                        amount=9900)
"""

from typing import TYPE_CHECKING

from . import _models
from ._client import DEFAULT_BASE_URL, Client

# products, prices and discounts
from ._errors import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    AuthenticationError,
    AutoOpenWalletsNotSupportedForRecurringError,
    AutoOpenWalletsRequiresWalletError,
    BadRequestError,
    CaptureMethodNotSupportedForMixedError,
    CardDeclinedError,
    CartTotalInvalidError,
    ChingError,
    ClientStateError,
    ConflictError,
    CustomerHasActiveSubscriptionError,
    DiscountCodeNotFoundError,
    DowngradeImmediateNotSupportedError,
    EmailExistsError,
    ExpressCheckoutDisabledError,
    IdempotencyKeyReusedError,
    InternalServerError,
    InvalidParameterError,
    JournalInUseError,
    LineItemTargetNotFoundError,
    LookupInconclusiveError,
    MixedRequiresRecurringPriceError,
    NotFoundError,
    OutcomeUnknownError,
    PaymentMethodsNotSupportedForRecurringError,
    PermissionDeniedError,
    PriceArchivedError,
    PriceNotRecurringError,
    RateLimitError,
    RedirectError,
    ResponseDecodeError,
    TargetNotFoundError,
    TargetsNotSupportedError,
    UnprocessableEntityError,
    UnreadableResultError,
    WebhookSecretLostError,
)
from ._idempotency import IDEMPOTENCY_METADATA_KEY
from ._listing import AsyncList
from ._messages import BodySink, Handler, Middleware, Request, Response
from ._models import *  # noqa: F403 (every public model: _models.__all__, added below)
from ._retry import RetryPolicy
from ._transport import Transport
from ._validation import CLEAR, Clear
from ._version import __version__

_LAZY = {  # the bulk engine is imported on first use, not by `import ching_async`
    "BulkRun": "ching_async._bulk",
    "BulkSummary": "ching_async._bulk",
    "ChargeParams": "ching_async._bulk",
    "ChargeResult": "ching_async._bulk",
    "Outcome": "ching_async._bulk",
    # the webhooks subpackage loads on first use too (see __getattr__); its errors are here
    "SignatureVerificationError": "ching_async.webhooks",
    "WebhookPayloadError": "ching_async.webhooks",
    # the sync facade too: `import ching_async` starts no thread and loads no _sync
    "SyncClient": "ching_async._sync",
}


def __getattr__(name: str) -> object:
    import importlib

    if name == "webhooks":
        # `ching_async.webhooks` after a bare `import ching_async`: the subpackage is
        # imported here, on first access, so that `import ching_async` does not pay for it.
        return importlib.import_module("ching_async.webhooks")
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'ching_async' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


if TYPE_CHECKING:
    from . import webhooks as webhooks  # for type checkers; at run time, __getattr__
    from ._bulk import BulkRun, BulkSummary, ChargeParams, ChargeResult, Outcome
    from ._sync import SyncClient
    from .webhooks import SignatureVerificationError, WebhookPayloadError

__all__ = [
    "BulkRun",
    "BulkSummary",
    "ChargeParams",
    "ChargeResult",
    "Outcome",
    "DEFAULT_BASE_URL",
    "IDEMPOTENCY_METADATA_KEY",
    "APIConnectionError",
    "APIError",
    "APITimeoutError",
    "AsyncList",
    "AuthenticationError",
    "BadRequestError",
    "CardDeclinedError",
    "ChingError",
    "Client",
    "ClientStateError",
    "ConflictError",
    "Handler",
    "IdempotencyKeyReusedError",
    "InternalServerError",
    "InvalidParameterError",
    "JournalInUseError",
    "LookupInconclusiveError",
    "Middleware",
    "NotFoundError",
    "OutcomeUnknownError",
    "PermissionDeniedError",
    "RateLimitError",
    "RedirectError",
    "Request",
    "Response",
    "ResponseDecodeError",
    "RetryPolicy",
    "Transport",
    "UnprocessableEntityError",
    "UnreadableResultError",
    "__version__",
    "SignatureVerificationError",
    "SyncClient",
    "WebhookPayloadError",
    "BodySink",
    "WebhookSecretLostError",
]
__all__ += _models.__all__
__all__ += [  # products, prices and discounts
    "CLEAR",
    "Clear",
    "PriceArchivedError",
    "TargetNotFoundError",
    "TargetsNotSupportedError",
]
__all__ += [  # subscriptions
    "CustomerHasActiveSubscriptionError",
    "EmailExistsError",
    "DowngradeImmediateNotSupportedError",
    "PriceNotRecurringError",
]
__all__ += [  # checkout sessions
    "AutoOpenWalletsNotSupportedForRecurringError",
    "AutoOpenWalletsRequiresWalletError",
    "CaptureMethodNotSupportedForMixedError",
    "CartTotalInvalidError",
    "DiscountCodeNotFoundError",
    "ExpressCheckoutDisabledError",
    "LineItemTargetNotFoundError",
    "MixedRequiresRecurringPriceError",
    "PaymentMethodsNotSupportedForRecurringError",
]
