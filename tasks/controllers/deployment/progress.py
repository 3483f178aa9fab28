"""Deployment status: counts from its ReplicaSets, the Available and Progressing conditions.

Reasons and messages are Kubernetes' (``kubectl rollout status`` and ``describe`` read them):
Available True/MinimumReplicasAvailable or False/MinimumReplicasUnavailable; Progressing
True/NewReplicaSetCreated, FoundNewReplicaSet, ReplicaSetUpdated, NewReplicaSetAvailable,
False/ProgressDeadlineExceeded, Unknown/DeploymentPaused, DeploymentResumed.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from tasks.controllers.deployment import counts
from tasks.controllers.pods import parse_time

Obj = dict[str, Any]

AVAILABLE = "Available"
PROGRESSING = "Progressing"
REPLICA_FAILURE = "ReplicaFailure"
NO_PROGRESS_DEADLINE = 2**31 - 1


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def condition(status: Obj, kind: str) -> Obj | None:
    for cond in status.get("conditions") or []:
        if cond.get("type") == kind:
            return cond
    return None


def make_condition(kind: str, status: str, reason: str, message: str) -> Obj:
    stamp = now()
    return {
        "type": kind,
        "status": status,
        "lastUpdateTime": stamp,
        "lastTransitionTime": stamp,
        "reason": reason,
        "message": message,
    }


def set_condition(status: Obj, cond: Obj) -> None:
    """Put ``cond`` in ``status``: unchanged if status and reason are the same; the transition time
    is kept while the status stays the same."""
    current = condition(status, cond["type"])
    if current and current.get("status") == cond["status"] and current.get("reason") == cond["reason"]:
        return
    if current and current.get("status") == cond["status"]:
        cond = {**cond, "lastTransitionTime": current.get("lastTransitionTime", cond["lastTransitionTime"])}
    remove_condition(status, cond["type"])
    status.setdefault("conditions", []).append(cond)


def remove_condition(status: Obj, kind: str) -> None:
    status["conditions"] = [c for c in status.get("conditions") or [] if c.get("type") != kind]


def has_deadline(d: Obj) -> bool:
    value = d["spec"].get("progressDeadlineSeconds")
    return value is not None and int(value) != NO_PROGRESS_DEADLINE


def calculate(d: Obj, all_rss: list[Obj | None], new_rs: Obj | None) -> Obj:
    """The status the ReplicaSets imply (conditions copied from the current status, Available set)."""
    available = counts.available_total(all_rss)
    unavailable = max(0, counts.desired_total(all_rss) - available)
    old = d.get("status") or {}
    status: Obj = {
        "observedGeneration": d["metadata"].get("generation", 1),
        "replicas": counts.actual_total(all_rss),
        "updatedReplicas": counts.actual_total([new_rs]),
        "readyReplicas": counts.ready_total(all_rss),
        "availableReplicas": available,
        "unavailableReplicas": unavailable,
        "conditions": copy.deepcopy(old.get("conditions") or []),
    }
    if old.get("collisionCount") is not None:
        status["collisionCount"] = old["collisionCount"]
    if available >= counts.spec_replicas(d) - counts.max_unavailable(d):
        cond = make_condition(
            AVAILABLE, "True", "MinimumReplicasAvailable", "Deployment has minimum availability."
        )
    else:
        cond = make_condition(
            AVAILABLE, "False", "MinimumReplicasUnavailable", "Deployment does not have minimum availability."
        )
    set_condition(status, cond)
    return status


def complete(d: Obj, status: Obj) -> bool:
    """Every replica updated and available, no old ones left, the latest spec observed."""
    replicas = counts.spec_replicas(d)
    return (
        status.get("updatedReplicas", 0) == replicas
        and status.get("replicas", 0) == replicas
        and status.get("availableReplicas", 0) == replicas
        and status.get("observedGeneration", 0) >= d["metadata"].get("generation", 1)
    )


def progressed(old: Obj, new: Obj) -> bool:
    """More pods updated, ready or available, or fewer old ones, than the last status said."""
    old_old = old.get("replicas", 0) - old.get("updatedReplicas", 0)
    new_old = new.get("replicas", 0) - new.get("updatedReplicas", 0)
    return (
        new.get("updatedReplicas", 0) > old.get("updatedReplicas", 0)
        or new_old < old_old
        or new.get("readyReplicas", 0) > old.get("readyReplicas", 0)
        or new.get("availableReplicas", 0) > old.get("availableReplicas", 0)
    )


def seconds_to_deadline(d: Obj, status: Obj) -> float | None:
    """Seconds until the rollout counts as stuck (<= 0: it is), None when no deadline applies."""
    if not has_deadline(d):
        return None
    cond = condition(status, PROGRESSING)
    if not cond or cond.get("reason") in ("NewReplicaSetAvailable", "ProgressDeadlineExceeded"):
        return None
    if cond.get("reason") == "DeploymentPaused" or complete(d, status):
        return None
    since = parse_time(cond.get("lastUpdateTime") or cond.get("lastTransitionTime") or now())
    deadline = int(d["spec"]["progressDeadlineSeconds"])
    return deadline - (datetime.now(UTC) - since).total_seconds()


def rollout_status(d: Obj, all_rss: list[Obj | None], new_rs: Obj | None) -> Obj:
    """The status after a rollout step, with the Progressing condition brought up to date."""
    old = d.get("status") or {}
    status = calculate(d, all_rss, new_rs)
    if not has_deadline(d):
        remove_condition(status, PROGRESSING)
        return status
    current = condition(old, PROGRESSING)
    done_before = (
        status["replicas"] == status["updatedReplicas"]
        and current is not None
        and current.get("reason") == "NewReplicaSetAvailable"
    )
    if done_before:
        return status
    subject = (
        f'ReplicaSet "{new_rs["metadata"]["name"]}"' if new_rs else f'Deployment "{d["metadata"]["name"]}"'
    )
    if complete(d, status):
        set_condition(
            status,
            make_condition(
                PROGRESSING, "True", "NewReplicaSetAvailable", f"{subject} has successfully progressed."
            ),
        )
    elif progressed(old, status):
        cond = make_condition(PROGRESSING, "True", "ReplicaSetUpdated", f"{subject} is progressing.")
        if current is not None and current.get("status") == "True":
            cond["lastTransitionTime"] = current.get("lastTransitionTime", cond["lastTransitionTime"])
        remove_condition(status, PROGRESSING)
        status["conditions"].append(cond)
    else:
        left = seconds_to_deadline(d, status)
        if left is not None and left < 0:
            set_condition(
                status,
                make_condition(
                    PROGRESSING, "False", "ProgressDeadlineExceeded", f"{subject} has timed out progressing."
                ),
            )
    failure = replica_failure(all_rss, new_rs)
    if failure:
        set_condition(status, failure)
    else:
        remove_condition(status, REPLICA_FAILURE)
    return status


def replica_failure(all_rss: list[Obj | None], new_rs: Obj | None) -> Obj | None:
    """A ReplicaFailure condition of the new ReplicaSet (else of an old one) as the Deployment's."""
    ordered = [new_rs, *[rs for rs in all_rss if rs is not new_rs]]
    for rs in ordered:
        if rs is None:
            continue
        cond = condition(rs.get("status") or {}, REPLICA_FAILURE)
        if cond and cond.get("status") == "True":
            out = make_condition(REPLICA_FAILURE, "True", cond.get("reason", ""), cond.get("message", ""))
            return out
    return None


def paused_condition(d: Obj) -> Obj | None:
    """The Progressing condition pausing or resuming sets, or None when none is due."""
    if not has_deadline(d):
        return None
    cond = condition(d.get("status") or {}, PROGRESSING)
    if cond and cond.get("reason") == "ProgressDeadlineExceeded":
        return None
    paused_set = bool(cond and cond.get("reason") == "DeploymentPaused")
    if d["spec"].get("paused") and not paused_set:
        return make_condition(PROGRESSING, "Unknown", "DeploymentPaused", "Deployment is paused")
    if not d["spec"].get("paused") and paused_set:
        return make_condition(PROGRESSING, "Unknown", "DeploymentResumed", "Deployment is resumed")
    return None


def same_status(a: Obj, b: Obj) -> bool:
    """Equal statuses (condition order aside)."""

    def norm(s: Obj) -> Obj:
        s = dict(s)
        s["conditions"] = sorted(s.get("conditions") or [], key=lambda c: c.get("type", ""))
        return {k: v for k, v in s.items() if v not in (None, [], 0) or k == "observedGeneration"}

    return norm(a) == norm(b)
