"""The one table of domain errors.

Each class carries its HTTP code and Kubernetes ``reason``; the API server turns any
``StatusError`` into a ``Status`` object in exactly one place (``apiserver/status.py``).
Lower layers raise these; nobody else builds error responses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Cause:
    """One entry of ``details.causes``: what is wrong and where."""

    reason: str
    message: str
    field: str = ""

    def to_dict(self) -> dict[str, str]:
        out = {"reason": self.reason, "message": self.message}
        if self.field:
            out["field"] = self.field
        return out


@dataclass
class StatusError(Exception):
    """Base class: an error that becomes a Kubernetes ``Status`` with ``code`` and ``reason``."""

    message: str
    name: str = ""
    group: str = ""
    kind: str = ""
    causes: list[Cause] = field(default_factory=list)
    current: dict[str, Any] | None = None  # the object as stored, for failed compares
    retry_after: int = 0

    code = 500
    reason = "InternalError"

    def __post_init__(self) -> None:
        Exception.__init__(self, self.message)

    def __str__(self) -> str:
        return self.message

    def details(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.name:
            out["name"] = self.name
        if self.group:
            out["group"] = self.group
        if self.kind:
            out["kind"] = self.kind
        if self.causes:
            out["causes"] = [c.to_dict() for c in self.causes]
        if self.retry_after:
            out["retryAfterSeconds"] = self.retry_after
        return out

    def to_status(self) -> dict[str, Any]:
        """The ``meta/v1 Status`` object for this error."""
        status: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        details = self.details()
        if details:
            status["details"] = details
        return status


class BadRequest(StatusError):
    code, reason = 400, "BadRequest"


class Unauthorized(StatusError):
    code, reason = 401, "Unauthorized"


class Forbidden(StatusError):
    code, reason = 403, "Forbidden"


class NotFound(StatusError):
    code, reason = 404, "NotFound"


class MethodNotAllowed(StatusError):
    code, reason = 405, "MethodNotAllowed"


class NotAcceptable(StatusError):
    code, reason = 406, "NotAcceptable"


class AlreadyExists(StatusError):
    code, reason = 409, "AlreadyExists"


class Conflict(StatusError):
    code, reason = 409, "Conflict"


class Gone(StatusError):
    """A watch from a compacted revision (reason ``Expired``)."""

    code, reason = 410, "Expired"


class ResourceExpired(StatusError):
    """An expired ``continue`` token on a list."""

    code, reason = 410, "Expired"


class TooLarge(StatusError):
    code, reason = 413, "RequestEntityTooLarge"


class UnsupportedMediaType(StatusError):
    code, reason = 415, "UnsupportedMediaType"


class Invalid(StatusError):
    code, reason = 422, "Invalid"


class TooManyRequests(StatusError):
    code, reason = 429, "TooManyRequests"


class InternalError(StatusError):
    code, reason = 500, "InternalError"


class ServiceUnavailable(StatusError):
    code, reason = 503, "ServiceUnavailable"


class Timeout(StatusError):
    """E.g. a list at a revision the store has not reached yet."""

    code, reason = 504, "Timeout"


def _split(qualified: str) -> tuple[str, str]:
    """``deployments.apps`` -> (``deployments``, ``apps``); ``pods`` -> (``pods``, ``""``)."""
    plural, _, group = qualified.partition(".")
    return plural, group


def not_found(qualified: str, name: str) -> NotFound:
    """``pods "x" not found`` / ``deployments.apps "x" not found``."""
    plural, group = _split(qualified)
    return NotFound(f'{qualified} "{name}" not found', name=name, group=group, kind=plural)


def already_exists(qualified: str, name: str) -> AlreadyExists:
    plural, group = _split(qualified)
    return AlreadyExists(f'{qualified} "{name}" already exists', name=name, group=group, kind=plural)


def conflict(qualified: str, name: str, current: dict[str, Any] | None = None) -> Conflict:
    """The optimistic-concurrency failure; ``current`` is the object as stored."""
    plural, group = _split(qualified)
    return Conflict(
        f'Operation cannot be fulfilled on {qualified} "{name}": the object has been modified; '
        "please apply your changes to the latest version and try again",
        name=name,
        group=group,
        kind=plural,
        current=current,
    )


def invalid(kind: str, group: str, name: str, causes: list[Cause]) -> Invalid:
    """``Deployment.apps "x" is invalid: spec.replicas: Invalid value: ...``."""
    qualified = f"{kind}.{group}" if group else kind
    summary = ", ".join(f"{c.field}: {c.message}" if c.field else c.message for c in causes)
    if len(causes) > 1:
        summary = "[" + summary + "]"
    return Invalid(
        f'{qualified} "{name}" is invalid: {summary}', name=name, group=group, kind=kind, causes=causes
    )
