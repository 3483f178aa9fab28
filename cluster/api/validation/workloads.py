"""Deployments, ReplicaSets, Jobs and CronJobs: selectors, templates, counts, strategies, schedules."""

from __future__ import annotations

import re
import zoneinfo
from typing import Any

from cluster.api.validation.cron import schedule_error
from cluster.api.validation.errors import (
    as_dict,
    enum,
    forbidden,
    immutable,
    invalid,
    nonnegative,
    positive,
    required,
)
from cluster.api.validation.meta import canonical, validate_annotations, validate_labels
from cluster.api.validation.pods import validate_pod_template
from cluster.api.validation.selectors import is_empty, matches, validate_selector
from cluster.errors import Cause

_PERCENT = re.compile("[0-9]+%")
PERCENT_MESSAGE = (
    "a valid percent string must be a numeric string followed by an ending '%' "
    "(e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')"
)
CRONJOB_NAME_MAX = 52


def _selector_and_template(
    spec: dict, kind: str, restart_policies: tuple[str, ...], *, need: bool = True
) -> list[Cause]:
    out: list[Cause] = []
    selector = spec.get("selector")
    template = as_dict(spec.get("template"))
    if selector is None:
        if need:
            out.append(required("spec.selector"))
    else:
        out += validate_selector(selector, "spec.selector")
        if is_empty(selector):
            out.append(invalid("spec.selector", selector, f"empty selector is invalid for {kind}"))
        else:
            labels = as_dict(template.get("metadata")).get("labels") or {}
            if not matches(selector, labels):
                out.append(
                    invalid(
                        "spec.template.metadata.labels", labels, "`selector` does not match template `labels`"
                    )
                )
    if not template:
        out.append(required("spec.template"))
    else:
        out += validate_pod_template(template, "spec.template", restart_policies)
    return out


def _int_or_percent(value: Any, field: str) -> tuple[int | None, list[Cause]]:
    """The integer or percent number of ``value``, or None with errors."""
    if isinstance(value, str):
        if not _PERCENT.fullmatch(value):
            return None, [invalid(field, value, PERCENT_MESSAGE)]
        return int(value[:-1]), []
    if isinstance(value, int) and not isinstance(value, bool):
        return value, nonnegative(field, value)
    return None, []


def _strategy(strategy: Any) -> list[Cause]:
    strategy = as_dict(strategy)
    kind = strategy.get("type")
    out = enum("spec.strategy.type", kind, ("Recreate", "RollingUpdate"))
    rolling = strategy.get("rollingUpdate")
    if kind == "Recreate" and rolling is not None:
        out.append(
            forbidden(
                "spec.strategy.rollingUpdate", "may not be specified when strategy `type` is 'Recreate'"
            )
        )
    if kind == "RollingUpdate" and rolling is not None:
        rolling = as_dict(rolling)
        field = "spec.strategy.rollingUpdate"
        surge, surge_errors = _int_or_percent(rolling.get("maxSurge"), f"{field}.maxSurge")
        unavailable, unavailable_errors = _int_or_percent(
            rolling.get("maxUnavailable"), f"{field}.maxUnavailable"
        )
        out += surge_errors + unavailable_errors
        raw = rolling.get("maxUnavailable")
        if isinstance(raw, str) and unavailable is not None and unavailable > 100:
            out.append(invalid(f"{field}.maxUnavailable", raw, "must not be greater than 100%"))
        if surge == 0 and unavailable == 0:
            out.append(invalid(f"{field}.maxUnavailable", raw, "may not be 0 when `maxSurge` is 0"))
    return out


def validate_replicaset(obj: dict) -> list[Cause]:
    spec = as_dict(obj.get("spec"))
    out = nonnegative("spec.replicas", spec.get("replicas"))
    out += nonnegative("spec.minReadySeconds", spec.get("minReadySeconds"))
    out += _selector_and_template(spec, "replicaset", ("Always",))
    return out


def validate_deployment(obj: dict) -> list[Cause]:
    spec = as_dict(obj.get("spec"))
    out = nonnegative("spec.replicas", spec.get("replicas"))
    out += nonnegative("spec.minReadySeconds", spec.get("minReadySeconds"))
    out += nonnegative("spec.revisionHistoryLimit", spec.get("revisionHistoryLimit"))
    deadline, ready = spec.get("progressDeadlineSeconds"), spec.get("minReadySeconds") or 0
    if isinstance(deadline, int):
        out += positive("spec.progressDeadlineSeconds", deadline)
        if isinstance(ready, int) and 0 < deadline <= ready:
            out.append(
                invalid("spec.progressDeadlineSeconds", deadline, "must be greater than minReadySeconds")
            )
    out += _strategy(spec.get("strategy"))
    out += _selector_and_template(spec, "deployment", ("Always",))
    return out


