"""One sync of one Deployment: the objects it works on and every write it makes.

``Run.d`` is always the Deployment as last read or written; ReplicaSet writes update the dicts in
place, so the lists a step holds never go stale.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cluster.api.resources import lookup
from tasks.controllers.deployment import counts, progress, revisions
from tasks.runtime.controller import Context

Obj = dict[str, Any]
DEPLOYMENTS = lookup("apps", "v1", "deployments")
REPLICASETS = lookup("apps", "v1", "replicasets")
PODS = lookup("", "v1", "pods")
Recorder = Callable[[Obj, str, str, str], None]


@dataclass
class Run:
    ctx: Context
    d: Obj
    record: Recorder

    @property
    def namespace(self) -> str:
        return self.d["metadata"]["namespace"]

    def event(self, reason: str, message: str, type_: str = "Normal") -> None:
        self.record(self.d, type_, reason, message)

    # ---- ReplicaSets -------------------------------------------------------------------------
    def patch_rs(self, rs: Obj, body: Obj) -> Obj:
        """Merge-patch ``rs``; the dict is replaced in place by what the server returns."""
        out = self.ctx.client.patch(REPLICASETS, rs["metadata"]["name"], body, self.namespace)
        out.setdefault("apiVersion", "apps/v1")
        out.setdefault("kind", "ReplicaSet")
        rs.clear()
        rs.update(out)
        return rs

    def scale(self, rs: Obj, replicas: int) -> bool:
        """Set ``rs`` to ``replicas`` (and its desired/max-replicas annotations); True if the size moved."""
        old = counts.spec_replicas(rs)
        want = revisions.replicas_annotations(self.d)
        have = rs["metadata"].get("annotations") or {}
        stale = {k: v for k, v in want.items() if have.get(k) != v}
        if old == replicas and not stale:
            return False
        body: Obj = {"spec": {"replicas": replicas}}
        if stale:
            body["metadata"] = {"annotations": stale}
        self.patch_rs(rs, body)
        if old != replicas:
            direction = "up" if replicas > old else "down"
            self.event(
                "ScalingReplicaSet",
                f"Scaled {direction} replica set {rs['metadata']['name']} to {replicas} from {old}",
            )
        return old != replicas

    def delete_rs(self, rs: Obj) -> None:
        from cluster import errors

        try:
            self.ctx.client.delete(REPLICASETS, rs["metadata"]["name"], self.namespace)
        except errors.NotFound:
            pass

    # ---- the Deployment ----------------------------------------------------------------------
    def set_annotations(self, changes: dict[str, str]) -> None:
        """Merge ``changes`` into the Deployment's annotations (a metadata-only write)."""
        have = self.d["metadata"].get("annotations") or {}
        stale = {k: v for k, v in changes.items() if have.get(k) != v}
        if not stale:
            return
        out = self.ctx.client.patch(
            DEPLOYMENTS, self.d["metadata"]["name"], {"metadata": {"annotations": stale}}, self.namespace
        )
        self._replace(out)

    def write_status(self, status: Obj) -> bool:
        """Write ``status`` unless it is what the Deployment already says; True if written."""
        if progress.same_status(self.d.get("status") or {}, status):
            return False
        body = {**self.d, "status": status}
        self._replace(self.ctx.client.update(body, subresource="status"))
        return True

    def _replace(self, out: Obj) -> None:
        out.setdefault("apiVersion", "apps/v1")
        out.setdefault("kind", "Deployment")
        self.d = out
