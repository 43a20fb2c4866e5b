"""Bulk charging: the engine behind `charges.create_many` (_engine), its
journal (_journal), and the job-wide pacing it adds to its own calls (_pacing)."""

from ._engine import (
    BulkRun,
    BulkSummary,
    ChargeParams,
    ChargeResult,
    Outcome,
    classify_charge,
    classify_error,
)

__all__ = [
    "BulkRun",
    "BulkSummary",
    "ChargeParams",
    "ChargeResult",
    "Outcome",
    "classify_charge",
    "classify_error",
]
