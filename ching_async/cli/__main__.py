"""``python -m ching_async.cli``: the same as the ``ching`` console script."""

from ching_async.cli import main

raise SystemExit(main())