def validate_selector_update(obj: dict, old: dict) -> list[Cause]:
    """Deployments and ReplicaSets (apps/v1): ``spec.selector`` never changes."""
    selector = as_dict(obj.get("spec")).get("selector")
    if canonical(selector) != canonical(as_dict(old.get("spec")).get("selector")):
        return [immutable("spec.selector", selector)]
    return []


def _job_spec(spec: dict, path: str = "spec") -> list[Cause]:
    out: list[Cause] = []
    for key in (
        "parallelism",
        "completions",
        "backoffLimit",
        "ttlSecondsAfterFinished",
        "backoffLimitPerIndex",
    ):
        out += nonnegative(f"{path}.{key}", spec.get(key))
    out += positive(f"{path}.activeDeadlineSeconds", spec.get("activeDeadlineSeconds"))
    mode = spec.get("completionMode")
    out += enum(f"{path}.completionMode", mode, ("NonIndexed", "Indexed"), need=False)
    if mode == "Indexed" and spec.get("completions") is None:
        out.append(required(f"{path}.completions", "when completion mode is Indexed"))
    out += enum(
        f"{path}.podReplacementPolicy",
        spec.get("podReplacementPolicy"),
        ("TerminatingOrFailed", "Failed"),
        need=False,
    )
    return out


def _prefixed(causes: list[Cause], prefix: str) -> list[Cause]:
    for cause in causes:
        if cause.field.startswith("spec"):
            cause.field = prefix + cause.field[len("spec") :]
    return causes


def validate_job(obj: dict) -> list[Cause]:
    spec = as_dict(obj.get("spec"))
    out = _job_spec(spec)
    out += _selector_and_template(spec, "job", ("OnFailure", "Never"), need=bool(spec.get("manualSelector")))
    return out


def validate_job_update(obj: dict, old: dict) -> list[Cause]:
    """A Job's selector, template and completion mode never change."""
    spec, old_spec = as_dict(obj.get("spec")), as_dict(old.get("spec"))
    out: list[Cause] = []
    for key in ("selector", "template", "completionMode"):
        if key in old_spec and canonical(spec.get(key)) != canonical(old_spec.get(key)):
            out.append(immutable(f"spec.{key}", spec.get(key)))
    return out


def validate_cronjob(obj: dict) -> list[Cause]:
    spec = as_dict(obj.get("spec"))
    out: list[Cause] = []
    name = as_dict(obj.get("metadata")).get("name")
    if isinstance(name, str) and len(name) > CRONJOB_NAME_MAX:
        out.append(invalid("metadata.name", name, f"must be no more than {CRONJOB_NAME_MAX} characters"))
    schedule = spec.get("schedule")
    if not schedule:
        out.append(required("spec.schedule"))
    elif isinstance(schedule, str):
        if re.match(r"\s*(CRON_)?TZ=", schedule):
            out.append(
                invalid(
                    "spec.schedule",
                    schedule,
                    "cannot use TZ or CRON_TZ in schedule, use timeZone field instead",
                )
            )
        else:
            problem = schedule_error(schedule)
            if problem:
                out.append(invalid("spec.schedule", schedule, problem))
    zone = spec.get("timeZone")
    if isinstance(zone, str):
        try:
            zoneinfo.ZoneInfo(zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            out.append(invalid("spec.timeZone", zone, f"unknown time zone {zone}"))
    out += enum("spec.concurrencyPolicy", spec.get("concurrencyPolicy"), ("Allow", "Forbid", "Replace"))
    for key in ("startingDeadlineSeconds", "successfulJobsHistoryLimit", "failedJobsHistoryLimit"):
        out += nonnegative(f"spec.{key}", spec.get(key))
    template = as_dict(spec.get("jobTemplate"))
    meta = as_dict(template.get("metadata"))
    out += validate_labels(meta.get("labels"), "spec.jobTemplate.metadata.labels")
    out += validate_annotations(meta.get("annotations"), "spec.jobTemplate.metadata.annotations")
    job_spec = as_dict(template.get("spec"))
    inner = _job_spec(job_spec)
    inner += _selector_and_template(
        job_spec, "job", ("OnFailure", "Never"), need=bool(job_spec.get("manualSelector"))
    )
    out += _prefixed(inner, "spec.jobTemplate.spec")
    return out
