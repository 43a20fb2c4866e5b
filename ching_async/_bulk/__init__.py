"""Bulk charging: the engine behind `charges.create_many` (_engine), its
journal (_journal), and the job-wide pacing it adds to its own calls (_pacing)."""

from ._engine import *  # noqa: F403 (its __all__ is this package's)
from ._engine import __all__ as __all__
