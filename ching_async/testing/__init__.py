"""Testing tools for ``ching_async``: a faithful in-memory fake CHING server.

``async with FakeChing() as fake:`` serves the documented endpoints on an ephemeral
127.0.0.1 port with in-memory state, seeding helpers, a request log, an injectable
clock and scriptable fault injection (``fake.faults.add(Fault.commit_then_drop())``).
Run it standalone with ``python -m ching_async.testing --port 8787``.

Not imported by ``import ching_async``.
"""

from ._envelope import FakeApiError, Issue
from ._faults import Fault, FaultKind, FaultRule, FaultSet
from ._log import RequestRecord
from ._models import Charge, Customer, PaymentMethod, SetupSession
from ._server import FakeChing

__all__ = [
    "FakeChing",
    "Fault",
    "FaultKind",
    "FaultRule",
    "FaultSet",
    "FakeApiError",
    "Issue",
    "RequestRecord",
    "Charge",
    "Customer",
    "PaymentMethod",
    "SetupSession",
]
