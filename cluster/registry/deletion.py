"""Deletion with Kubernetes semantics: preconditions, finalizers, grace periods, propagation."""

from __future__ import annotations

import copy
import datetime as dt
from dataclasses import dataclass
from typing import Any

from cluster import errors
from cluster.api.resources import Resource
from cluster.registry.registry import Registry
from cluster.store import RV_PLACEHOLDER

Obj = dict[str, Any]
ORPHAN = "orphan"
FOREGROUND = "foregroundDeletion"
_POLICIES = ("Orphan", "Background", "Foreground")
_RETURNS_OBJECT = {"pods", "services", "namespaces"}
CAS_ATTEMPTS = 10  # reads and swaps one DELETE tries while other writers keep changing the object


@dataclass
class DeleteOptions:
    """The parts of a ``meta/v1 DeleteOptions`` body (or query) the registry honours."""

    propagation_policy: str | None = None
    grace_period_seconds: int | None = None
    uid: str | None = None
    resource_version: str | None = None
    dry_run: bool = False

    @classmethod
    def parse(cls, body: Obj | None, query: dict[str, str]) -> DeleteOptions:
        """From a DeleteOptions body and/or query parameters; ``BadRequest`` on bad values."""
        body = body or {}
        if not isinstance(body, dict):
            raise errors.BadRequest("DeleteOptions must be an object")
        pre = body.get("preconditions") or {}
        if not isinstance(pre, dict):
            raise errors.BadRequest("DeleteOptions.preconditions must be an object")
        policy = body.get("propagationPolicy") or query.get("propagationPolicy")
        if body.get("orphanDependents") is True or query.get("orphanDependents") == "true":
            policy = policy or "Orphan"
        if policy is not None and policy not in _POLICIES:
            raise errors.BadRequest(
                f'propagationPolicy: Unsupported value: "{policy}": supported values: "Foreground", '
                '"Background", "Orphan"'
            )
        grace = body.get("gracePeriodSeconds", query.get("gracePeriodSeconds"))
        try:
            grace = int(grace) if grace is not None else None
        except (TypeError, ValueError):
            raise errors.BadRequest(f"gracePeriodSeconds must be an integer, not {grace!r}") from None
        dry = body.get("dryRun") or ([query["dryRun"]] if query.get("dryRun") else [])
        if not isinstance(dry, list) or any(d != "All" for d in dry):
            raise errors.BadRequest(f'dryRun: Unsupported value: {dry!r}: supported values: "All"')
        return cls(policy, grace, pre.get("uid"), pre.get("resourceVersion"), "All" in dry)


IMMORTAL_NAMESPACES = frozenset(
    {"default", "kube-system", "kube-public"}
)  # as Kubernetes' lifecycle admission


def delete(
    registry: Registry, resource: Resource, namespace: str | None, name: str, opts: DeleteOptions
) -> tuple[Obj, bool]:
    """Delete an object. Returns ``(object, finished)``.

    ``finished`` is False when the object stays with a ``deletionTimestamp`` (finalizers, a
    Foreground/Orphan policy, or a pod's grace period on a node). ``Conflict`` if a precondition
    fails, ``NotFound`` if absent. A write by someone else between the read and the swap is not the
    caller's conflict: the deletion reads again and decides again, as Kubernetes' storage does.
    """
    if resource.qualified == "namespaces" and name in IMMORTAL_NAMESPACES:
        raise errors.Forbidden(
            f'namespaces "{name}" is forbidden: this namespace may not be deleted',
            name=name,
            kind="namespaces",
        )
    for _ in range(CAS_ATTEMPTS):
        try:
            return _delete_once(registry, resource, namespace, name, opts)
        except _Raced:
            continue  # written since it was read: read it again (and check the preconditions again)
    raise errors.Conflict(
        f"the object kept changing while it was being deleted ({CAS_ATTEMPTS} attempts); try again",
        name=name,
        kind=resource.plural,
        group=resource.group,
    )


class _Raced(Exception):
    """The object changed between the read and the compare-and-swap of one deletion attempt."""


