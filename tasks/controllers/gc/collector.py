"""The garbage collector: cascading deletion by ownerReferences, as Kubernetes' GC does it.

- An owner deleted in the Background (the default) is gone at once; its dependents are then
  collected: a dependent whose owners are all gone (no object with that uid) is deleted, one
  with another live owner only loses the dead reference.
- An owner deleted with the ``orphan`` finalizer (propagationPolicy Orphan) has its uid removed
  from every dependent's ownerReferences, then loses the finalizer (and so is deleted).
- An owner deleted with ``foregroundDeletion`` has its dependents deleted (in the foreground
  themselves when they have blocking dependents), and loses the finalizer once no dependent
  with ``blockOwnerDeletion: true`` is left.

Nothing is deleted on an API error other than NotFound: the key backs off and runs again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from cluster import errors
from cluster.api.resources import STORED, Resource
from cluster.client.client import Client
from tasks.controllers.base import KeyedController
from tasks.controllers.gc.index import owned_by
from tasks.controllers.gc.keys import (
    FOREGROUND,
    GC_FINALIZERS,
    ORPHAN,
    change_keys,
    dependent_key,
    owner_key,
    parse,
    ref_resource,
)
from tasks.runtime.controller import Context, Requeue, Watch

Obj = dict[str, Any]
log = logging.getLogger("kubeq.controllers.gc")
FOREGROUND_POLL = 2.0  # seconds between looks at a foreground owner's dependents (events come first)
_CAS_RETRIES = 5


class Scan:
    """Lists of one batch of keys, by (resource, namespace), and owner uids known to be gone."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.lists: dict[tuple[str, str | None], list[Obj]] = {}
        self.gone: set[str] = set()  # a uid never comes back once its object is gone

    def items(self, resource: Resource, namespace: str | None) -> list[Obj]:
        key = (resource.qualified, namespace)
        if key not in self.lists:
            self.lists[key] = self.client.list(resource, namespace).get("items", [])
        return self.lists[key]

    def forget(self) -> None:
        """Drop the cached lists (after writes that changed them)."""
        self.lists.clear()

    def dependents(self, owner: Resource, namespace: str | None, uid: str) -> list[tuple[Resource, Obj]]:
        """Every object naming ``uid`` in its ownerReferences (same namespace for a namespaced owner)."""
        out = []
        for resource in STORED:
            if owner.namespaced and not resource.namespaced:
                continue
            for item in self.items(resource, namespace if owner.namespaced else None):
                if any(r.get("uid") == uid for r in item["metadata"].get("ownerReferences") or []):
                    out.append((resource, item))
        return out


