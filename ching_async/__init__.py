"""ching_async: the asyncio-first Python SDK for the CHING payments API.

async with ching_async.Client() as ching:      # key from CHING_API_KEY
    charge = await ching.charges.create(customer="cus_...", payment_method="pm_...",
                                        amount=9900)
"""

from ._client import DEFAULT_BASE_URL, Client
from ._errors import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    CardDeclinedError,
    ChingError,
    ClientStateError,
    ConflictError,
    InternalServerError,
    InvalidParameterError,
    NotFoundError,
    OutcomeUnknownError,
    PermissionDeniedError,
    RateLimitError,
    ResponseDecodeError,
    UnprocessableEntityError,
)
from ._http import Handler, Middleware, Request, Response
from ._listing import AsyncList
from ._models import (
    CancellationReason,
    CaptureMethod,
    Charge,
    ChargeStatus,
    Installments,
    RequestInfo,
    SetupSession,
    SetupSessionStatus,
)
from ._reconcile import IDEMPOTENCY_METADATA_KEY
from ._retry import RetryPolicy
from ._version import __version__

__all__ = [
    "DEFAULT_BASE_URL",
    "IDEMPOTENCY_METADATA_KEY",
    "APIConnectionError",
    "APIError",
    "APITimeoutError",
    "AsyncList",
    "AuthenticationError",
    "BadRequestError",
    "CancellationReason",
    "CaptureMethod",
    "CardDeclinedError",
    "Charge",
    "ChargeStatus",
    "ChingError",
    "Client",
    "ClientStateError",
    "ConflictError",
    "Handler",
    "Installments",
    "InternalServerError",
    "InvalidParameterError",
    "Middleware",
    "NotFoundError",
    "OutcomeUnknownError",
    "PermissionDeniedError",
    "RateLimitError",
    "Request",
    "RequestInfo",
    "Response",
    "ResponseDecodeError",
    "RetryPolicy",
    "SetupSession",
    "SetupSessionStatus",
    "UnprocessableEntityError",
    "__version__",
]
