"""A Job's pods sorted into what the Job controller counts: active, succeeded, failed, ignored.

Counting rule (Kubernetes' behaviour before pod finalizers): every count is taken afresh from the
pods that exist, so a finished pod is counted exactly once however often the Job is synced.
Counts never drop below what the Job's status already reports, so deleting finished pods by hand
does not make the Job redo work (a deleted pod's count is kept, not re-earned).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tasks.controllers.job.failure import judge
from tasks.controllers.job.indexed import completion_index, parse_indexes
from tasks.controllers.pods import is_active, is_ready, is_terminating, phase

Obj = dict[str, Any]


@dataclass
class Census:
    """The pods of one Job, sorted; ``fail_job`` holds a FailJob rule's message when one matched."""

    active: list[Obj] = field(default_factory=list)
    terminating: list[Obj] = field(default_factory=list)
    succeeded: list[Obj] = field(default_factory=list)
    failed: list[Obj] = field(default_factory=list)  # failed pods that count toward backoffLimit
    ignored: list[Obj] = field(default_factory=list)  # failed pods an Ignore rule excuses
    fail_job: str | None = None
    succeeded_count: int = 0
    failed_count: int = 0
    completed_indexes: set[int] = field(default_factory=set)

    @property
    def ready(self) -> int:
        return sum(1 for pod in self.active if is_ready(pod))


def take(job: Obj, pods: list[Obj]) -> Census:
    """Sort ``pods`` (the Job's own) and count them against the Job's recorded status."""
    spec, status = job.get("spec") or {}, job.get("status") or {}
    policy = spec.get("podFailurePolicy")
    census = Census()
    for pod in sorted(pods, key=lambda p: p["metadata"].get("creationTimestamp") or ""):
        state = phase(pod)
        if state == "Succeeded":
            census.succeeded.append(pod)
        elif state == "Failed":
            verdict = judge(policy, pod)
            if verdict.action == "Ignore":
                census.ignored.append(pod)
            else:
                census.failed.append(pod)
                if verdict.action == "FailJob" and census.fail_job is None:
                    census.fail_job = verdict.message
        elif is_terminating(pod):
            census.terminating.append(pod)
        elif is_active(pod):
            census.active.append(pod)
    if spec.get("completionMode") == "Indexed":
        completions = spec.get("completions") or 0
        done = {completion_index(p) for p in census.succeeded} | parse_indexes(status.get("completedIndexes"))
        census.completed_indexes = {i for i in done if i is not None and 0 <= i < completions}
        census.succeeded_count = len(census.completed_indexes)
    else:
        census.succeeded_count = max(len(census.succeeded), status.get("succeeded") or 0)
    census.failed_count = max(len(census.failed), status.get("failed") or 0)
    return census