class GarbageCollector(KeyedController):
    """Deletes dependents whose owners are gone; carries out Orphan and Foreground deletions."""

    name = "garbagecollector"
    batch_size = 20
    watches = tuple(Watch(r.qualified, change_keys) for r in STORED)

    def sync_batch(self, keys: list[str], ctx: Context) -> dict[str, BaseException | float | None]:
        scan = Scan(ctx.client)
        out: dict[str, BaseException | float | None] = {}
        for key in keys:
            try:
                out[key] = self._sync(key, ctx, scan)
            except Requeue as again:
                out[key] = again.after
            except Exception as exc:
                log.warning("garbagecollector: sync %s failed: %s", key, exc)
                out[key] = exc
        return out

    def sync(self, key: str, ctx: Context) -> float | None:
        return self._sync(key, ctx, Scan(ctx.client))

    def resync_keys(self, ctx: Context) -> Iterable[str]:
        """Every object with ownerReferences, and every owner held by a GC finalizer."""
        keys: list[str] = []
        for resource in STORED:
            for item in ctx.client.list(resource).get("items", []):
                md = item["metadata"]
                if md.get("ownerReferences"):
                    keys.append(dependent_key(resource, md.get("namespace"), md["name"]))
                if md.get("deletionTimestamp") and set(md.get("finalizers") or ()) & set(GC_FINALIZERS):
                    keys.append(owner_key(resource, md.get("namespace"), md["name"], md["uid"]))
        return keys

    # ---- owners ------------------------------------------------------------------------------
    def _sync(self, key: str, ctx: Context, scan: Scan) -> float | None:
        k = parse(key)
        if k.kind == "dependent":
            self._attend(ctx, k.resource, k.namespace, k.name, scan)
            return None
        owner = _get(ctx.client, k.resource, k.namespace, k.name)
        if owner is None or owner["metadata"].get("uid") != k.uid:
            scan.gone.add(k.uid)
            found = owned_by(ctx, k.resource, k.namespace, k.uid)
            if found is None:  # the index is still filling: list every kind
                found = [
                    (resource, dep["metadata"].get("namespace"), dep["metadata"]["name"])
                    for resource, dep in scan.dependents(k.resource, k.namespace, k.uid)
                ]
            for resource, namespace, name in found:
                self._attend(ctx, resource, namespace, name, scan)
            return None
        md = owner["metadata"]
        finalizers = md.get("finalizers") or []
        if not md.get("deletionTimestamp"):
            return None
        if ORPHAN in finalizers:
            self._orphan(ctx, k.resource, owner, scan)
            return None
        if FOREGROUND in finalizers:
            return self._foreground(ctx, k.resource, owner, scan)
        return None

    def _orphan(self, ctx: Context, resource: Resource, owner: Obj, scan: Scan) -> None:
        """Strip the owner from its dependents, then let it go."""
        md = owner["metadata"]
        for dep_resource, dep in scan.dependents(resource, md.get("namespace"), md["uid"]):
            _edit_refs(ctx.client, dep_resource, dep, {md["uid"]})
        scan.forget()
        _remove_finalizer(ctx.client, resource, owner, ORPHAN)

    def _foreground(self, ctx: Context, resource: Resource, owner: Obj, scan: Scan) -> float | None:
        """Delete the dependents; release the owner once no blocking dependent is left."""
        md = owner["metadata"]
        uid = md["uid"]
        deps = scan.dependents(resource, md.get("namespace"), uid)
        blocking = [d for _, d in deps if _blocks(d, uid)]
        for dep_resource, dep in deps:
            if dep["metadata"].get("deletionTimestamp"):
                continue
            dep_uid = dep["metadata"]["uid"]
            dep_ns = dep["metadata"].get("namespace")
            has_own = any(_blocks(d, dep_uid) for _, d in scan.dependents(dep_resource, dep_ns, dep_uid))
            _delete(ctx.client, dep_resource, dep, "Foreground" if has_own else "Background")
        if deps:
            scan.forget()
        if blocking:
            return FOREGROUND_POLL
        _remove_finalizer(ctx.client, resource, owner, FOREGROUND)
        return None

    # ---- dependents --------------------------------------------------------------------------
    def _attend(self, ctx: Context, resource: Resource, namespace: str | None, name: str, scan: Scan) -> None:
        """Check a dependent's owners: delete it when none is left alive, drop references to dead ones."""
        dep = _get(ctx.client, resource, namespace, name)
        if dep is None or dep["metadata"].get("deletionTimestamp"):
            return
        refs = dep["metadata"].get("ownerReferences") or []
        solid, dangling, waiting = [], set(), []
        for ref in refs:
            state = self._owner_state(ctx, resource, namespace, ref, scan)
            if state == "dangling":
                dangling.add(ref.get("uid"))
            elif state == "waiting":
                waiting.append(ref)
            else:
                solid.append(ref)
        if solid:
            if dangling:
                _edit_refs(ctx.client, resource, dep, dangling)
                scan.forget()
            return
        if dangling or waiting:
            _delete(ctx.client, resource, dep, "Foreground" if waiting else "Background")
            scan.forget()

    def _owner_state(
        self, ctx: Context, dep_resource: Resource, namespace: str | None, ref: Obj, scan: Scan
    ) -> str:
        """ "dangling" (no object has the uid), "waiting" (foreground deletion) or "solid"."""
        uid = ref.get("uid", "")
        if uid in scan.gone:
            return "dangling"
        resource = ref_resource(ref)
        if resource is None or (resource.namespaced and not dep_resource.namespaced):
            return "solid"  # cannot tell: never delete on a guess
        owner = _get(ctx.client, resource, namespace if resource.namespaced else None, ref.get("name", ""))
        if owner is None or owner["metadata"].get("uid") != uid:
            scan.gone.add(uid)
            return "dangling"
        md = owner["metadata"]
        if md.get("deletionTimestamp") and FOREGROUND in (md.get("finalizers") or []):
            return "waiting"
        return "solid"


