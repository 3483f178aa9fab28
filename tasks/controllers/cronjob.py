"""The CronJob controller: create a Job at each scheduled time, track it, prune old Jobs.

``sync(key)`` re-reads the CronJob and the Jobs it controls, records which are still running
(``status.active``) and when one last succeeded (``lastSuccessfulTime``), deletes finished Jobs past
``successfulJobsHistoryLimit``/``failedJobsHistoryLimit``, and then, unless suspended, starts the
Job of the most recent scheduled time it has not run yet — named ``<cronjob>-<minutes since epoch>``,
skipped if older than ``startingDeadlineSeconds``, subject to ``concurrencyPolicy`` (Allow, Forbid:
skip while one runs, Replace: delete the running ones first). It returns the seconds until the next
scheduled time, so the work queue runs it again then. Times are evaluated in ``spec.timeZone``
(UTC when unset).
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

from cluster import errors
from cluster.api.resources import lookup
from tasks.controllers import cronjob_schedule
from tasks.controllers.base import KeyedController, owned_by, owner_keys, owner_reference
from tasks.controllers.job.status import finish_time, is_true, stamp
from tasks.controllers.pods import parse_time
from tasks.runtime.controller import Context, Watch, own_key

Obj = dict[str, Any]
CRONJOBS = lookup("batch", "v1", "cronjobs")
JOBS = lookup("batch", "v1", "jobs")
SCHEDULED_ANNOTATION = "batch.kubernetes.io/cronjob-scheduled-timestamp"
MAX_MISSED = 100  # more missed start times than this earns a TooManyMissedTimes warning
SLACK = 0.1  # seconds past a scheduled time to run again at (never a hair early)


def job_name(cronjob: str, scheduled: datetime) -> str:
    """The Job name of the run scheduled at ``scheduled``: ``<cronjob>-<minutes since the epoch>``."""
    return f"{cronjob}-{int(scheduled.timestamp() // 60)}"


def missed_times(
    schedule: cronjob_schedule.Schedule, earliest: datetime, now: datetime
) -> tuple[datetime | None, int]:
    """(the latest scheduled time in (earliest, now], how many there were)."""
    latest, count = None, 0
    t = schedule.next_after(earliest)
    while t is not None and t <= now:
        latest, count = t, count + 1
        if count > 100_000:
            break
        t = schedule.next_after(t)
    return latest, count


def _job_ref(job: Obj) -> Obj:
    md = job["metadata"]
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "name": md["name"],
        "namespace": md["namespace"],
        "uid": md["uid"],
        "resourceVersion": md.get("resourceVersion", ""),
    }


def _finished(job: Obj) -> str | None:
    status = job.get("status") or {}
    for kind in ("Complete", "Failed"):
        if is_true(status, kind):
            return kind
    return None


class CronJobController(KeyedController):
    """Kubernetes' cronjob controller (v2), one CronJob per key."""

    name = "cronjob"
    resource = CRONJOBS
    watches = (Watch("cronjobs.batch", own_key), Watch("jobs.batch", owner_keys("CronJob")))

    def sync(self, key: str, ctx: Context) -> float | None:
        cronjob = self.get(ctx, key)
        if cronjob is None or cronjob["metadata"].get("deletionTimestamp"):
            return None
        md, spec = cronjob["metadata"], cronjob.get("spec") or {}
        status = copy.deepcopy(cronjob.get("status") or {})
        jobs = [j for j in ctx.client.list(JOBS, md["namespace"]).get("items", []) if owned_by(j, cronjob)]
        running = [j for j in jobs if not _finished(j) and not j["metadata"].get("deletionTimestamp")]
        self._track(ctx, cronjob, status, jobs)
        self._prune(ctx, cronjob, jobs)
        now = datetime.now(UTC)
        requeue: float | None = None
        if not spec.get("suspend"):
            try:
                schedule = cronjob_schedule.parse(spec.get("schedule", ""))
                zone = cronjob_schedule.zone(spec.get("timeZone"))
            except cronjob_schedule.ScheduleError as exc:
                self.event(ctx, cronjob, "Warning", "UnparseableSchedule", f"unparseable schedule: {exc}")
                schedule = None
            if schedule is not None:
                self._maybe_start(ctx, cronjob, status, running, schedule, now.astimezone(zone))
                upcoming = schedule.next_after(now.astimezone(zone))
                if upcoming is not None:
                    requeue = max(0.0, (upcoming - now).total_seconds()) + SLACK
        if not status.get("active"):
            status.pop("active", None)
        if status != (cronjob.get("status") or {}):
            ctx.client.update({**cronjob, "status": status}, subresource="status")
        return requeue

    # ---- bookkeeping -------------------------------------------------------------------------
    def _track(self, ctx: Context, cronjob: Obj, status: Obj, jobs: list[Obj]) -> None:
        """``status.active``: the running Jobs; ``lastSuccessfulTime``: the latest completion."""
        before = {ref.get("uid") for ref in status.get("active") or []}
        status["active"] = [
            _job_ref(j) for j in jobs if not _finished(j) and not j["metadata"].get("deletionTimestamp")
        ]
        for job in jobs:
            kind = _finished(job)
            if kind and job["metadata"]["uid"] in before:
                name = job["metadata"]["name"]
                self.event(
                    ctx, cronjob, "Normal", "SawCompletedJob", f"Saw completed job: {name}, status: {kind}"
                )
            if kind == "Complete":
                done = finish_time(job)
                last = status.get("lastSuccessfulTime")
                if done is not None and (last is None or parse_time(last) < done):
                    status["lastSuccessfulTime"] = stamp(done)

    def _prune(self, ctx: Context, cronjob: Obj, jobs: list[Obj]) -> None:
        """Delete the oldest finished Jobs beyond the history limits."""
        spec = cronjob.get("spec") or {}
        limits = {
            "Complete": spec.get("successfulJobsHistoryLimit", 3),
            "Failed": spec.get("failedJobsHistoryLimit", 1),
        }
        for kind, limit in limits.items():
            if limit is None:
                continue
            done = [j for j in jobs if _finished(j) == kind and not j["metadata"].get("deletionTimestamp")]
            done.sort(
                key=lambda j: (j.get("status") or {}).get("startTime") or j["metadata"]["creationTimestamp"]
            )
            for job in done[: max(0, len(done) - limit)]:
                self._delete_job(ctx, cronjob, job)

    def _delete_job(self, ctx: Context, cronjob: Obj, job: Obj) -> None:
        name = job["metadata"]["name"]
        try:
            ctx.client.delete(JOBS, name, job["metadata"]["namespace"], propagation_policy="Background")
        except errors.NotFound:
            return
        self.event(ctx, cronjob, "Normal", "SuccessfulDelete", f"Deleted job {name}")

    # ---- scheduling --------------------------------------------------------------------------
    def _maybe_start(
        self,
        ctx: Context,
        cronjob: Obj,
        status: Obj,
        running: list[Obj],
        schedule: cronjob_schedule.Schedule,
        now: datetime,
    ) -> None:
        """Start the Job of the latest unrun scheduled time, if policy and deadline allow."""
        md, spec = cronjob["metadata"], cronjob.get("spec") or {}
        last = status.get("lastScheduleTime") or md["creationTimestamp"]
        earliest = parse_time(last).astimezone(now.tzinfo)
        deadline = spec.get("startingDeadlineSeconds")
        if deadline is not None:
            earliest = max(earliest, now - timedelta(seconds=deadline))
        scheduled, missed = missed_times(schedule, earliest, now)
        if scheduled is None:
            return
        if missed > MAX_MISSED:
            self.event(
                ctx,
                cronjob,
                "Warning",
                "TooManyMissedTimes",
                "too many missed start times. Set or decrease .spec.startingDeadlineSeconds or check clock skew",
            )
        if deadline is not None and (now - scheduled).total_seconds() > deadline:
            self.event(
                ctx, cronjob, "Warning", "MissSchedule", f"Missed scheduled time to start a job: {scheduled}"
            )
            return
        name = job_name(md["name"], scheduled)
        if any(j["metadata"]["name"] == name for j in running):
            status["lastScheduleTime"] = stamp(scheduled.astimezone(UTC))
            return
        policy = spec.get("concurrencyPolicy", "Allow")
        if running and policy == "Forbid":
            self.event(
                ctx,
                cronjob,
                "Normal",
                "JobAlreadyActive",
                "Not starting job because prior execution is running",
            )
            return
        if running and policy == "Replace":
            for job in running:
                self._delete_job(ctx, cronjob, job)
            status["active"] = []
        created = self._create_job(ctx, cronjob, name, scheduled)
        if created is not None:
            status.setdefault("active", []).append(_job_ref(created))
        status["lastScheduleTime"] = stamp(scheduled.astimezone(UTC))

    def _create_job(self, ctx: Context, cronjob: Obj, name: str, scheduled: datetime) -> Obj | None:
        """Create the Job ``name`` from the template; None when it already existed."""
        md = cronjob["metadata"]
        template = copy.deepcopy((cronjob.get("spec") or {}).get("jobTemplate") or {})
        tmd = template.get("metadata") or {}
        body = {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {
                "name": name,
                "namespace": md["namespace"],
                "labels": dict(tmd.get("labels") or {}),
                "annotations": {
                    **(tmd.get("annotations") or {}),
                    SCHEDULED_ANNOTATION: scheduled.isoformat().replace("+00:00", "Z"),
                },
                "ownerReferences": [
                    owner_reference({"apiVersion": "batch/v1", "kind": "CronJob", **cronjob})
                ],
            },
            "spec": template.get("spec") or {},
        }
        try:
            created = ctx.client.create(body, md["namespace"])
        except errors.AlreadyExists:
            return None
        self.event(ctx, cronjob, "Normal", "SuccessfulCreate", f"Created job {name}")
        return created
