"""Issue 4's "done when", on a cluster started the way a newcomer starts one: ``kubeq up --hollow-nodes 3``.

Deployments roll out and back within their surge and unavailability bounds, scaling settles to
the exact count, Jobs complete and fail as Kubernetes' do, cascading deletion follows
``--cascade``, and a namespace with objects in it empties and goes away.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from cluster import errors
from cluster.api.resources import lookup
from cluster.client.client import Client
from tests.e2e.conftest import ROOT, free_port
from tests.e2e.scheduling import wait_for
from tests.e2e.test_up import _wait_for_line

PODS = lookup("", "v1", "pods")
NAMESPACES = lookup("", "v1", "namespaces")
DEPLOYMENTS = lookup("apps", "v1", "deployments")
REPLICASETS = lookup("apps", "v1", "replicasets")
JOBS = lookup("batch", "v1", "jobs")
Obj = dict[str, Any]

DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: {ns}
spec:
  replicas: 10
  selector:
    matchLabels: {{app: web}}
  strategy:
    type: RollingUpdate
    rollingUpdate: {{maxSurge: 3, maxUnavailable: 2}}
  template:
    metadata:
      labels: {{app: web}}
    spec:
      containers:
      - name: web
        image: {image}
        resources:
          requests: {{cpu: 10m}}
"""


@dataclass
class Up:
    """A running ``kubeq up`` and kubectl bound to it."""

    data_dir: Path
    cache: Path
    client: Client
    namespaces: list[str] = field(default_factory=list)

    def kubectl(
        self, *args: str, stdin: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        cmd = ["kubectl", f"--kubeconfig={self.data_dir / 'kubeconfig'}", f"--cache-dir={self.cache}", *args]
        result = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=180)
        if check:
            assert result.returncode == 0, f"kubectl {' '.join(args)}: {result.stderr}{result.stdout}"
        return result

    def namespace(self, name: str) -> str:
        self.kubectl("create", "namespace", name)
        return name


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Up]:
    tmp = tmp_path_factory.mktemp("done-when")
    port = free_port()
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("KUBEQ_REDIS_URL", None)
    args = ["up", "--data-dir", str(tmp / "data"), "--port", str(port), "--hollow-nodes", "3", "--nodes", "0"]
    args += ["--flower-port", str(free_port())]
    proc = subprocess.Popen(
        [sys.executable, "-m", "workers.cli", *args], stdout=subprocess.PIPE, text=True, env=env, cwd=ROOT
    )
    try:
        _wait_for_line(proc, "ready", 90)
        threading.Thread(target=lambda: [None for _ in proc.stdout or []], daemon=True).start()
        cluster = Up(tmp / "data", tmp / "cache", Client.from_kubeconfig(str(tmp / "data" / "kubeconfig")))
        wait_for(
            lambda: len(cluster.kubectl("get", "nodes", "-o", "name").stdout.split()) == 3, 60, "3 nodes"
        )
        yield cluster
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)


class PodObserver:
    """Watches a namespace's pods; records the most live and the fewest available pods seen."""

    def __init__(self, client: Client, namespace: str) -> None:
        self.client, self.namespace = client, namespace
        self.pods: dict[str, Obj] = {}
        self.most_live = 0
        self.fewest_available: int | None = None
        self.synced = False  # counting starts once the first list is in
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> PodObserver:
        self.thread.start()
        wait_for(lambda: self.fewest_available is not None, 30, "the observer's first list")
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()

    def _run(self) -> None:
        for event in self.client.list_and_watch(PODS, self.namespace, synced_marker=True):
            if self.stop.is_set():
                return
            if event["type"] == "SYNCED":
                self.synced = True
            else:
                obj = event["object"]
                if event["type"] == "DELETED":
                    self.pods.pop(obj["metadata"]["uid"], None)
                else:
                    self.pods[obj["metadata"]["uid"]] = obj
            if self.synced:
                self._count()

    def _count(self) -> None:
        live = [p for p in self.pods.values() if not p["metadata"].get("deletionTimestamp")]
        available = [
            p
            for p in live
            if any(
                c["type"] == "Ready" and c["status"] == "True"
                for c in p.get("status", {}).get("conditions") or []
            )
        ]
        self.most_live = max(self.most_live, len(live))
        if self.fewest_available is None or len(available) < self.fewest_available:
            self.fewest_available = len(available)


