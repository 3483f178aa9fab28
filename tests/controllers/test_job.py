"""The Job controller through a real API server, control plane and hollow nodes."""

from __future__ import annotations

import threading
import time
from typing import Any

from cluster import errors
from cluster.api.resources import lookup
from cluster.client.client import Client
from tasks.controllers.job.indexed import format_indexes, parse_indexes
from tests.controllers.harness import kubectl
from tests.e2e.scheduling import Cluster, wait_for

JOBS = lookup("batch", "v1", "jobs")
PODS = lookup("", "v1", "pods")
EVENTS = lookup("", "v1", "events")
NAMESPACES = lookup("", "v1", "namespaces")
SUCCEED = "kubeq.io/hollow-succeed-after-seconds"
EXIT_CODE = "kubeq.io/hollow-exit-code"
INDEX = "batch.kubernetes.io/job-completion-index"
Obj = dict[str, Any]


def job_body(name: str, *, succeed: float | None = 1, exit_code: int | None = None, **spec: Any) -> Obj:
    annotations = {}
    if succeed is not None:
        annotations[SUCCEED] = str(succeed)
    if exit_code is not None:
        annotations[EXIT_CODE] = str(exit_code)
    template = {
        "metadata": {"annotations": annotations},
        "spec": {"restartPolicy": "Never", "containers": [{"name": "work", "image": "busybox"}]},
    }
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {"template": template, **spec},
    }


def condition(job: Obj, kind: str) -> Obj | None:
    for cond in (job.get("status") or {}).get("conditions") or []:
        if cond["type"] == kind and cond["status"] == "True":
            return cond
    return None


def wait_condition(client: Client, ns: str, name: str, kind: str, timeout: float = 60) -> Obj:
    def check() -> Obj | None:
        job = client.get(JOBS, name, ns)
        return job if condition(job, kind) else None

    return wait_for(check, timeout, f"job {name} to be {kind}")


def pods(client: Client, ns: str) -> list[Obj]:
    return client.list(PODS, ns)["items"]


def reasons(client: Client, ns: str, name: str) -> set[str]:
    items = client.list(EVENTS, ns)["items"]
    return {e["reason"] for e in items if e["involvedObject"]["name"] == name}


