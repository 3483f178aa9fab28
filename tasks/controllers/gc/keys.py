"""The garbage collector's work-queue keys and the watch mapper that produces them.

Two kinds of keys:

- ``owner:<resource>:<namespace>:<name>:<uid>``: an object that is gone (its dependents may now
  be dangling) or being deleted with the ``orphan`` / ``foregroundDeletion`` finalizer, or the
  owner of a blocking dependent that just went away (a foreground owner may be done waiting);
- ``dependent:<resource>:<namespace>:<name>``: an object whose ownerReferences are new or changed
  (its owners must exist, by uid).

``<resource>`` is the qualified plural (``replicasets.apps``); ``<namespace>`` is empty for
cluster-scoped objects.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cluster.api.resources import STORED, Resource, by_kind
from tasks.runtime.controller import Change

Obj = dict[str, Any]
ORPHAN = "orphan"
FOREGROUND = "foregroundDeletion"
GC_FINALIZERS = (ORPHAN, FOREGROUND)
BY_QUALIFIED: dict[str, Resource] = {r.qualified: r for r in STORED}
# Kinds nobody names as an owner: their (frequent) deletions need no owner sync.
NEVER_OWNERS = frozenset({"events", "events.events.k8s.io"})


@dataclass(frozen=True)
class Key:
    """A parsed key: ``kind`` is "owner" or "dependent"; ``uid`` is set for owners only."""

    kind: str
    resource: Resource
    namespace: str | None
    name: str
    uid: str = ""


def owner_key(resource: Resource, namespace: str | None, name: str, uid: str) -> str:
    return f"owner:{resource.qualified}:{namespace or ''}:{name}:{uid}"


def dependent_key(resource: Resource, namespace: str | None, name: str) -> str:
    return f"dependent:{resource.qualified}:{namespace or ''}:{name}"


def parse(key: str) -> Key:
    """The parts of a key; ``ValueError`` if it is not one of ours."""
    parts = key.split(":")
    if parts[0] == "owner" and len(parts) == 5:
        kind, qualified, namespace, name, uid = parts
    elif parts[0] == "dependent" and len(parts) == 4:
        (kind, qualified, namespace, name), uid = parts, ""
    else:
        raise ValueError(f"not a garbage collector key: {key!r}")
    resource = BY_QUALIFIED.get(qualified)
    if resource is None:
        raise ValueError(f"unknown resource in key {key!r}")
    return Key(kind, resource, namespace or None, name, uid)


def ref_resource(ref: Obj) -> Resource | None:
    """The served resource an ownerReference points at, or None for a kind kubeq does not serve."""
    return by_kind(str(ref.get("apiVersion", "")), str(ref.get("kind", "")))


def ref_owner_key(ref: Obj, dependent_namespace: str | None) -> str | None:
    """The owner key of an ownerReference seen on an object in ``dependent_namespace``."""
    resource = ref_resource(ref)
    if resource is None or not ref.get("uid") or not ref.get("name"):
        return None
    namespace = dependent_namespace if resource.namespaced else None
    return owner_key(resource, namespace, ref["name"], ref["uid"])


def change_keys(change: Change) -> list[str]:
    """The keys one change concerns (see the module docstring)."""
    resource = BY_QUALIFIED.get(change.resource)
    md = change.object.get("metadata") or {}
    if resource is None or not md.get("name"):
        return []
    namespace = md.get("namespace") or None
    out: list[str] = []
    if change.type == "DELETED":
        if resource.qualified not in NEVER_OWNERS:
            out.append(owner_key(resource, namespace, md["name"], md.get("uid", "")))
    elif md.get("deletionTimestamp") and set(md.get("finalizers") or ()) & set(GC_FINALIZERS):
        out.append(owner_key(resource, namespace, md["name"], md.get("uid", "")))
    refs = md.get("ownerReferences") or []
    if not refs:
        return out
    prev_md = (change.prev or {}).get("metadata") or {}
    if change.type == "ADDED" or (
        change.type == "MODIFIED" and (change.prev is None or prev_md.get("ownerReferences") != refs)
    ):
        out.append(dependent_key(resource, namespace, md["name"]))
    if change.type == "DELETED":  # an owner waiting in the foreground may be free to go now
        for ref in refs:
            key = ref_owner_key(ref, namespace) if ref.get("blockOwnerDeletion") else None
            if key:
                out.append(key)
    return out
