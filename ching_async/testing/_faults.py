"""Scriptable, seeded fault injection per HTTP method and route template."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from enum import StrEnum
from http import HTTPStatus

import orjson

from ._envelope import Reply

API_PREFIXES = ("/ching/v1", "/v1")


class FaultKind(StrEnum):
    """What a ``Fault`` does; each has a factory method on ``Fault`` of the same name."""

    STATUS = "status"
    HTML = "html"
    RATE_LIMITED = "rate_limited"
    LATENCY = "latency"
    RESET_BEFORE = "reset_before"
    COMMIT_THEN_DROP = "commit_then_drop"
    COMMIT_THEN_DELAY = "commit_then_delay"
    STATUS_THEN_COMMIT = "status_then_commit"
    HTML_THEN_COMMIT = "html_then_commit"


# Answered at once, committed `seconds` later in the background.
LATE_COMMIT_KINDS = frozenset({FaultKind.STATUS_THEN_COMMIT, FaultKind.HTML_THEN_COMMIT})

# Faults after which the request is still processed (state is mutated).
_PROCESSING_KINDS = (
    frozenset({FaultKind.LATENCY, FaultKind.COMMIT_THEN_DROP, FaultKind.COMMIT_THEN_DELAY})
    | LATE_COMMIT_KINDS
)

_NGINX_PAGE = (
    "<html>\r\n<head><title>{status} {phrase}</title></head>\r\n<body>\r\n"
    "<center><h1>{status} {phrase}</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)


@dataclass(frozen=True, slots=True)
class Fault:
    """What goes wrong. Build with the factory methods, e.g. ``Fault.status(503)``."""

    kind: FaultKind
    http_status: int | None = None
    code: str | None = None
    message: str | None = None
    seconds: float = 0.0
    retry_after: float | None = None

    @classmethod
    def status(cls, status: int, *, code: str | None = None, message: str | None = None) -> Fault:
        """Answer ``status`` with the API's error envelope, without processing."""
        return cls(FaultKind.STATUS, http_status=_http_status(status), code=code, message=message)

    @classmethod
    def html(cls, status: int = 502) -> Fault:
        """Answer an nginx-style HTML error page, as a proxy in front of the API would."""
        return cls(FaultKind.HTML, http_status=_http_status(status))

    @classmethod
    def rate_limited(cls, retry_after: float | None = 1) -> Fault:
        """429 envelope with a ``Retry-After`` header (omitted when ``None``)."""
        return cls(FaultKind.RATE_LIMITED, http_status=429, retry_after=retry_after)

    @classmethod
    def latency(cls, seconds: float) -> Fault:
        """Wait ``seconds``, then process and answer normally.

        A client that gives up first (its timeout is shorter than ``seconds``) does
        not stop the request: the fake still commits it after ``seconds``, as a
        server that was merely slow would.
        """
        return cls(FaultKind.LATENCY, seconds=_duration(seconds))

    @classmethod
    def reset_before(cls) -> Fault:
        """Reset the connection (TCP RST) without processing the request."""
        return cls(FaultKind.RESET_BEFORE)

    @classmethod
    def commit_then_drop(cls) -> Fault:
        """Process (commit) the request, then close the connection without answering."""
        return cls(FaultKind.COMMIT_THEN_DROP)

    @classmethod
    def commit_then_delay(cls, seconds: float) -> Fault:
        """Process (commit) the request, then answer only after ``seconds``."""
        return cls(FaultKind.COMMIT_THEN_DELAY, seconds=_duration(seconds))

    @classmethod
    def status_then_commit(
        cls, status: int, seconds: float, *, code: str | None = None, message: str | None = None
    ) -> Fault:
        """Answer ``status`` (400-599) with the API's error envelope at once, then commit
        the request ``seconds`` later in the background.

        A server that failed its answer but finished the work anyway: the client has
        already seen the error when the charge appears. The request log records the
        request when it commits, with the committed status. ``FakeChing.close()``
        commits what is still pending at once instead of waiting.
        """
        return cls(
            FaultKind.STATUS_THEN_COMMIT,
            http_status=_error_status(status),
            code=code,
            message=message,
            seconds=_duration(seconds),
        )

    @classmethod
    def html_then_commit(cls, status: int, seconds: float) -> Fault:
        """Answer a proxy's HTML error page (e.g. a gateway's 504) at once, then commit
        the request ``seconds`` later in the background, as ``status_then_commit``.
        """
        return cls(
            FaultKind.HTML_THEN_COMMIT,
            http_status=_error_status(status),
            seconds=_duration(seconds),
        )

    @property
    def commits_late(self) -> bool:
        """Answered at once, committed ``seconds`` later (``*_then_commit``)."""
        return self.kind in LATE_COMMIT_KINDS

    @property
    def processes_request(self) -> bool:
        """Whether the request still takes effect (latency, the commit kinds)."""
        return self.kind in _PROCESSING_KINDS

    def reply(self) -> Reply:
        """The canned answer of status-like faults."""
        status = self.http_status or 500
        if self.kind in (FaultKind.HTML, FaultKind.HTML_THEN_COMMIT):
            phrase = HTTPStatus(status).phrase
            page = _NGINX_PAGE.format(status=status, phrase=phrase)
            return Reply(status, page.encode(), content_type="text/html")
        error = {
            "status": status,
            "code": self.code or HTTPStatus(status).name,
            "message": self.message or HTTPStatus(status).phrase,
        }
        body = orjson.dumps({"success": False, "error": error})
        return Reply(status, body, headers=self._retry_after_header())

    def _retry_after_header(self) -> dict[str, str]:
        if self.retry_after is None:
            return {}
        value = self.retry_after
        return {"Retry-After": str(int(value)) if float(value).is_integer() else str(value)}


