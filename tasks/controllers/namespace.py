"""The Namespace controller: empties a namespace being deleted, then finalizes it.

A namespace with a ``deletionTimestamp`` (phase Terminating, held by the ``kubernetes`` entry of
``spec.finalizers``) has every object of every namespaced kind in it deleted. Its status
conditions say how far that got, with Kubernetes' types, reasons and messages. Once nothing is
left, the ``kubernetes`` finalizer is removed through ``namespaces/<name>/finalize`` and the
registry deletes the namespace (when no metadata finalizer holds it). While content remains
(pods stopping on their nodes, objects held by finalizers) the key runs again shortly.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from cluster import errors
from cluster.api.resources import STORED, Resource, lookup
from tasks.controllers.base import KeyedController
from tasks.runtime.controller import Context, Watch, own_key
from tasks.runtime.events import now_rfc3339

Obj = dict[str, Any]
NAMESPACES = lookup("", "v1", "namespaces")
FINALIZER = "kubernetes"
RECHECK = 1.0  # seconds between looks at a namespace whose content is still going away
CONTENT = tuple(r for r in STORED if r.namespaced)


def _terminating(change: Any) -> list[str]:
    return own_key(change) if change.object.get("metadata", {}).get("deletionTimestamp") else []


class NamespaceController(KeyedController):
    """Deletes the content of terminating namespaces and then the namespaces themselves."""

    name = "namespace"
    resource = NAMESPACES
    watches = (Watch("namespaces", _terminating),)

    def resync_keys(self, ctx: Context) -> list[str]:
        items = ctx.client.list(NAMESPACES).get("items", [])
        return [ns["metadata"]["name"] for ns in items if ns["metadata"].get("deletionTimestamp")]

    def sync(self, key: str, ctx: Context) -> float | None:
        ns = self.get(ctx, key)
        if ns is None or not ns["metadata"].get("deletionTimestamp"):
            return None
        if FINALIZER not in (ns.get("spec", {}).get("finalizers") or []):
            return None
        failures, remaining, held = self._delete_content(ctx, key)
        ns = self._set_conditions(ctx, ns, failures, remaining, held)
        if failures or remaining:
            return RECHECK
        self._finalize(ctx, ns)
        return None

    def _delete_content(self, ctx: Context, namespace: str) -> tuple[list[str], Counter[str], Counter[str]]:
        """Delete everything in ``namespace``; returns (errors, objects left per resource, per finalizer)."""
        failures: list[str] = []
        remaining: Counter[str] = Counter()
        held: Counter[str] = Counter()
        for resource in CONTENT:
            try:
                items = ctx.client.list(resource, namespace).get("items", [])
                if any(not i["metadata"].get("deletionTimestamp") for i in items):
                    self._delete_collection(ctx, resource, namespace)
                    items = ctx.client.list(resource, namespace).get("items", [])
            except errors.StatusError as exc:
                failures.append(f"{resource.qualified}: {exc}")
                continue
            if items:
                remaining[f"{resource.plural}.{resource.group}"] += len(items)
            for item in items:
                for finalizer in item["metadata"].get("finalizers") or []:
                    held[finalizer] += 1
        return failures, remaining, held

    @staticmethod
    def _delete_collection(ctx: Context, resource: Resource, namespace: str) -> None:
        body = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"}
        ctx.client.request("DELETE", ctx.client.path(resource, namespace), body)

    def _set_conditions(
        self, ctx: Context, ns: Obj, failures: list[str], remaining: Counter[str], held: Counter[str]
    ) -> Obj:
        """Write the deletion conditions to ``ns``'s status when they changed; returns the namespace."""
        wanted = conditions(failures, remaining, held)
        status = ns.get("status") or {}
        old = {c["type"]: c for c in status.get("conditions") or []}
        now = now_rfc3339()
        merged = []
        for cond in wanted:
            prev = old.get(cond["type"])
            same = prev and all(prev.get(f) == cond[f] for f in ("status", "reason", "message"))
            merged.append(prev if same else {**cond, "lastTransitionTime": now})
        if [old.get(c["type"]) for c in wanted] == merged and status.get("phase") == "Terminating":
            return ns
        updated = {**ns, "status": {**status, "phase": "Terminating", "conditions": merged}}
        try:
            return ctx.client.update(updated, subresource="status")
        except (errors.Conflict, errors.NotFound):
            return ns  # the next run writes them

    @staticmethod
    def _finalize(ctx: Context, ns: Obj) -> None:
        """Remove ``kubernetes`` from ``spec.finalizers`` (``namespaces/<name>/finalize``)."""
        kept = [f for f in ns.get("spec", {}).get("finalizers") or [] if f != FINALIZER]
        body = {**ns, "spec": {**ns.get("spec", {}), "finalizers": kept}}
        body["metadata"] = {k: v for k, v in ns["metadata"].items() if k != "resourceVersion"}
        try:
            ctx.client.update(body, subresource="finalize")
        except errors.NotFound:
            pass


def conditions(failures: list[str], remaining: Counter[str], held: Counter[str]) -> list[Obj]:
    """The namespace deletion conditions, worded as Kubernetes' namespace controller words them."""

    def cond(type_: str, true: bool, reason: str, message: str) -> Obj:
        return {"type": type_, "status": "True" if true else "False", "reason": reason, "message": message}

    left = ", ".join(f"{r} has {n} resource instances" for r, n in sorted(remaining.items()))
    finalizers = ", ".join(f"{f} in {n} resource instances" for f, n in sorted(held.items()))
    return [
        cond(
            "NamespaceDeletionDiscoveryFailure",
            False,
            "ResourcesDiscovered",
            "All resources successfully discovered",
        ),
        cond(
            "NamespaceDeletionGroupVersionParsingFailure",
            False,
            "ParsedGroupVersions",
            "All legacy kube types successfully parsed",
        ),
        cond(
            "NamespaceDeletionContentFailure",
            bool(failures),
            "ContentDeletionFailed" if failures else "ContentDeleted",
            f"Failed to delete all resource types, {len(failures)} remaining: {', '.join(failures)}"
            if failures
            else "All content successfully deleted, may be waiting on finalization",
        ),
        cond(
            "NamespaceContentRemaining",
            bool(remaining),
            "SomeResourcesRemain" if remaining else "ContentRemoved",
            f"Some resources are remaining: {left}" if remaining else "All content successfully removed",
        ),
        cond(
            "NamespaceFinalizersRemaining",
            bool(held),
            "SomeFinalizersRemain" if held else "ContentHasNoFinalizers",
            f"Some content in the namespace has finalizers remaining: {finalizers}"
            if held
            else "All content-preserving finalizers finished",
        ),
    ]
