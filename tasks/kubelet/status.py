"""Pod status as the kubelet reports it, built from what the runtime says (pure functions).

``ContainerView`` is the kubelet's verdict on one container (its runtime instances and, when it is
not running, why it waits). ``container_status`` renders one as a ``containerStatuses`` entry;
``pod_phase`` and ``pod_conditions`` follow Kubernetes' rules; ``merge_conditions`` keeps a
condition's ``lastTransitionTime`` while its status stays the same.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tasks.kubelet.cri import CREATED, EXITED, RUNNING, ContainerStatus

Obj = dict[str, Any]
ID_SCHEME = "kubeq-process://"


def rfc3339(ts: float) -> str:
    """A ``time.time()`` float as a Kubernetes ``Time`` (seconds, ``Z``)."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def image_id(image: str) -> str:
    """A stable imageID for ``image`` (no registry is consulted: a digest of the name)."""
    repo = image.split("@", 1)[0]
    if ":" in repo.rsplit("/", 1)[-1]:
        repo = repo.rsplit(":", 1)[0]
    return f"{repo}@sha256:{hashlib.sha256(image.encode()).hexdigest()}"


@dataclass
class ContainerView:
    """One spec container: its newest runtime instance, the one before, and a waiting reason if any."""

    name: str
    image: str
    latest: ContainerStatus | None = None
    previous: ContainerStatus | None = None
    waiting: tuple[str, str] | None = None  # (reason, message) overriding what ``latest`` says

    @property
    def restart_count(self) -> int:
        return self.latest.attempt if self.latest else 0

    @property
    def running(self) -> bool:
        return self.waiting is None and self.latest is not None and self.latest.state == RUNNING

    @property
    def ready(self) -> bool:
        return self.running and bool(self.latest and self.latest.ready)

    def outcome(self) -> str:
        """pending | running | succeeded | failed | restarting (exited, a restart is due)."""
        latest = self.latest
        if latest is not None and latest.state == RUNNING and self.waiting is None:
            return "running"
        if latest is not None and latest.state == EXITED:
            if self.waiting and self.waiting[0] == "CrashLoopBackOff":
                return "restarting"
            return "succeeded" if latest.exit_code == 0 else "failed"
        return "pending"


def terminated(cs: ContainerStatus) -> Obj:
    out: Obj = {
        "exitCode": cs.exit_code if cs.exit_code is not None else 0,
        "reason": cs.reason or ("Completed" if cs.exit_code == 0 else "Error"),
        "startedAt": rfc3339(cs.started_at) if cs.started_at else None,
        "finishedAt": rfc3339(cs.finished_at) if cs.finished_at else None,
        "containerID": ID_SCHEME + cs.id,
    }
    if cs.message:
        out["message"] = cs.message
    return out


def container_status(view: ContainerView, init: bool = False) -> Obj:
    """The ``containerStatuses``/``initContainerStatuses`` entry for ``view``."""
    latest = view.latest
    state: Obj
    last: Obj = {}
    if view.waiting is not None:
        reason, message = view.waiting
        state = {"waiting": {"reason": reason, "message": message} if message else {"reason": reason}}
        if latest is not None and latest.state == EXITED:
            last = {"terminated": terminated(latest)}
    elif latest is None or latest.state == CREATED:
        state = {"waiting": {"reason": "ContainerCreating"}}
    elif latest.state == RUNNING:
        state = {"running": {"startedAt": rfc3339(latest.started_at or latest.created_at)}}
    elif latest.state == EXITED:
        state = {"terminated": terminated(latest)}
    else:
        state = {"waiting": {"reason": "ContainerStatusUnknown"}}
    if not last and view.previous is not None and view.previous.state == EXITED:
        last = {"terminated": terminated(view.previous)}
    out: Obj = {
        "name": view.name,
        "state": state,
        "lastState": last,
        "ready": view.ready or (init and view.outcome() == "succeeded"),
        "restartCount": view.restart_count,
        "image": view.image,
        "imageID": image_id(view.image) if latest else "",
        "started": bool(view.running and latest and latest.started),
    }
    if latest is not None:
        out["containerID"] = ID_SCHEME + latest.id
    return out


def pod_phase(init: list[ContainerView], main: list[ContainerView], restart_policy: str) -> str:
    """Pending | Running | Succeeded | Failed, by Kubernetes' rules for the containers' outcomes."""
    for view in init:
        outcome = view.outcome()
        if outcome == "failed" and restart_policy == "Never":
            return "Failed"
        if outcome != "succeeded":
            return "Pending"
    outcomes = [v.outcome() for v in main]
    if not outcomes or "pending" in outcomes:
        return "Pending"
    if "running" in outcomes or "restarting" in outcomes:
        return "Running"
    # every container has exited and none is due a restart by the verdicts above
    if restart_policy == "Always":
        return "Running"
    if restart_policy == "OnFailure":
        return "Succeeded" if all(o == "succeeded" for o in outcomes) else "Running"
    return "Failed" if "failed" in outcomes else "Succeeded"


def _cond(kind: str, ok: bool, now: str, reason: str = "", message: str = "") -> Obj:
    out: Obj = {"type": kind, "status": "True" if ok else "False", "lastProbeTime": None}
    out["lastTransitionTime"] = now
    if reason and not ok:
        out["reason"] = reason
    if message and not ok:
        out["message"] = message
    return out


def pod_conditions(
    init: list[ContainerView], main: list[ContainerView], phase: str, sandbox_ready: bool, now: str
) -> list[Obj]:
    """PodReadyToStartContainers, Initialized, ContainersReady and Ready for the given views."""
    done_reason = "PodCompleted" if phase in ("Succeeded", "Failed") else ""
    unfinished = [v.name for v in init if v.outcome() != "succeeded"]
    initialized = not unfinished or phase == "Succeeded"
    unready = [v.name for v in main if not v.ready]
    ready = not unready and phase == "Running"
    unready_msg = f"containers with unready status: [{' '.join(unready)}]"
    return [
        _cond("PodReadyToStartContainers", sandbox_ready and not done_reason, now),
        _cond(
            "Initialized",
            initialized,
            now,
            "ContainersNotInitialized",
            f"containers with incomplete status: [{' '.join(unfinished)}]",
        ),
        _cond("ContainersReady", ready, now, done_reason or "ContainersNotReady", unready_msg),
        _cond("Ready", ready, now, done_reason or "ContainersNotReady", unready_msg),
    ]


def merge_conditions(old: list[Obj], wanted: list[Obj]) -> list[Obj]:
    """``old`` with ``wanted`` laid over by type, keeping ``lastTransitionTime`` of unchanged statuses."""
    by_type = {c.get("type"): c for c in old}
    for cond in wanted:
        prev = by_type.get(cond["type"])
        if prev and prev.get("status") == cond["status"] and prev.get("lastTransitionTime"):
            cond = {**cond, "lastTransitionTime": prev["lastTransitionTime"]}
        by_type[cond["type"]] = cond
    return list(by_type.values())


def status_changed(old: Obj, new: Obj) -> bool:
    """True when any field of ``new`` differs from ``old`` (fields only ``old`` has do not count)."""
    return any(old.get(k) != v for k, v in new.items())