def _delete_once(
    registry: Registry, resource: Resource, namespace: str | None, name: str, opts: DeleteOptions
) -> tuple[Obj, bool]:
    """One read-decide-swap round of ``delete``; ``_Raced`` when the swap finds a newer object."""
    store = registry.store
    key = resource.key(namespace, name)
    old = store.get(resource.qualified, key)
    md = old["metadata"]
    if opts.uid and opts.uid != md.get("uid"):
        raise errors.Conflict(
            f"Precondition failed: UID in precondition: {opts.uid}, UID in object meta: {md.get('uid')}",
            name=name,
            kind=resource.plural,
            group=resource.group,
        )
    if opts.resource_version and opts.resource_version != md.get("resourceVersion"):
        raise errors.Conflict(
            f"Precondition failed: ResourceVersion in precondition: {opts.resource_version}, "
            f"ResourceVersion in object meta: {md.get('resourceVersion')}",
            name=name,
            kind=resource.plural,
            group=resource.group,
        )
    finalizers = list(md.get("finalizers") or [])
    if resource.plural == "namespaces":
        finalizers_pending = bool(old.get("spec", {}).get("finalizers"))
    else:
        finalizers_pending = False
    finalizers = gc_finalizers(finalizers, opts.propagation_policy)
    grace = _grace(resource, old, opts)
    if not finalizers and not finalizers_pending and not grace:
        if opts.dry_run:
            return old, True
        try:
            deleted = store.delete(resource.qualified, key, int(md["resourceVersion"]))
        except errors.Conflict as exc:
            raise _Raced() from exc
        registry.after_delete(resource, deleted)
        return deleted, True
    new = _marked(old, finalizers, grace, resource)
    if opts.dry_run:
        return new, False
    if new == old:
        return old, False
    new["metadata"]["resourceVersion"] = RV_PLACEHOLDER
    try:
        return store.update(resource.qualified, key, new, int(md["resourceVersion"])), False
    except errors.Conflict as exc:
        raise _Raced() from exc


def returns_object(resource: Resource, finished: bool) -> bool:
    """Whether DELETE answers with the object (True) or a ``Status`` of success."""
    return not finished or resource.plural in _RETURNS_OBJECT


def success_status(resource: Resource, obj: Obj) -> Obj:
    md = obj.get("metadata", {})
    details = {"name": md.get("name", ""), "kind": resource.plural, "uid": md.get("uid", "")}
    if resource.group:
        details["group"] = resource.group
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details}


def _grace(resource: Resource, obj: Obj, opts: DeleteOptions) -> int:
    """Seconds a pod bound to a node gets to stop; 0 for everything else."""
    if resource.plural != "pods" or not obj.get("spec", {}).get("nodeName"):
        return 0
    if obj.get("status", {}).get("phase") in ("Succeeded", "Failed"):
        return 0
    if opts.grace_period_seconds is not None:
        return max(opts.grace_period_seconds, 0)
    return int(obj.get("spec", {}).get("terminationGracePeriodSeconds", 30))


def _marked(old: Obj, finalizers: list[str], grace: int, resource: Resource) -> Obj:
    new = copy.deepcopy(old)
    md = new["metadata"]
    if finalizers:
        md["finalizers"] = finalizers
    else:
        md.pop("finalizers", None)
    if not md.get("deletionTimestamp"):
        when = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=grace)
        md["deletionTimestamp"] = when.strftime("%Y-%m-%dT%H:%M:%SZ")
        md["deletionGracePeriodSeconds"] = grace
    elif grace < int(md.get("deletionGracePeriodSeconds", grace)):
        md["deletionGracePeriodSeconds"] = grace  # a shorter grace period may replace a longer one
    if resource.plural == "namespaces":
        new.setdefault("status", {})["phase"] = "Terminating"
    return new


def gc_finalizers(finalizers: list[str], policy: str | None) -> list[str]:
    """The finalizers an object being deleted with ``policy`` carries for the garbage collector.

    Orphan: ``orphan`` (the GC strips the owner from its dependents, then removes it). Foreground:
    ``foregroundDeletion`` (the GC deletes the dependents and removes it once no blocking one is
    left). Background: neither (the owner goes at once; the GC collects the dependents later).
    No policy keeps what the object already has.
    """
    if policy is None:
        return finalizers
    kept = [f for f in finalizers if f not in (ORPHAN, FOREGROUND)]
    if policy == "Orphan":
        kept.append(ORPHAN)
    elif policy == "Foreground":
        kept.append(FOREGROUND)
    return kept
