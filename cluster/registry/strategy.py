"""Per-kind behaviour the generic registry cannot know: what status a new object starts with."""

from __future__ import annotations

from typing import Any

from cluster.api.resources import Resource

Obj = dict[str, Any]

# Kinds whose status a client may set on create (a node registers with its status).
_STATUS_KEPT_ON_CREATE = {"nodes"}


def prepare_for_create(resource: Resource, obj: Obj) -> None:
    """Drop a client-set status (in place); defaulting then fills the initial one (pod phase...)."""
    if resource.has_status and resource.plural not in _STATUS_KEPT_ON_CREATE:
        obj.pop("status", None)
    if resource.plural == "services":
        obj["status"] = {"loadBalancer": {}}
