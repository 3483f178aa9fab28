"""The Job controller: run a Job's pods to completion, count them, and finish the Job.

``sync(key)`` re-reads the Job and its pods, then in this order: a finished Job only waits for its
``ttlSecondsAfterFinished`` and is deleted (background propagation); a Job past its limits
(a FailJob podFailurePolicy rule, more failed pods than ``backoffLimit``, ``activeDeadlineSeconds``)
loses its active pods and fails; a Job with its completions done completes; a suspended Job loses its
active pods; otherwise pods are created (after the retry backoff, 10 s doubling to 6 min, when pods
failed) or removed to match parallelism and completions. Status and conditions are written last.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from cluster import errors
from cluster.api.resources import lookup
from tasks.controllers.base import KeyedController, owner_keys
from tasks.controllers.job import census as census_mod
from tasks.controllers.job import manage
from tasks.controllers.job.census import Census
from tasks.controllers.job.failure import retry_in
from tasks.controllers.job.indexed import format_indexes
from tasks.controllers.job.status import finish_time, is_finished, is_true, set_condition, stamp
from tasks.controllers.pods import is_ready, parse_time
from tasks.runtime.controller import Context, Watch, own_key

Obj = dict[str, Any]
JOBS = lookup("batch", "v1", "jobs")

BACKOFF_MESSAGE = "Job has reached the specified backoff limit"
DEADLINE_MESSAGE = "Job was active longer than specified deadline"


def _min(a: float | None, b: float | None) -> float | None:
    values = [v for v in (a, b) if v is not None]
    return min(values) if values else None


class JobController(KeyedController):
    """Kubernetes' job controller, one Job per key."""

    name = "job"
    resource = JOBS
    watches = (
        Watch("jobs.batch", own_key),
        Watch("pods", owner_keys("Job")),
    )

    def sync(self, key: str, ctx: Context) -> float | None:
        job = self.get(ctx, key)
        if job is None or job["metadata"].get("deletionTimestamp"):
            return None
        now = datetime.now(UTC)
        if is_finished(job):
            return self._expire(ctx, job, now)
        spec = job.get("spec") or {}
        status = copy.deepcopy(job.get("status") or {})
        pods = manage.job_pods(ctx.client, job)
        census = census_mod.take(job, pods)
        suspended = bool(spec.get("suspend"))
        if not suspended and is_true(status, "Suspended"):
            set_condition(status, "Suspended", "False", "JobResumed", "Job resumed", now)
            status["startTime"] = stamp(now)
            self.event(ctx, job, "Normal", "Resumed", "Job resumed")
        requeue: float | None = None
        failure = self._failure(spec, status, census, now, suspended)
        if failure is not None:
            reason, message = failure
            self._delete(ctx, job, census.active)
            self._counts(status, spec, census, active=[], extra_failed=len(census.active))
            set_condition(status, "FailureTarget", "True", reason, message, now)
            set_condition(status, "Failed", "True", reason, message, now)
            self.event(ctx, job, "Warning", reason, message)
        elif self._done(spec, census):
            self._delete(ctx, job, census.active)
            self._counts(status, spec, census, active=[])
            status["completionTime"] = stamp(now)
            message = "Reached expected number of succeeded pods"
            set_condition(status, "SuccessCriteriaMet", "True", "CompletionsReached", message, now)
            set_condition(status, "Complete", "True", "CompletionsReached", message, now)
            self.event(ctx, job, "Normal", "Completed", "Job completed")
        elif suspended:
            self._delete(ctx, job, census.active)
            self._counts(status, spec, census, active=[])
            status.pop("startTime", None)
            if set_condition(status, "Suspended", "True", "JobSuspended", "Job suspended", now):
                self.event(ctx, job, "Normal", "Suspended", "Job suspended")
        else:
            status.setdefault("startTime", stamp(now))
            active, requeue = self._run(ctx, job, census, now)
            self._counts(status, spec, census, active=active)
            deadline = spec.get("activeDeadlineSeconds")
            if deadline is not None:
                left = deadline - (now - parse_time(status["startTime"])).total_seconds()
                requeue = _min(requeue, max(left, 0.0) + 0.05)
        if status != (job.get("status") or {}):
            job = ctx.client.update({**job, "status": status}, subresource="status")
        if is_finished(job):
            return self._expire(ctx, job, now)
        return requeue

    # ---- decisions ---------------------------------------------------------------------------
    @staticmethod
    def _failure(
        spec: Obj, status: Obj, census: Census, now: datetime, suspended: bool
    ) -> tuple[str, str] | None:
        """(reason, message) when the Job must fail now, else None."""
        if census.fail_job is not None:
            return "PodFailurePolicy", census.fail_job
        limit = spec.get("backoffLimit")
        if census.failed_count > (6 if limit is None else limit):
            return "BackoffLimitExceeded", BACKOFF_MESSAGE
        deadline, started = spec.get("activeDeadlineSeconds"), status.get("startTime")
        if deadline is not None and started and not suspended:
            if (now - parse_time(started)).total_seconds() >= deadline:
                return "DeadlineExceeded", DEADLINE_MESSAGE
        return None

    @staticmethod
    def _done(spec: Obj, census: Census) -> bool:
        completions = spec.get("completions")
        if completions is None:  # work queue: one success and nothing left running
            return census.succeeded_count > 0 and not census.active
        return census.succeeded_count >= completions

    def _run(self, ctx: Context, job: Obj, census: Census, now: datetime) -> tuple[list[Obj], float | None]:
        """Create or delete pods toward the wanted set; (active pods after, requeue delay or None)."""
        spec = job["spec"]
        hold = spec.get("podReplacementPolicy") == "Failed"
        if spec.get("completionMode") == "Indexed":
            indexes, doomed = manage.plan_indexed(spec, census, hold)
            slots: list[int | None] = list(indexes)
        else:
            busy = len(census.active) + (len(census.terminating) if hold else 0)
            count, doomed = manage.plan_non_indexed(spec, census, busy)
            slots = [None] * count
        self._delete(ctx, job, doomed)
        active = [p for p in census.active if p not in doomed]
        if not slots:
            return active, None
        wait = retry_in(census.failed, census.succeeded, now)
        if wait > 0:
            return active, wait + 0.05
        created: list[Obj] = []

        def on_created(pod: Obj) -> None:
            created.append(pod)
            self.event(ctx, job, "Normal", "SuccessfulCreate", f"Created pod: {pod['metadata']['name']}")

        manage.create(ctx.client, job, slots, on_created)
        return active + created, None

    # ---- writes ------------------------------------------------------------------------------
    def _delete(self, ctx: Context, job: Obj, pods: list[Obj]) -> None:
        def on_deleted(pod: Obj) -> None:
            self.event(ctx, job, "Normal", "SuccessfulDelete", f"Deleted pod: {pod['metadata']['name']}")

        manage.delete(ctx.client, pods, on_deleted)

    @staticmethod
    def _counts(status: Obj, spec: Obj, census: Census, active: list[Obj], extra_failed: int = 0) -> None:
        """Fill the counters of ``status`` from the census and the pods left active."""
        status["active"] = len(active)
        status["ready"] = sum(1 for pod in active if pod in census.active and is_ready(pod))
        status["terminating"] = len(census.terminating)
        status["succeeded"] = census.succeeded_count
        status["failed"] = census.failed_count + extra_failed
        status.setdefault("uncountedTerminatedPods", {})
        if spec.get("completionMode") == "Indexed":
            text = format_indexes(census.completed_indexes)
            if text:
                status["completedIndexes"] = text
            else:
                status.pop("completedIndexes", None)
        for name in ("active", "ready", "succeeded", "failed", "terminating"):
            if not status[name] and name not in ("ready", "terminating"):
                status.pop(name)

    def _expire(self, ctx: Context, job: Obj, now: datetime) -> float | None:
        """Delete a finished Job once its TTL is up; otherwise the seconds left (None without TTL)."""
        ttl = (job.get("spec") or {}).get("ttlSecondsAfterFinished")
        finished = finish_time(job)
        if ttl is None or finished is None:
            return None
        left = ttl - (now - finished).total_seconds()
        if left > 0:
            return left + 0.05
        md = job["metadata"]
        try:
            ctx.client.delete(JOBS, md["name"], md["namespace"], propagation_policy="Background")
        except errors.NotFound:
            pass
        return None