# ---- API helpers -------------------------------------------------------------------------------
def _get(client: Client, resource: Resource, namespace: str | None, name: str) -> Obj | None:
    try:
        return client.get(resource, name, namespace)
    except errors.NotFound:
        return None


def _blocks(dep: Obj, uid: str) -> bool:
    return any(
        r.get("uid") == uid and r.get("blockOwnerDeletion")
        for r in dep["metadata"].get("ownerReferences") or []
    )


def _delete(client: Client, resource: Resource, obj: Obj, policy: str) -> None:
    """Delete ``obj`` (that very uid) with ``policy``; gone or replaced already is fine."""
    md = obj["metadata"]
    body = {
        "kind": "DeleteOptions",
        "apiVersion": "v1",
        "propagationPolicy": policy,
        "preconditions": {"uid": md["uid"]},
    }
    try:
        client.request("DELETE", client.path(resource, md.get("namespace"), md["name"]), body)
        log.info(
            "garbagecollector: deleted %s %s/%s (%s)",
            resource.qualified,
            md.get("namespace"),
            md["name"],
            policy,
        )
    except (errors.NotFound, errors.Conflict):
        pass


def _patch_meta(client: Client, resource: Resource, obj: Obj, change: Obj) -> Obj | None:
    """Merge-patch ``metadata`` pinned to ``obj``'s resourceVersion; None if the object is gone."""
    md = obj["metadata"]
    body = {"metadata": {"resourceVersion": md["resourceVersion"], **change}}
    try:
        return client.patch(resource, md["name"], body, md.get("namespace"))
    except errors.NotFound:
        return None


def _edit_list(client: Client, resource: Resource, obj: Obj, field: str, drop: Callable[[Any], bool]) -> None:
    """Remove the items ``drop`` picks from the metadata list ``field`` of ``obj`` (re-reading on
    conflicts; nothing to do once none is left or the object is gone or replaced)."""
    for _ in range(_CAS_RETRIES):
        items = obj["metadata"].get(field) or []
        kept = [item for item in items if not drop(item)]
        if len(kept) == len(items):
            return
        try:
            _patch_meta(client, resource, obj, {field: kept or None})
            return
        except errors.Conflict:
            fresh = _get(client, resource, obj["metadata"].get("namespace"), obj["metadata"]["name"])
            if fresh is None or fresh["metadata"]["uid"] != obj["metadata"]["uid"]:
                return
            obj = fresh
    raise errors.Conflict(f"could not update the {field} of {resource.qualified} {obj['metadata']['name']}")


def _edit_refs(client: Client, resource: Resource, obj: Obj, uids: set[str]) -> None:
    """Remove the ownerReferences to ``uids`` from ``obj``."""
    _edit_list(client, resource, obj, "ownerReferences", lambda ref: ref.get("uid") in uids)


def _remove_finalizer(client: Client, resource: Resource, obj: Obj, finalizer: str) -> None:
    """Remove ``finalizer`` from ``obj`` (the registry deletes it when it was the last one)."""
    _edit_list(client, resource, obj, "finalizers", lambda name: name == finalizer)
