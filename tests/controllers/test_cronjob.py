"""CronJob schedules (unit) and the CronJob controller through a real API server and control plane."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cluster.api.resources import lookup
from cluster.client.client import Client
from tasks.controllers.cronjob import job_name, missed_times
from tasks.controllers.cronjob_schedule import ScheduleError, parse, zone
from tests.e2e.scheduling import wait_for

CRONJOBS = lookup("batch", "v1", "cronjobs")
JOBS = lookup("batch", "v1", "jobs")
EVENTS = lookup("", "v1", "events")
SUCCEED = "kubeq.io/hollow-succeed-after-seconds"
Obj = dict[str, Any]


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def next_times(schedule: str, start: str, n: int = 3) -> list[str]:
    sched, t, out = parse(schedule), at(start), []
    for _ in range(n):
        t = sched.next_after(t)
        out.append(t.strftime("%Y-%m-%d %H:%M %a"))
    return out


# ---- the schedule parser -------------------------------------------------------------------------
def test_every_minute_and_steps() -> None:
    assert next_times("*/1 * * * *", "2024-03-10 10:15:30") == [
        "2024-03-10 10:16 Sun",
        "2024-03-10 10:17 Sun",
        "2024-03-10 10:18 Sun",
    ]
    assert next_times("*/20 9-10 * * *", "2024-03-10 10:15:00", 4) == [
        "2024-03-10 10:20 Sun",
        "2024-03-10 10:40 Sun",
        "2024-03-11 09:00 Mon",
        "2024-03-11 09:20 Mon",
    ]
    assert next_times("5-20/5 * * * *", "2024-03-10 10:15:00") == [
        "2024-03-10 10:20 Sun",
        "2024-03-10 11:05 Sun",
        "2024-03-10 11:10 Sun",
    ]


def test_lists_names_and_macros() -> None:
    assert next_times("0 12 * jan,jul mon-wed", "2024-06-30 00:00:00", 4) == [
        "2024-07-01 12:00 Mon",
        "2024-07-02 12:00 Tue",
        "2024-07-03 12:00 Wed",
        "2024-07-08 12:00 Mon",
    ]
    assert next_times("@hourly", "2024-03-10 10:15:00", 2) == ["2024-03-10 11:00 Sun", "2024-03-10 12:00 Sun"]
    assert next_times("@daily", "2024-12-31 10:15:00", 1) == ["2025-01-01 00:00 Wed"]
    assert next_times("@weekly", "2024-03-10 10:15:00", 1) == ["2024-03-17 00:00 Sun"]
    assert next_times("@monthly", "2024-01-31 10:15:00", 2) == [
        "2024-02-01 00:00 Thu",
        "2024-03-01 00:00 Fri",
    ]
    assert next_times("@yearly", "2024-03-10 10:15:00", 1) == ["2025-01-01 00:00 Wed"]
    assert next_times("0 0 * * 7", "2024-03-10 10:15:00", 1) == ["2024-03-17 00:00 Sun"]  # 7 is Sunday too


def test_day_of_month_or_day_of_week_when_both_are_restricted() -> None:
    # the 13th or any Friday
    assert next_times("0 0 13 * fri", "2024-09-01 00:00:00", 3) == [
        "2024-09-06 00:00 Fri",
        "2024-09-13 00:00 Fri",
        "2024-09-20 00:00 Fri",
    ]
    assert next_times("0 0 29 2 *", "2024-03-01 00:00:00", 1) == ["2028-02-29 00:00 Tue"]
    assert parse("0 0 30 2 *").next_after(at("2024-01-01 00:00:00")) is None


def test_time_zone_and_every() -> None:
    tokyo = at("2024-03-10 00:30:00").astimezone(zone("Asia/Tokyo"))  # 09:30 in Tokyo
    fired = parse("0 10 * * *").next_after(tokyo)
    assert fired.astimezone(UTC) == at("2024-03-10 01:00:00")
    assert parse("@every 90s").next_after(at("2024-03-10 00:00:00")) == at("2024-03-10 00:01:30")


@pytest.mark.parametrize(
    "bad",
    ["* * * *", "60 * * * *", "* 24 * * *", "* * 0 * *", "*/0 * * * *", "5-1 * * * *", "@often", "x * * * *"],
)
def test_bad_schedules_are_refused(bad: str) -> None:
    with pytest.raises(ScheduleError):
        parse(bad)


def test_job_names_and_missed_times() -> None:
    assert (
        job_name("hello", at("2024-03-10 10:16:00"))
        == f"hello-{int(at('2024-03-10 10:16:00').timestamp()) // 60}"
    )
    latest, count = missed_times(parse("*/10 * * * *"), at("2024-03-10 10:05:00"), at("2024-03-10 11:02:00"))
    assert (latest, count) == (at("2024-03-10 11:00:00"), 6)
    assert missed_times(parse("@hourly"), at("2024-03-10 10:05:00"), at("2024-03-10 10:59:00")) == (None, 0)


# ---- the controller ------------------------------------------------------------------------------
def cronjob_body(name: str, schedule: str, *, succeed: float | None = 1, **spec: Any) -> Obj:
    annotations = {SUCCEED: str(succeed)} if succeed is not None else {}
    pod = {
        "metadata": {"annotations": annotations},
        "spec": {"restartPolicy": "Never", "containers": [{"name": "work", "image": "busybox"}]},
    }
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": name},
        "spec": {
            "schedule": schedule,
            "jobTemplate": {"metadata": {"labels": {"app": name}}, "spec": {"template": pod}},
            **spec,
        },
    }


def backdate(client: Client, ns: str, name: str, last: datetime) -> None:
    """Pretend the CronJob last ran at ``last`` (its status), so the runs since then are missed."""
    cronjob = client.get(CRONJOBS, name, ns)
    cronjob["status"] = {"lastScheduleTime": last.strftime("%Y-%m-%dT%H:%M:%SZ")}
    client.update(cronjob, subresource="status")


def jobs(client: Client, ns: str) -> dict[str, Obj]:
    return {j["metadata"]["name"]: j for j in client.list(JOBS, ns)["items"]}


def reasons(client: Client, ns: str, name: str) -> set[str]:
    items = client.list(EVENTS, ns)["items"]
    return {e["reason"] for e in items if e["involvedObject"]["name"] == name}


def active_names(client: Client, ns: str, name: str) -> list[str]:
    return [a["name"] for a in client.get(CRONJOBS, name, ns)["status"].get("active") or []]


def hour_floor(t: datetime) -> datetime:
    return t.replace(minute=0, second=0, microsecond=0)


def test_missed_run_starts_at_once_and_concurrency_policy_applies(client: Client, ns: str) -> None:
    created = client.create(
        cronjob_body("hourly", "0 * * * *", succeed=None, concurrencyPolicy="Forbid", suspend=True), ns
    )
    ref = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "name": "hourly",
        "uid": created["metadata"]["uid"],
        "controller": True,
    }
    manual = cronjob_body("x", "* * * * *", succeed=None)["spec"]["jobTemplate"]["spec"]
    client.create(
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": "manual", "ownerReferences": [ref]},
            "spec": manual,
        },
        ns,
    )
    backdate(client, ns, "hourly", datetime.now(UTC) - timedelta(hours=3))
    client.patch(CRONJOBS, "hourly", {"spec": {"suspend": False}}, ns)
    # Forbid: a Job of this CronJob is running, so the missed run is not started
    wait_for(lambda: "JobAlreadyActive" in reasons(client, ns, "hourly"), 30, "JobAlreadyActive")
    wait_for(lambda: active_names(client, ns, "hourly") == ["manual"], 30, "the manual job in status.active")
    assert list(jobs(client, ns)) == ["manual"]
    # Replace: the running Job goes, the missed run starts under its scheduled name
    client.patch(CRONJOBS, "hourly", {"spec": {"concurrencyPolicy": "Replace"}}, ns)
    expected = job_name("hourly", hour_floor(datetime.now(UTC)))
    wait_for(lambda: list(jobs(client, ns)) == [expected], 30, f"{expected} to replace the manual job")
    cronjob = wait_for(
        lambda: (c := client.get(CRONJOBS, "hourly", ns))["status"].get("active") and c, 30, "active"
    )
    assert [a["name"] for a in cronjob["status"]["active"]] == [expected]
    assert cronjob["status"]["lastScheduleTime"] == hour_floor(datetime.now(UTC)).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )
    job = jobs(client, ns)[expected]
    assert job["metadata"]["labels"]["app"] == "hourly"
    assert job["metadata"]["ownerReferences"][0]["uid"] == created["metadata"]["uid"]
    assert {"SuccessfulCreate", "SuccessfulDelete"} <= reasons(client, ns, "hourly")


def test_starting_deadline_skips_a_run_missed_too_long_ago(client: Client, ns: str) -> None:
    client.create(cronjob_body("yearly", "0 0 1 1 *", startingDeadlineSeconds=60, suspend=True), ns)
    backdate(client, ns, "yearly", datetime.now(UTC) - timedelta(days=400))
    client.patch(CRONJOBS, "yearly", {"spec": {"suspend": False}}, ns)
    time.sleep(3)
    assert not jobs(client, ns)  # this year's run is long past its 60 s starting deadline
    client.patch(CRONJOBS, "yearly", {"spec": {"startingDeadlineSeconds": None}}, ns)
    new_year = datetime.now(UTC).replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0)
    wait_for(lambda: list(jobs(client, ns)) == [job_name("yearly", new_year)], 30, "the missed run")


def test_cronjob_runs_on_schedule_and_keeps_history(client: Client, ns: str) -> None:
    client.create(cronjob_body("minutely", "*/1 * * * *", successfulJobsHistoryLimit=1, suspend=True), ns)
    backdate(client, ns, "minutely", datetime.now(UTC) - timedelta(minutes=3))
    client.patch(CRONJOBS, "minutely", {"spec": {"suspend": False}}, ns)
    first = wait_for(lambda: list(jobs(client, ns)), 30, "the missed run")[0]
    first_minute = int(first.rsplit("-", 1)[1])
    second = f"minutely-{first_minute + 1}"

    def history() -> Obj | None:
        cronjob = client.get(CRONJOBS, "minutely", ns)
        done = cronjob["status"].get("lastSuccessfulTime")
        return (
            cronjob
            if list(jobs(client, ns)) == [second] and not cronjob["status"].get("active") and done
            else None
        )

    cronjob = wait_for(history, 90, f"{second} to run on schedule and replace {first} in the history")
    assert cronjob["status"]["lastScheduleTime"] == datetime.fromtimestamp(
        (first_minute + 1) * 60, UTC
    ).strftime("%Y-%m-%dT%H:%M:%SZ")
    job = jobs(client, ns)[second]
    assert any(c["type"] == "Complete" and c["status"] == "True" for c in job["status"]["conditions"])
    assert cronjob["status"]["lastSuccessfulTime"] >= cronjob["status"]["lastScheduleTime"]
    assert {"SuccessfulCreate", "SawCompletedJob", "SuccessfulDelete"} <= reasons(client, ns, "minutely")