class ActiveWatcher:
    """Watches a namespace's pods and remembers the most ever running (not finished, not deleted) at once."""

    def __init__(self, client: Client, ns: str) -> None:
        self.active: set[str] = set()
        self.most = 0
        self.thread = threading.Thread(target=self._run, args=(client, ns), daemon=True)
        self.thread.start()

    def _run(self, client: Client, ns: str) -> None:
        for event in client.watch(PODS, ns, timeout_seconds=90):
            pod = event["object"]
            name = pod["metadata"]["name"]
            finished = (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")
            if event["type"] == "DELETED" or finished or pod["metadata"].get("deletionTimestamp"):
                self.active.discard(name)
            else:
                self.active.add(name)
            self.most = max(self.most, len(self.active))


def test_indexes_are_written_as_compressed_intervals() -> None:
    assert format_indexes([]) == ""
    assert format_indexes([0, 1, 2]) == "0-2"
    assert format_indexes([5, 1, 3, 4]) == "1,3-5"
    assert format_indexes([0, 1, 3, 4, 5, 7]) == "0,1,3-5,7"
    assert parse_indexes("1,3-5") == {1, 3, 4, 5}


def test_parallel_job_completes_with_at_most_parallelism_active(
    client: Client, cluster: Cluster, ns: str
) -> None:
    watcher = ActiveWatcher(client, ns)
    time.sleep(0.2)
    client.create(job_body("five", completions=5, parallelism=2), ns)
    job = wait_condition(client, ns, "five", "Complete")
    status = job["status"]
    assert status["succeeded"] == 5 and not status.get("failed") and not status.get("active")
    assert status["startTime"] <= status["completionTime"]
    assert condition(job, "Complete")["reason"] == "CompletionsReached"
    assert watcher.most == 2
    finished = [p for p in pods(client, ns) if p["status"]["phase"] == "Succeeded"]
    assert len(finished) == 5  # finished pods stay, as in Kubernetes
    pod = finished[0]
    labels = pod["metadata"]["labels"]
    assert labels["batch.kubernetes.io/job-name"] == "five" and labels["job-name"] == "five"
    assert labels["batch.kubernetes.io/controller-uid"] == job["metadata"]["uid"]
    assert pod["metadata"]["ownerReferences"][0]["kind"] == "Job"
    table = kubectl(cluster, "get", "jobs", "-n", ns).stdout
    assert table.split("\n")[0].split() == ["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"]
    assert table.split("\n")[1].split()[:3] == ["five", "Complete", "5/5"]
    assert {"SuccessfulCreate", "Completed"} <= reasons(client, ns, "five")
    described = kubectl(cluster, "describe", "job", "five", "-n", ns).stdout
    assert "0 Active (0 Ready) / 5 Succeeded / 0 Failed" in described


def test_failing_job_stops_at_backoff_limit_after_a_backoff(client: Client, ns: str) -> None:
    client.create(job_body("fails", exit_code=3, backoffLimit=1), ns)
    job = wait_condition(client, ns, "fails", "Failed", timeout=60)
    assert condition(job, "Failed")["reason"] == "BackoffLimitExceeded"
    assert condition(job, "Failed")["message"] == "Job has reached the specified backoff limit"
    assert job["status"]["failed"] == 2 and not job["status"].get("succeeded")
    assert not condition(job, "Complete") and not job["status"].get("completionTime")
    first, second = sorted(pods(client, ns), key=lambda p: p["metadata"]["creationTimestamp"])
    ended = first["status"]["containerStatuses"][0]["state"]["terminated"]
    assert ended["exitCode"] == 3
    gap = time.mktime(
        time.strptime(second["metadata"]["creationTimestamp"], "%Y-%m-%dT%H:%M:%SZ")
    ) - time.mktime(time.strptime(ended["finishedAt"], "%Y-%m-%dT%H:%M:%SZ"))
    assert gap >= 9  # the 10 s backoff before the first retry (timestamps are whole seconds)
    assert "BackoffLimitExceeded" in reasons(client, ns, "fails")


def test_indexed_job_completes_every_index(client: Client, ns: str) -> None:
    client.create(job_body("idx", completions=3, parallelism=3, completionMode="Indexed"), ns)
    job = wait_condition(client, ns, "idx", "Complete")
    assert job["status"]["completedIndexes"] == "0-2" and job["status"]["succeeded"] == 3
    seen = set()
    for pod in pods(client, ns):
        index = pod["metadata"]["annotations"][INDEX]
        assert pod["metadata"]["labels"][INDEX] == index
        assert pod["metadata"]["name"].startswith(f"idx-{index}-")
        assert pod["spec"]["hostname"] == f"idx-{index}"
        env = {e["name"]: e for e in pod["spec"]["containers"][0]["env"]}
        assert env["JOB_COMPLETION_INDEX"]["valueFrom"]["fieldRef"]["fieldPath"] == (
            f"metadata.annotations['{INDEX}']"
        )
        seen.add(index)
    assert seen == {"0", "1", "2"}


def test_active_deadline_fails_the_job_and_removes_its_pods(client: Client, ns: str) -> None:
    client.create(job_body("slow", succeed=None, parallelism=2, completions=2, activeDeadlineSeconds=3), ns)
    wait_for(lambda: len(pods(client, ns)) == 2, 30, "two pods")
    job = wait_condition(client, ns, "slow", "Failed", timeout=30)
    assert condition(job, "Failed")["reason"] == "DeadlineExceeded"
    assert condition(job, "Failed")["message"] == "Job was active longer than specified deadline"
    assert job["status"]["failed"] == 2 and not job["status"].get("active")
    wait_for(lambda: not pods(client, ns), 30, "the pods to be deleted")
    assert "DeadlineExceeded" in reasons(client, ns, "slow")


def test_suspend_deletes_pods_and_resume_restarts_the_clock(client: Client, ns: str) -> None:
    client.create(job_body("pause", succeed=None, parallelism=2, completions=4, suspend=True), ns)
    job = wait_condition(client, ns, "pause", "Suspended")
    assert condition(job, "Suspended")["reason"] == "JobSuspended"
    assert not pods(client, ns) and not job["status"].get("startTime")
    client.patch(JOBS, "pause", {"spec": {"suspend": False}}, ns)
    wait_for(
        lambda: len([p for p in pods(client, ns) if p["status"].get("phase") == "Running"]) == 2, 30, "pods"
    )
    job = client.get(JOBS, "pause", ns)
    resumed = [c for c in job["status"]["conditions"] if c["type"] == "Suspended"][0]
    assert resumed["status"] == "False" and resumed["reason"] == "JobResumed"
    assert job["status"]["startTime"] >= resumed["lastTransitionTime"]
    wait_for(lambda: client.get(JOBS, "pause", ns)["status"].get("ready") == 2, 30, "two ready pods")
    client.patch(JOBS, "pause", {"spec": {"suspend": True}}, ns)
    wait_condition(client, ns, "pause", "Suspended")
    wait_for(lambda: not pods(client, ns), 30, "the pods to be deleted")
    job = client.get(JOBS, "pause", ns)
    assert not job["status"].get("active") and not job["status"].get("failed")
    assert {"Suspended", "Resumed"} <= reasons(client, ns, "pause")


def test_pod_failure_policy_fail_job_on_exit_code(client: Client, ns: str) -> None:
    policy = {
        "rules": [
            {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]},
            {"action": "FailJob", "onExitCodes": {"containerName": "work", "operator": "In", "values": [42]}},
        ]
    }
    client.create(job_body("fatal", exit_code=42, backoffLimit=6, podFailurePolicy=policy), ns)
    job = wait_condition(client, ns, "fatal", "Failed", timeout=30)
    failed = condition(job, "Failed")
    assert failed["reason"] == "PodFailurePolicy"
    assert "failed with exit code 42 matching FailJob rule at index 1" in failed["message"]
    assert job["status"]["failed"] == 1 and len(pods(client, ns)) == 1


