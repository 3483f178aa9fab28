"""Disruption budgets at eviction time: may this pod go, and if so, spend one allowed disruption.

``admit_eviction(registry, pod)`` is called by the ``pods/eviction`` subresource before it deletes
the pod. It finds the PodDisruptionBudget covering the pod and, when the budget allows a disruption,
takes it (``status.disruptionsAllowed`` - 1, the pod recorded in ``status.disruptedPods``) with a
compare-and-swap on the budget, so two concurrent evictions cannot both spend the last one. When the
budget allows none it raises ``TooManyRequests`` (429), which ``kubectl drain`` retries.
"""

from __future__ import annotations

from typing import Any

from cluster import errors
from cluster.api.resources import lookup
from cluster.api.validation.selectors import matches
from cluster.registry import meta

Obj = dict[str, Any]
PDBS = lookup("policy", "v1", "poddisruptionbudgets")
VIOLATION = "Cannot evict pod as it would violate the pod's disruption budget."
MAX_DISRUPTED_PODS = 2000  # Kubernetes refuses evictions while this many are unconfirmed


def _ready(pod: Obj) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in (pod.get("status") or {}).get("conditions") or []
    )


def ignores_budget(pod: Obj) -> bool:
    """Pods a budget does not protect: finished, pending, or already being deleted."""
    phase = (pod.get("status") or {}).get("phase")
    return bool(pod["metadata"].get("deletionTimestamp")) or phase in ("Succeeded", "Failed", "Pending")


def budgets_for(registry: Any, pod: Obj) -> list[Obj]:
    """The budgets of the pod's namespace whose selector matches it (an absent selector matches none)."""
    namespace = pod["metadata"]["namespace"]
    labels = pod["metadata"].get("labels") or {}
    items = registry.store.list(PDBS.qualified, namespace).items
    return [
        pdb
        for pdb in items
        if (pdb.get("spec") or {}).get("selector") is not None and matches(pdb["spec"]["selector"], labels)
    ]


def _refuse(pdb: Obj, detail: str) -> errors.TooManyRequests:
    return errors.TooManyRequests(VIOLATION, causes=[errors.Cause("DisruptionBudget", detail)])


def admit_eviction(registry: Any, pod: Obj, dry_run: bool = False) -> None:
    """Let ``pod`` be evicted or raise: 429 (budget exhausted or not yet observed), 500 (two budgets)."""
    if ignores_budget(pod):
        return
    budgets = budgets_for(registry, pod)
    if not budgets:
        return
    if len(budgets) > 1:
        raise errors.InternalError(
            "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support."
        )
    pdb = budgets[0]
    spec, status = pdb.get("spec") or {}, pdb.get("status") or {}
    if not _ready(pod):
        if spec.get("unhealthyPodEvictionPolicy") == "AlwaysAllow":
            return
        healthy, desired = status.get("currentHealthy", 0), status.get("desiredHealthy", 0)
        if desired > 0 and healthy >= desired:
            return
    name = pod["metadata"]["name"]

    def spend(current: Obj) -> Obj | None:
        st = current.setdefault("status", {})
        md = current["metadata"]
        if st.get("observedGeneration", 0) < md.get("generation", 1):
            raise _refuse(
                current, f"The disruption budget {md['name']} is still being processed by the server."
            )
        allowed = st.get("disruptionsAllowed", 0)
        if allowed < 0:
            raise errors.Forbidden("pdb disruptions allowed is negative")
        if len(st.get("disruptedPods") or {}) > MAX_DISRUPTED_PODS:
            raise errors.Forbidden(
                "DisruptedPods map too big - too many evictions not confirmed by PDB controller"
            )
        if allowed == 0:
            raise _refuse(
                current,
                f"The disruption budget {md['name']} needs {st.get('desiredHealthy', 0)} healthy pods "
                f"and has {st.get('currentHealthy', 0)} currently",
            )
        if dry_run:
            return None
        st["disruptionsAllowed"] = allowed - 1
        st.setdefault("disruptedPods", {})[name] = meta.now()
        if allowed - 1 == 0:
            _set_allowed_condition(st, False)
        return current

    registry.store.guaranteed_update(
        PDBS.qualified, PDBS.key(pdb["metadata"]["namespace"], pdb["metadata"]["name"]), spend
    )


def _set_allowed_condition(status: Obj, allowed: bool) -> None:
    """The DisruptionAllowed condition, as the disruption controller would write it."""
    conditions = [c for c in status.get("conditions") or [] if c.get("type") != "DisruptionAllowed"]
    old = next((c for c in status.get("conditions") or [] if c.get("type") == "DisruptionAllowed"), None)
    want = "True" if allowed else "False"
    conditions.append(
        {
            "type": "DisruptionAllowed",
            "status": want,
            "reason": "SufficientPods" if allowed else "InsufficientPods",
            "message": "",
            "observedGeneration": status.get("observedGeneration", 0),
            "lastTransitionTime": old["lastTransitionTime"]
            if old and old.get("status") == want and old.get("lastTransitionTime")
            else meta.now(),
        }
    )
    status["conditions"] = conditions