def _image(up: Up, ns: str) -> str:
    out = up.kubectl(
        "get", "deployment", "web", "-n", ns, "-o", "jsonpath={.spec.template.spec.containers[0].image}"
    )
    return out.stdout


def _live_pods(up: Up, ns: str, selector: str) -> list[Obj]:
    items = up.client.list(PODS, ns, label_selector=selector)["items"]
    return [p for p in items if not p["metadata"].get("deletionTimestamp")]


def test_deployment_rolls_out_rolls_through_and_back(up: Up) -> None:
    ns = up.namespace("dw-rollout")
    up.kubectl("apply", "-f", "-", stdin=DEPLOYMENT.format(ns=ns, image="nginx:1.26"))
    up.kubectl("rollout", "status", "deployment/web", "-n", ns, "--timeout=120s")
    assert len(_live_pods(up, ns, "app=web")) == 10
    with PodObserver(up.client, ns) as observer:
        assert observer.fewest_available == 10
        up.kubectl("set", "image", "deployment/web", "web=nginx:1.27", "-n", ns)
        up.kubectl("rollout", "status", "deployment/web", "-n", ns, "--timeout=120s")
    assert observer.most_live <= 10 + 3, observer.most_live
    assert observer.fewest_available is not None and observer.fewest_available >= 10 - 2
    pods = _live_pods(up, ns, "app=web")
    assert len(pods) == 10 and {p["spec"]["containers"][0]["image"] for p in pods} == {"nginx:1.27"}
    up.kubectl("rollout", "undo", "deployment/web", "-n", ns)
    up.kubectl("rollout", "status", "deployment/web", "-n", ns, "--timeout=120s")
    assert _image(up, ns) == "nginx:1.26"
    wait_for(
        lambda: (
            {p["spec"]["containers"][0]["image"] for p in _live_pods(up, ns, "app=web")} == {"nginx:1.26"}
        ),
        60,
        "the old template's pods back",
    )


def test_twenty_scales_in_a_second_settle_to_the_exact_count(up: Up) -> None:
    ns = up.namespace("dw-scale")
    up.kubectl("apply", "-f", "-", stdin=DEPLOYMENT.format(ns=ns, image="nginx:1.26"))
    up.kubectl("rollout", "status", "deployment/web", "-n", ns, "--timeout=120s")
    sizes = [3 + (i * 7) % 15 for i in range(19)]
    with ThreadPoolExecutor(19) as pool:
        list(pool.map(lambda n: up.kubectl("scale", "deployment/web", f"--replicas={n}", "-n", ns), sizes))
    up.kubectl("scale", "deployment/web", "--replicas=7", "-n", ns)
    up.kubectl("rollout", "status", "deployment/web", "-n", ns, "--timeout=120s")
    wait_for(lambda: len(_live_pods(up, ns, "app=web")) == 7, 60, "exactly 7 pods")

    def status_says_seven() -> bool:  # the Deployment's status follows the pods a moment later
        out = up.kubectl("get", "deployment", "web", "-n", ns, "-o", "jsonpath={.status.readyReplicas}")
        return out.stdout == "7"

    wait_for(status_says_seven, 30, "readyReplicas 7")
    time.sleep(2)  # and it stays there: nothing creates an eighth
    assert len(_live_pods(up, ns, "app=web")) == 7


