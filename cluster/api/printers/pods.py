"""Pod cells: READY ("1/2"), STATUS (the reason kubectl shows), RESTARTS ("3 (5m ago)"), READINESS GATES.

``summarize(pod, now)`` walks init and app container statuses once, the way ``kubectl get pods``
does, and returns all three aggregate values.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

from .duration import parse_time, since
from .format import NONE, dig

NODE_UNREACHABLE_REASON = "NodeLost"


class PodSummary(NamedTuple):
    ready: str
    status: str
    restarts: str


def _restartable(container: dict[str, Any] | None) -> bool:
    """A sidecar: an init container with ``restartPolicy: Always``."""
    return bool(container) and container.get("restartPolicy") == "Always"


def _has_condition(pod: dict[str, Any], kind: str) -> bool:
    return any(
        c.get("type") == kind and c.get("status") == "True" for c in dig(pod, "status", "conditions") or []
    )


def _last_finished(status: dict[str, Any], latest: datetime | None) -> datetime | None:
    finished = parse_time(dig(status, "lastState", "terminated", "finishedAt"))
    if finished and (latest is None or finished > latest):
        return finished
    return latest


def _terminated_reason(term: dict[str, Any], prefix: str = "") -> str:
    if term.get("reason"):
        return prefix + term["reason"]
    if term.get("signal"):
        return f"{prefix}Signal:{term['signal']}"
    return f"{prefix}ExitCode:{term.get('exitCode', 0)}"


def summarize(pod: dict[str, Any], now: datetime) -> PodSummary:
    """READY, STATUS and RESTARTS of one pod."""
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    init_specs = {c.get("name"): c for c in spec.get("initContainers") or []}
    total = len(spec.get("containers") or []) + sum(1 for c in init_specs.values() if _restartable(c))
    ready = 0
    phase = status.get("phase") or ""
    reason = status.get("reason") or phase
    if any(
        c.get("type") == "PodScheduled" and c.get("reason") == "SchedulingGated"
        for c in status.get("conditions") or []
    ):
        reason = "SchedulingGated"

    restarts = sidecar_restarts = 0
    last_restart: datetime | None = None
    last_sidecar_restart: datetime | None = None
    initializing = False
    init_statuses = status.get("initContainerStatuses") or []
    for index, cs in enumerate(init_statuses):
        sidecar = _restartable(init_specs.get(cs.get("name")))
        count = cs.get("restartCount") or 0
        restarts += count
        last_restart = _last_finished(cs, last_restart)
        if sidecar:
            sidecar_restarts += count
            last_sidecar_restart = _last_finished(cs, last_sidecar_restart)
        state = cs.get("state") or {}
        term, waiting = state.get("terminated"), state.get("waiting")
        if term is not None and term.get("exitCode", 0) == 0:
            continue
        if sidecar and cs.get("started"):
            ready += 1 if cs.get("ready") else 0
            continue
        if term is not None:
            reason = _terminated_reason(term, "Init:")
        elif waiting and waiting.get("reason") and waiting["reason"] != "PodInitializing":
            reason = "Init:" + waiting["reason"]
        else:
            reason = f"Init:{index}/{len(init_specs)}"
        initializing = True
        break

    if not initializing or _has_condition(pod, "Initialized"):
        restarts, last_restart = sidecar_restarts, last_sidecar_restart
        has_running = False
        for cs in reversed(status.get("containerStatuses") or []):
            restarts += cs.get("restartCount") or 0
            last_restart = _last_finished(cs, last_restart)
            state = cs.get("state") or {}
            waiting, term = state.get("waiting"), state.get("terminated")
            if waiting and waiting.get("reason"):
                reason = waiting["reason"]
            elif term is not None:
                reason = _terminated_reason(term)
            elif cs.get("ready") and state.get("running") is not None:
                has_running = True
                ready += 1
        if reason == "Completed" and has_running:
            reason = "Running" if _has_condition(pod, "Ready") else "NotReady"

    deleting = dig(pod, "metadata", "deletionTimestamp") is not None
    if deleting and status.get("reason") == NODE_UNREACHABLE_REASON:
        reason = "Unknown"
    elif deleting and phase not in ("Succeeded", "Failed"):
        reason = "Terminating"

    restarts_text = str(restarts)
    if restarts and last_restart is not None:
        restarts_text = f"{restarts} ({since(last_restart, now)} ago)"
    return PodSummary(f"{ready}/{total}", reason, restarts_text)


def pod_ip(pod: dict[str, Any]) -> str:
    ips = dig(pod, "status", "podIPs") or []
    first = (ips[0] or {}).get("ip") if ips else None
    return first or dig(pod, "status", "podIP") or NONE


def readiness_gates(pod: dict[str, Any]) -> str:
    """``true/total`` of the pod's readiness gates; ``<none>`` when it has none."""
    gates = dig(pod, "spec", "readinessGates") or []
    if not gates:
        return NONE
    conditions = {c.get("type"): c.get("status") for c in dig(pod, "status", "conditions") or []}
    met = sum(1 for g in gates if conditions.get(g.get("conditionType")) == "True")
    return f"{met}/{len(gates)}"


def row_conditions(pod: dict[str, Any]) -> list[dict[str, str]] | None:
    """The ``Completed`` row condition Kubernetes attaches to finished pods, or None."""
    phase = dig(pod, "status", "phase")
    if phase == "Succeeded":
        message = "The pod has completed successfully."
    elif phase == "Failed":
        message = "The pod failed."
    else:
        return None
    return [{"type": "Completed", "status": "True", "reason": phase, "message": message}]
