"""Which objects name an owner: the garbage collector's watch-fed index of owner references.

Kubernetes' collector keeps a graph of ownerReferences built from informers rather than listing
every kind each time an owner goes. Here one view per stored kind holds, for each object that has
owner references, just their uids (``tasks/runtime/informer.py``). The index lags the store by one
watch delivery, so it only names candidates: each one is then read and judged consistently
(``GarbageCollector._attend``), and a dependent the index had not seen yet was just written, so its
own change queues its own check.
"""

from __future__ import annotations

from typing import Any

from cluster.api.resources import STORED, Resource
from tasks.runtime.controller import Context
from tasks.runtime.informer import SYNC_TIMEOUT, informer

Obj = dict[str, Any]


def owner_uids(obj: Obj) -> frozenset[str] | None:
    """The uids ``obj`` names as owners (None when it names none: nothing is held for it)."""
    uids = frozenset(r["uid"] for r in obj["metadata"].get("ownerReferences") or () if r.get("uid"))
    return uids or None


def owned_by(
    ctx: Context, owner: Resource, namespace: str | None, uid: str
) -> list[tuple[Resource, str | None, str]] | None:
    """(resource, namespace, name) of every object that named ``uid`` as an owner when last seen
    (in ``namespace`` for a namespaced owner); None while the index is still filling."""
    views = [
        (resource, informer(ctx, resource, owner_uids, tag="owners"))
        for resource in STORED
        if resource.namespaced or not owner.namespaced
    ]
    if not all(view.synced.wait(SYNC_TIMEOUT) for _, view in views):
        return None
    where = namespace if owner.namespaced else None
    return [
        (resource, ns or None, name)
        for resource, view in views
        for ns, name, uids in view.items(where)
        if uid in uids
    ]
