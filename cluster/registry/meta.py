"""Object metadata helpers shared by the registry: time, names, generation, the spec/status split."""

from __future__ import annotations

import copy
import datetime as dt
import secrets
from typing import Any

_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # Kubernetes' generateName suffix alphabet
# Metadata fields the server owns: clients cannot set or change them by update.
SYSTEM_FIELDS = (
    "uid",
    "creationTimestamp",
    "generation",
    "resourceVersion",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "selfLink",
)


def now() -> str:
    """The current time in RFC 3339 with second precision, as Kubernetes writes it."""
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def now_micro() -> str:
    """The current time with microseconds (``MicroTime``)."""
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def generated_name(prefix: str) -> str:
    """``prefix`` plus five random characters, as ``metadata.generateName`` asks."""
    return prefix + "".join(secrets.choice(_NAME_ALPHABET) for _ in range(5))


def metadata(obj: dict[str, Any]) -> dict[str, Any]:
    """The object's ``metadata`` map, created if absent."""
    md = obj.get("metadata")
    if not isinstance(md, dict):
        md = obj["metadata"] = {}
    return md


def desired_state(obj: dict[str, Any]) -> dict[str, Any]:
    """Everything but ``metadata``, ``status``, ``kind`` and ``apiVersion``: what bumps ``generation``."""
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "kind", "apiVersion")}


def keep_system_fields(new: dict[str, Any], old: dict[str, Any]) -> None:
    """Copy the server-owned metadata of ``old`` onto ``new`` (in place)."""
    new_md, old_md = metadata(new), old.get("metadata", {})
    for key in SYSTEM_FIELDS:
        if key == "resourceVersion":
            continue
        if key in old_md:
            new_md[key] = old_md[key]
        else:
            new_md.pop(key, None)


def bump_generation(new: dict[str, Any], old: dict[str, Any]) -> None:
    """Increase ``metadata.generation`` when the desired state changed."""
    if desired_state(new) != desired_state(old):
        md = metadata(new)
        md["generation"] = int(old.get("metadata", {}).get("generation", 1)) + 1


def status_only(new: dict[str, Any], old: dict[str, Any]) -> dict[str, Any]:
    """The object a ``/status`` write leaves: ``old`` with ``new``'s status (and nothing else)."""
    out = copy.deepcopy(old)
    if "status" in new:
        out["status"] = copy.deepcopy(new["status"])
    else:
        out.pop("status", None)
    if "resourceVersion" in new.get("metadata", {}):
        out["metadata"]["resourceVersion"] = new["metadata"]["resourceVersion"]
    if new.get("metadata", {}).get("managedFields"):  # the writer's entry (subresource status)
        out["metadata"]["managedFields"] = copy.deepcopy(new["metadata"]["managedFields"])
    return out


def keep_status(new: dict[str, Any], old: dict[str, Any]) -> None:
    """A write to the main resource cannot change status: restore ``old``'s (in place)."""
    if "status" in old:
        new["status"] = copy.deepcopy(old["status"])
    else:
        new.pop("status", None)