def test_pod_failure_policy_ignore_does_not_count_failures(client: Client, ns: str) -> None:
    policy = {"rules": [{"action": "Ignore", "onExitCodes": {"operator": "In", "values": [3]}}]}
    client.create(job_body("flaky", exit_code=3, backoffLimit=0, podFailurePolicy=policy), ns)
    # each ignored failure is replaced at once (no backoff) and never fails the Job
    wait_for(
        lambda: sum(p["status"].get("phase") == "Failed" for p in pods(client, ns)) >= 3, 30, "3 failures"
    )
    job = client.get(JOBS, "flaky", ns)
    assert not condition(job, "Failed") and not job["status"].get("failed")
    client.delete(JOBS, "flaky", ns)


def test_ttl_after_finished_deletes_the_job(client: Client, ns: str) -> None:
    client.create(job_body("brief", ttlSecondsAfterFinished=2), ns)
    wait_condition(client, ns, "brief", "Complete")

    def gone() -> bool:
        try:
            client.get(JOBS, "brief", ns)
        except errors.NotFound:
            return True
        return False

    wait_for(gone, 30, "the job to be deleted")


def test_work_queue_job_completes_when_one_succeeded_and_none_run(client: Client, ns: str) -> None:
    client.create(job_body("queue", parallelism=2), ns)  # no completions: a work queue
    job = wait_condition(client, ns, "queue", "Complete")
    assert job["spec"].get("completions") is None
    assert job["status"]["succeeded"] == 2 and len(pods(client, ns)) == 2
