"""Failed pods: which podFailurePolicy rule a pod matches, when it finished, and the retry backoff."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tasks.controllers.pods import condition, parse_time

Obj = dict[str, Any]

BACKOFF_BASE = 10.0  # seconds before the first retry after a failure
BACKOFF_MAX = 360.0  # the longest wait between retries (6 minutes)


@dataclass(frozen=True)
class Verdict:
    """What a podFailurePolicy says about one failed pod: action ``FailJob``/``Ignore``/``Count``."""

    action: str
    message: str = ""


def _terminated(pod: Obj) -> list[tuple[str, int]]:
    """(container name, exit code) of every terminated container, init containers included."""
    status = pod.get("status") or {}
    out = []
    for key in ("initContainerStatuses", "containerStatuses"):
        for cs in status.get(key) or []:
            terminated = (cs.get("state") or {}).get("terminated")
            if terminated is not None:
                out.append((cs.get("name", ""), int(terminated.get("exitCode", 0))))
    return out


def _exit_code_match(rule: Obj, pod: Obj) -> tuple[str, int] | None:
    """The first container whose exit code the rule's ``onExitCodes`` matches."""
    requirement = rule.get("onExitCodes") or {}
    values = set(requirement.get("values") or [])
    only = requirement.get("containerName")
    for name, code in _terminated(pod):
        if only and name != only:
            continue
        if requirement.get("operator") == "In" and code in values:
            return name, code
        if requirement.get("operator") == "NotIn" and code != 0 and code not in values:
            return name, code
    return None


def _condition_match(rule: Obj, pod: Obj) -> Obj | None:
    for pattern in rule.get("onPodConditions") or []:
        cond = condition(pod, pattern.get("type", ""))
        if cond and cond.get("status") == pattern.get("status", "True"):
            return pattern
    return None


def judge(policy: Obj | None, pod: Obj) -> Verdict:
    """The first matching rule's action for failed ``pod`` (``Count`` when no rule matches).

    ``FailIndex`` (per-index backoff) is treated as ``Count``.
    """
    md = pod["metadata"]
    for i, rule in enumerate((policy or {}).get("rules") or []):
        action = rule.get("action", "Count")
        action = "Count" if action == "FailIndex" else action
        if rule.get("onExitCodes"):
            match = _exit_code_match(rule, pod)
            if match:
                name, code = match
                return Verdict(
                    action,
                    f"Container {name} for pod {md.get('namespace')}/{md['name']} failed with exit code "
                    f"{code} matching {action} rule at index {i}",
                )
        elif rule.get("onPodConditions"):
            pattern = _condition_match(rule, pod)
            if pattern:
                return Verdict(
                    action,
                    f"Pod {md.get('namespace')}/{md['name']} has condition {pattern.get('type')} "
                    f"matching {action} rule at index {i}",
                )
    return Verdict("Count")


def finished_at(pod: Obj) -> datetime:
    """When the pod finished: its containers' latest finishedAt, else when it stopped being Ready."""
    status = pod.get("status") or {}
    stamps = []
    for key in ("initContainerStatuses", "containerStatuses"):
        for cs in status.get(key) or []:
            stamp = ((cs.get("state") or {}).get("terminated") or {}).get("finishedAt")
            if stamp:
                stamps.append(parse_time(stamp))
    if stamps:
        return max(stamps)
    ready = condition(pod, "Ready")
    stamp = (ready or {}).get("lastTransitionTime") or pod["metadata"].get("creationTimestamp")
    return parse_time(stamp)


def backoff(failures: int) -> float:
    """Seconds to wait before the next pod after ``failures`` consecutive failures (0 for none)."""
    if failures <= 0:
        return 0.0
    return min(BACKOFF_BASE * 2 ** (failures - 1), BACKOFF_MAX)


def retry_in(failed: list[Obj], succeeded: list[Obj], now: datetime) -> float:
    """Seconds until a new pod may start: failures since the last success set the backoff,
    counted from the latest failure (0 when a pod may start now)."""
    last_success = max((finished_at(p) for p in succeeded), default=None)
    recent = [finished_at(p) for p in failed]
    if last_success is not None:
        recent = [t for t in recent if t > last_success]
    if not recent:
        return 0.0
    wait = backoff(len(recent)) - (now - max(recent)).total_seconds()
    return max(0.0, wait)
