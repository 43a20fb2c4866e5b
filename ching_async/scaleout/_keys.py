"""Where a scaled-out job lives in Redis, and which shard an item belongs to.

Key layout (the braces are literal: a Redis Cluster hash tag that keeps one
job's keys in one slot, so the Lua scripts may touch several of them):

    ching:job:{<job_id>}:meta                 hash   the job: status, items, shards, options
    ching:job:{<job_id>}:shard:<n>:items      list   the shard's items, JSON, in job order
    ching:job:{<job_id>}:shard:<n>:state      hash   status, owner, worker, heartbeat, runs
    ching:job:{<job_id>}:shard:<n>:results    hash   global index -> result JSON
    ching:job:{<job_id>}:shard:<n>:counts     hash   outcome -> count, amount:<currency> -> agorot
    ching:job:{<job_id>}:shard:<n>:open       set    global indexes that may have been sent
                                                     and have no final result yet

Every key expires `ttl` after the job's last enqueue (7 days by default); the
workers refresh the expiry of what they write.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

__all__ = ["DEFAULT_QUEUE", "JobKeys", "arq_job_id", "shard_of"]

DEFAULT_QUEUE = "ching:queue"
"""The arq queue the shards go to and the workers read."""
SHARD_FUNCTION = "ching_charge_shard"


def shard_of(customer: str, shards: int) -> int:
    """The shard of every item of `customer`: blake2b of the id, modulo `shards`.

    Stable across processes, machines and Python versions (unlike ``hash()``,
    which is salted per process), so all of one customer's items always land
    in the same shard.
    """
    digest = hashlib.blake2b(customer.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % shards


def arq_job_id(job_id: str, shard: int) -> str:
    """The arq job id of one shard: deterministic, so a shard is never queued twice."""
    return f"ching:{job_id}:shard:{shard}"


SHARD_PARTS = ("items", "state", "results", "counts", "open")


def _shard_key(part: str) -> Callable[[JobKeys, int], str]:
    def key(self: JobKeys, n: int) -> str:
        return f"{self.shard(n)}:{part}"

    key.__name__ = part
    key.__qualname__ = f"JobKeys.{part}"
    key.__doc__ = f"The `{part}` key of shard `n`."
    return key


class JobKeys:
    """The Redis keys of one job."""

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        self.base = f"ching:job:{{{job_id}}}"
        self.meta = f"{self.base}:meta"

    def shard(self, n: int) -> str:
        """The prefix of shard `n`'s keys."""
        return f"{self.base}:shard:{n}"

    # One method per key of a shard (SHARD_PARTS, all of which `of_shard`
    # lists for expiry and deletion).
    items = _shard_key("items")
    state = _shard_key("state")
    results = _shard_key("results")
    counts = _shard_key("counts")
    open = _shard_key("open")

    def of_shard(self, n: int) -> list[str]:
        """Every key of shard `n`."""
        return [f"{self.shard(n)}:{part}" for part in SHARD_PARTS]
