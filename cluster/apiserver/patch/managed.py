"""``metadata.managedFields``: who owns which fields, and how non-apply writes change that.

``record_update_manager`` is the bookkeeping for create/update/patch with a ``fieldManager``:
the fields the write changed become owned by ``(manager, operation)`` and leave every other
manager's set, so that a later apply by someone else that wants different values conflicts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from cluster.api import schema
from cluster.apiserver.patch import fieldpath
from cluster.apiserver.patch.fieldpath import Path


@dataclass
class Manager:
    """One ``managedFields`` entry, with its field set decoded."""

    manager: str
    operation: str
    api_version: str
    subresource: str = ""
    time: str | None = None
    fields: set[Path] = field(default_factory=set)

    def ident(self) -> tuple[str, str, str, str]:
        """Kubernetes' identity of an entry: appliers are one entry whatever apiVersion they use."""
        version = "" if self.operation == "Apply" else self.api_version
        return self.manager, self.operation, version, self.subresource

    def describe(self) -> str:
        """How conflict messages name this manager: ``"kubectl-edit" using apps/v1``."""
        text = json.dumps(self.manager)
        if self.subresource:
            text += f" with subresource {json.dumps(self.subresource)}"
        if self.operation == "Update":
            text += f" using {self.api_version}"
        return text

    def to_entry(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"manager": self.manager, "operation": self.operation}
        entry["apiVersion"] = self.api_version
        if self.time:
            entry["time"] = self.time
        entry["fieldsType"] = "FieldsV1"
        entry["fieldsV1"] = fieldpath.encode(self.fields)
        if self.subresource:
            entry["subresource"] = self.subresource
        return entry


def node_for(schema_name: str) -> fieldpath.Node:
    """The schema of ``schema_name``, or None (everything granular/atomic by shape) if unknown."""
    try:
        return schema.definition(schema_name)
    except KeyError:
        return None


def decode_managers(entries: Any) -> list[Manager]:
    """The managers recorded in a ``managedFields`` list; malformed entries are dropped."""
    managers: list[Manager] = []
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict) or not isinstance(entry.get("manager"), str):
            continue
        try:
            fields = fieldpath.decode(entry.get("fieldsV1") or {})
        except ValueError:
            continue
        managers.append(
            Manager(
                manager=entry["manager"],
                operation=str(entry.get("operation") or "Update"),
                api_version=str(entry.get("apiVersion") or ""),
                subresource=str(entry.get("subresource") or ""),
                time=entry.get("time"),
                fields=fields,
            )
        )
    return managers


def find(managers: list[Manager], wanted: Manager) -> Manager:
    """The entry of ``managers`` with ``wanted``'s identity, added if missing."""
    for existing in managers:
        if existing.ident() == wanted.ident():
            existing.api_version = wanted.api_version
            return existing
    managers.append(wanted)
    return wanted


def store(obj: dict, managers: list[Manager]) -> None:
    """Write ``managers`` (non-empty ones, in Kubernetes' order) to ``obj.metadata.managedFields``."""
    kept = [m for m in managers if m.fields]
    kept.sort(key=lambda m: (m.operation, m.time or "", m.manager, m.api_version, m.subresource))
    meta = obj.get("metadata")
    if not isinstance(meta, dict):  # absent or null
        meta = obj["metadata"] = {}
    if kept:
        meta["managedFields"] = [m.to_entry() for m in kept]
    else:
        meta.pop("managedFields", None)


def paths_of(obj: dict | None, node: fieldpath.Node, strict: bool = False) -> dict:
    """``fieldpath.walk`` of an object, without ``metadata.managedFields`` and server-owned fields."""
    walked = fieldpath.walk(obj or {}, node, strict)
    keep = fieldpath.strip(set(walked))
    return {p: walked[p] for p in keep}


def record_update_manager(
    old: dict | None,
    new: dict,
    manager: str,
    operation: str,
    now: str,
    api_version: str,
    schema_name: str,
    subresource: str = "",
) -> None:
    """Record in ``new["metadata"]["managedFields"]`` what this write changed as owned by
    ``(manager, operation)``, taking those fields away from every other manager.

    ``old`` is the object before the write (None for a create). The managed fields start from
    those in ``new`` when the write set them, else from ``old``.
    """
    node = node_for(schema_name)
    entries = (new.get("metadata") or {}).get("managedFields")
    if entries is None and old:
        entries = (old.get("metadata") or {}).get("managedFields")
    managers = decode_managers(entries)
    new_paths = paths_of(new, node)
    modified, added, removed = fieldpath.compare(paths_of(old, node), new_paths)
    changed = {p for p in modified | added if new_paths[p][0] != fieldpath.STRUCT}
    for other in managers:
        other.fields -= changed | removed
    actor = find(managers, Manager(manager, operation, api_version, subresource))
    actor.fields = (actor.fields - removed) | changed
    if changed:
        actor.time = now
    store(new, managers)