def _job(ns: str, name: str, completions: int, parallelism: int, exit_code: int, backoff: int = 6) -> str:
    return f"""
apiVersion: batch/v1
kind: Job
metadata: {{name: {name}, namespace: {ns}}}
spec:
  completions: {completions}
  parallelism: {parallelism}
  backoffLimit: {backoff}
  template:
    metadata:
      annotations:
        kubeq.io/hollow-succeed-after-seconds: "1"
        kubeq.io/hollow-exit-code: "{exit_code}"
    spec:
      restartPolicy: Never
      containers: [{{name: work, image: busybox, command: [sh, -c, "exit {exit_code}"]}}]
"""


def _job_condition(up: Up, ns: str, name: str) -> Obj | None:
    conditions = up.client.get(JOBS, name, ns).get("status", {}).get("conditions") or []
    return next(
        (c for c in conditions if c["status"] == "True" and c["type"] in ("Complete", "Failed")), None
    )


def test_jobs_complete_and_fail(up: Up) -> None:
    ns = up.namespace("dw-jobs")
    up.kubectl("apply", "-f", "-", stdin=_job(ns, "five", 5, 2, 0) + "---" + _job(ns, "doomed", 1, 1, 1, 1))
    done = wait_for(lambda: _job_condition(up, ns, "five"), 120, "the 5-completion job to finish")
    assert done["type"] == "Complete"
    status = up.client.get(JOBS, "five", ns)["status"]
    assert status["succeeded"] == 5 and status.get("completionTime")
    assert "5/5" in up.kubectl("get", "job", "five", "-n", ns).stdout
    failed = wait_for(lambda: _job_condition(up, ns, "doomed"), 120, "the failing job to give up")
    assert failed["type"] == "Failed" and failed["reason"] == "BackoffLimitExceeded"


def test_cascading_deletion_follows_cascade(up: Up) -> None:
    ns = up.namespace("dw-cascade")
    for name in ("gone", "kept"):
        body = DEPLOYMENT.format(ns=ns, image="nginx:1.26").replace("name: web", f"name: {name}")
        body = body.replace("replicas: 10", "replicas: 2").replace("app: web", f"app: {name}")
        up.kubectl("apply", "-f", "-", stdin=body)
        up.kubectl("rollout", "status", f"deployment/{name}", "-n", ns, "--timeout=120s")
    up.kubectl("delete", "deployment", "gone", "-n", ns)
    wait_for(lambda: not _live_pods(up, ns, "app=gone"), 60, "the deployment's pods to go")
    wait_for(
        lambda: (
            not [
                rs
                for rs in up.client.list(REPLICASETS, ns)["items"]
                if rs["metadata"]["name"].startswith("gone-")
            ]
        ),
        60,
        "the deployment's replica sets to go",
    )
    up.kubectl("delete", "deployment", "kept", "-n", ns, "--cascade=orphan")
    wait_for(lambda: not up.client.list(DEPLOYMENTS, ns)["items"], 60, "the orphaning delete to finish")
    kept = [
        rs for rs in up.client.list(REPLICASETS, ns)["items"] if rs["metadata"]["name"].startswith("kept-")
    ]
    assert len(kept) == 1 and not kept[0]["metadata"].get("ownerReferences")
    assert len(_live_pods(up, ns, "app=kept")) == 2


def test_deleting_a_namespace_empties_and_removes_it(up: Up) -> None:
    ns = up.namespace("dw-namespace")
    up.kubectl(
        "apply",
        "-f",
        "-",
        stdin=DEPLOYMENT.format(ns=ns, image="nginx:1.26").replace("replicas: 10", "replicas: 3"),
    )
    up.kubectl("create", "configmap", "settings", "--from-literal=a=1", "-n", ns)
    wait_for(lambda: len(_live_pods(up, ns, "app=web")) == 3, 60, "3 pods")
    up.kubectl("delete", "namespace", ns, "--wait=false")

    def gone() -> bool:
        try:
            up.client.get(NAMESPACES, ns)
        except errors.NotFound:
            return True
        return False

    wait_for(gone, 120, "the namespace to be removed")
    assert up.kubectl("get", "pods", "-n", ns, "-o", "name").stdout.strip() == ""
