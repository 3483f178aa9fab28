"""The audit log: one JSON line (``audit.k8s.io/v1`` Event, level Metadata) per mutating request.

Writes, denied ones included (401, 403), are recorded with who asked (and whom they impersonated),
what they asked for (``objectRef``), where from, and the response code; never a body, a header
value other than the user agent, or a token. Each line goes out with one ``os.write`` on an
``O_APPEND`` descriptor, so the workers of one server can share the file without interleaving.
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cluster.apiserver.auth import UserInfo

MUTATING = frozenset({"create", "update", "patch", "delete", "deletecollection"})


def timestamp(when: datetime | None = None) -> str:
    """RFC 3339 with microseconds, UTC (``2026-01-02T03:04:05.123456Z``)."""
    return (when or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class ObjectRef:
    resource: str
    namespace: str = ""
    name: str = ""
    api_group: str = ""
    api_version: str = ""
    subresource: str = ""

    def to_wire(self) -> dict[str, str]:
        out = {
            "resource": self.resource,
            "namespace": self.namespace,
            "name": self.name,
            "apiGroup": self.api_group,
            "apiVersion": self.api_version,
            "subresource": self.subresource,
        }
        return {k: v for k, v in out.items() if v}


def source_ips(environ: dict[str, Any]) -> list[str]:
    """``X-Forwarded-For`` hops, then the peer address (Kubernetes' order)."""
    ips = [ip.strip() for ip in environ.get("HTTP_X_FORWARDED_FOR", "").split(",") if ip.strip()]
    remote = environ.get("REMOTE_ADDR", "")
    if remote and remote not in ips:
        ips.append(remote)
    return ips


def request_uri(environ: dict[str, Any]) -> str:
    query = environ.get("QUERY_STRING", "")
    return environ.get("PATH_INFO", "/") + (f"?{query}" if query else "")


class AuditLog:
    """An append-only JSON-lines sink (a path, or ``-`` for standard output)."""

    def __init__(self, path: str) -> None:
        self.path = path
        if path == "-":
            self._fd = sys.stdout.fileno()
        else:
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
            self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    def event(
        self,
        environ: dict[str, Any],
        verb: str,
        user: UserInfo | None,
        impersonated: UserInfo | None,
        ref: ObjectRef | None,
        code: int,
        received: datetime,
    ) -> dict[str, Any]:
        """The Event for one finished request (``user`` None: authentication failed)."""
        event: dict[str, Any] = {
            "kind": "Event",
            "apiVersion": "audit.k8s.io/v1",
            "level": "Metadata",
            "auditID": str(uuid.uuid4()),
            "stage": "ResponseComplete",
            "requestURI": request_uri(environ),
            "verb": verb,
            "user": user.to_wire() if user is not None else {},
            "sourceIPs": source_ips(environ),
            "userAgent": environ.get("HTTP_USER_AGENT", ""),
            "responseStatus": {"metadata": {}, "code": code},
            "requestReceivedTimestamp": timestamp(received),
            "stageTimestamp": timestamp(),
        }
        if impersonated is not None:
            event["impersonatedUser"] = impersonated.to_wire()
        if ref is not None:
            event["objectRef"] = ref.to_wire()
        return event

    def write(self, event: dict[str, Any]) -> None:
        """Append one line; a failing disk loses the line, never the request."""
        line = (json.dumps(event, separators=(",", ":")) + "\n").encode()
        try:
            os.write(self._fd, line)
        except OSError:
            pass

    def close(self) -> None:
        if self.path != "-":
            os.close(self._fd)
