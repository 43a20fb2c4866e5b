"""The API envelope: ``{"success": true, "data": ...}`` / ``{"success": false, "error": ...}``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

JSON_CONTENT_TYPE = "application/json"

IssuePath = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class Issue:
    """One entry of ``error.issues``: which field is wrong and why."""

    path: IssuePath
    message: str

    def to_json(self) -> dict[str, Any]:
        """The issue as the API sends it."""
        return {"path": list(self.path), "message": self.message}


class FakeApiError(Exception):
    """An API error the fake answers with; also raised by helpers that mirror endpoints."""

    def __init__(self, status: int, code: str, message: str, issues: Sequence[Issue] = ()) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.issues = tuple(issues)

    def to_json(self) -> dict[str, Any]:
        """The API's error envelope for this error."""
        error: dict[str, Any] = {"status": self.status, "code": self.code, "message": self.message}
        if self.issues:
            error["issues"] = [issue.to_json() for issue in self.issues]
        return {"success": False, "error": error}

    def reply(self) -> Reply:
        """The HTTP answer: the status and the envelope."""
        return Reply(self.status, orjson.dumps(self.to_json()))


def not_found(kind: str, object_id: str) -> FakeApiError:
    return FakeApiError(404, "NOT_FOUND", f"No such {kind}: {object_id}")


def invalid_fields(issues: Sequence[Issue]) -> FakeApiError:
    summary = "; ".join(f"{'.'.join(map(str, i.path)) or 'body'}: {i.message}" for i in issues)
    return FakeApiError(422, "INVALID_FIELD", f"Invalid request: {summary}", issues)


@dataclass(frozen=True, slots=True)
class Reply:
    """A fully rendered HTTP answer, kept as bytes so it can be cached and replayed."""

    status: int
    body: bytes
    content_type: str = JSON_CONTENT_TYPE
    headers: Mapping[str, str] = field(default_factory=dict)


def success(data: Any) -> Reply:
    return Reply(200, orjson.dumps({"success": True, "data": data}))
