"""PrioritySort: higher ``spec.priority`` first; within a priority the nearest deadline, then queue time."""

from __future__ import annotations

from typing import Any

from tasks.scheduler.framework.podinfo import PodInfo

NO_DEADLINE = float("inf")


class PrioritySort:
    """Deadline-aware priority order. A pod's deadline is the earlier of creationTimestamp +
    ``spec.activeDeadlineSeconds`` and the ``kubeq.io/deadline`` annotation; pods without one go last."""

    name = "PrioritySort"

    def __init__(self, args: dict[str, Any] | None = None) -> None:
        self.deadline_aware = bool((args or {}).get("deadlineAware", True))

    def sort_key(self, pod: PodInfo) -> tuple[int, float, float]:
        deadline = pod.deadline if self.deadline_aware and pod.deadline is not None else NO_DEADLINE
        return (-pod.priority, deadline, pod.queued_at)

    def less(self, a: PodInfo, b: PodInfo) -> bool:
        return self.sort_key(a) < self.sort_key(b)
