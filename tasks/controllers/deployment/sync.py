"""The Deployment controller: ``sync(namespace/name)`` rolls a Deployment's ReplicaSets forward.

Keys come from the Deployment itself and from the ReplicaSets it controls (their status moves a
rollout on). A sync claims the ReplicaSets, records pause/resume, then either only scales (paused,
or ``replicas`` changed) or takes one rollout step (RollingUpdate or Recreate) and writes status.
While a rollout is under way the key comes back at its progress deadline, so a stuck rollout is
marked ProgressDeadlineExceeded even when nothing else changes.
"""

from __future__ import annotations

from typing import Any

from tasks.controllers.base import KeyedController, owner_keys
from tasks.controllers.deployment import counts, progress, replicasets, rollout
from tasks.controllers.deployment.run import DEPLOYMENTS, Run
from tasks.runtime.controller import Context, Watch, own_key

Obj = dict[str, Any]


class DeploymentController(KeyedController):
    """Kubernetes' deployment controller as a keyed, level-triggered sync."""

    name = "deployment"
    component = "deployment-controller"  # the Events' source, as Kubernetes names it
    resource = DEPLOYMENTS
    watches = (
        Watch("deployments.apps", own_key),
        Watch("replicasets.apps", owner_keys("Deployment")),
    )

    def sync(self, key: str, ctx: Context) -> float | None:
        d = self.get(ctx, key)
        if d is None:
            return None
        d.setdefault("apiVersion", "apps/v1")
        d.setdefault("kind", "Deployment")
        run = Run(ctx, d, lambda obj, type_, reason, message: self.event(ctx, obj, type_, reason, message))
        selector = d["spec"].get("selector") or {}
        if not selector.get("matchLabels") and not selector.get("matchExpressions"):
            run.event(
                "SelectingAll",
                "This deployment is selecting all pods. A non-empty selector is required.",
                "Warning",
            )
            status = dict(d.get("status") or {})
            status["observedGeneration"] = d["metadata"].get("generation", 1)
            run.write_status(status)
            return None
        rss = replicasets.claim(run)
        if run.d["metadata"].get("deletionTimestamp"):
            new_rs, old = replicasets.split(run, rss, create=False)
            run.write_status(progress.calculate(run.d, [*old, new_rs], new_rs))
            return None
        self._record_pause(run)
        if run.d["spec"].get("paused") or rollout.is_scaling_event(run, rss):
            return rollout.scale_only(run, rss)
        if counts.is_rolling(run.d):
            return rollout.rolling(run, rss)
        return rollout.recreate(run, rss)

    @staticmethod
    def _record_pause(run: Run) -> None:
        cond = progress.paused_condition(run.d)
        if cond is None:
            return
        status = dict(run.d.get("status") or {})
        status["conditions"] = list(status.get("conditions") or [])
        progress.set_condition(status, cond)
        run.write_status(status)