def _http_status(status: int) -> int:
    return HTTPStatus(status).value  # ValueError early for codes HTTPStatus cannot name


def _error_status(status: int) -> int:
    # HTTPStatus(504.0) and HTTPStatus(True)-like values would slip through by equality.
    if isinstance(status, bool) or not isinstance(status, int):
        raise TypeError(f"status must be an int, got {type(status).__name__}")
    if not 400 <= status <= 599:
        raise ValueError(f"status must be an error status (400-599), got {status}")
    return _http_status(status)


def _duration(seconds: float) -> float:
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        raise TypeError(f"seconds must be a number, got {type(seconds).__name__}")
    # NaN passes `< 0` (it compares False to everything) and inf never ends: both hang.
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"seconds must be a finite number >= 0, got {seconds}")
    return seconds


def _normalize_path(path: str | None) -> str | None:
    """Accept ``/charges`` as well as ``/ching/v1/charges``."""
    if path is None:
        return None
    for prefix in API_PREFIXES:
        if path.startswith(prefix + "/"):
            return path[len(prefix) :]
    return path if path.startswith("/") else "/" + path


@dataclass(slots=True)
class FaultRule:
    """A fault for matching requests: applies with probability ``rate``, ``times`` times."""

    fault: Fault
    method: str | None = None  # None matches every method
    path: str | None = None  # route template relative to the base, or a concrete path
    rate: float = 1.0
    times: int | None = None  # remaining applications; None = unlimited
    applied: int = 0

    @property
    def active(self) -> bool:
        """False once the rule has applied ``times`` times."""
        return self.times is None or self.times > 0

    def matches(self, method: str, route: str | None, path: str) -> bool:
        """Whether a request to ``path`` (of the route template ``route``) is one of the rule's."""
        if self.method is not None and self.method != method:
            return False
        return self.path is None or self.path in (route, path)

    def consume(self) -> Fault:
        """Count one application and return the fault."""
        self.applied += 1
        if self.times is not None:
            self.times -= 1
        return self.fault


class FaultSet:
    """The fault script of one fake.

    One random number is drawn per matching request and walked across the cumulative
    rates of the matching rules (in insertion order), so ``10% X, 10% Y, 5% Z`` on one
    route means exactly that; rules with ``rate=1`` and ``times=1`` run as a sequence.

    Safe to change from the test's thread while the fake serves from its own
    (``start_in_thread``): each change is one list operation and ``draw`` reads a
    snapshot of the list.
    """

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._rules: list[FaultRule] = []

    def add(
        self,
        fault: Fault,
        *,
        method: str | None = None,
        path: str | None = None,
        rate: float = 1.0,
        times: int | None = None,
    ) -> FaultRule:
        """Apply ``fault`` to matching requests (``method``; ``path``, a route template
        such as ``/charges/{id}/capture`` or a concrete path; None matches any) with
        probability ``rate``, at most ``times`` times (None: no limit)."""
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"rate must be within [0, 1], got {rate}")
        if times is not None and times < 1:
            raise ValueError(f"times must be >= 1 or None, got {times}")
        upper = None if method is None or method == "*" else method.upper()
        rule = FaultRule(fault, upper, _normalize_path(path), rate, times)
        self._rules.append(rule)
        return rule

    def remove(self, rule: FaultRule) -> None:
        """Drop a rule ``add`` returned."""
        self._rules.remove(rule)

    def clear(self) -> None:
        """Drop every rule."""
        self._rules.clear()

    @property
    def rules(self) -> tuple[FaultRule, ...]:
        """The rules, in the order they were added."""
        return tuple(self._rules)

    def draw(self, method: str, route: str | None, path: str) -> Fault | None:
        """The fault for one request, if the draw picks one (the rule is consumed)."""
        candidates = [r for r in self._rules if r.active and r.matches(method, route, path)]
        if not candidates:
            return None
        point = self._rng.random()
        cumulative = 0.0
        for rule in candidates:
            cumulative += rule.rate
            if point < cumulative:
                return rule.consume()
        return None
