"""Job status: conditions (Complete, Failed, Suspended, SuccessCriteriaMet, FailureTarget) and times."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tasks.controllers.pods import parse_time

Obj = dict[str, Any]

FINISHED = ("Complete", "Failed")


def stamp(when: datetime) -> str:
    """RFC 3339 to the second, as Kubernetes writes ``metav1.Time``."""
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def get_condition(status: Obj, kind: str) -> Obj | None:
    for cond in status.get("conditions") or []:
        if cond.get("type") == kind:
            return cond
    return None


def is_true(status: Obj, kind: str) -> bool:
    cond = get_condition(status, kind)
    return bool(cond and cond.get("status") == "True")


def set_condition(status: Obj, kind: str, value: str, reason: str, message: str, now: datetime) -> bool:
    """Set condition ``kind`` in ``status``; True when it changed. The transition time moves only
    when the condition's status flips (or the condition is new)."""
    conditions = status.setdefault("conditions", [])
    cond = get_condition(status, kind)
    if cond is None:
        conditions.append(
            {
                "type": kind,
                "status": value,
                "reason": reason,
                "message": message,
                "lastProbeTime": stamp(now),
                "lastTransitionTime": stamp(now),
            }
        )
        return True
    if (cond.get("status"), cond.get("reason"), cond.get("message")) == (value, reason, message):
        return False
    if cond.get("status") != value:
        cond["lastTransitionTime"] = stamp(now)
    cond.update(status=value, reason=reason, message=message, lastProbeTime=stamp(now))
    return True


def is_finished(job: Obj) -> bool:
    """The Job carries a true Complete or Failed condition."""
    status = job.get("status") or {}
    return any(is_true(status, kind) for kind in FINISHED)


def finish_time(job: Obj) -> datetime | None:
    """When a finished Job finished (completionTime, else its terminal condition's transition)."""
    status = job.get("status") or {}
    if status.get("completionTime"):
        return parse_time(status["completionTime"])
    for kind in FINISHED:
        cond = get_condition(status, kind)
        if cond and cond.get("status") == "True" and cond.get("lastTransitionTime"):
            return parse_time(cond["lastTransitionTime"])
    return None
