"""SIGKILL of each component in turn during a Deployment rollout on the 3-host cluster.

Killed in order: an API server replica (a gunicorn worker; its master replaces it), the whole API
server (started again), the dispatcher, the controllers worker, the scheduler, beat, host-1's Celery
worker (the node agent) and host-2's runtime supervisor. What nothing restarts is started again the way
the harness started it. Outcomes: the rollout completes, every write this test saw acknowledged is
there at the end, and the live pods of the Deployment never exceed replicas + maxSurge.

``KUBEQ_FAULT_REPLICAS`` sets the size; the default is the issue's 200 (about 2.5 minutes on a quiet
2-core machine).
"""

from __future__ import annotations

import math
import os
import threading
import time
import uuid

import pytest

from ops import hosts
from ops.hosts import faults
from ops.hosts.faults import Api
from tests.faults.conftest import needs_hosts
from tests.faults.watching import PodWatch, rolled_out, wait
from tests.figures import report

REPLICAS = int(os.environ.get("KUBEQ_FAULT_REPLICAS", "200"))
SURGE = math.ceil(REPLICAS * 0.25)
KILLS = (
    "apiserver-worker",
    "apiserver",
    "dispatcher",
    "controllers",
    "scheduler",
    "beat",
    "node:host-1",
    "runtime:host-2",
)
NS = "default"
DEPLOY = f"/apis/apps/v1/namespaces/{NS}/deployments"
CMS = f"/api/v1/namespaces/{NS}/configmaps"
pytestmark = [pytest.mark.slow, needs_hosts]


def deployment() -> dict[str, object]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "roll"},
        "spec": {
            "replicas": REPLICAS,
            "selector": {"matchLabels": {"app": "roll"}},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"},
            },
            "template": {
                "metadata": {"labels": {"app": "roll"}, "annotations": {"round": "0"}},
                "spec": {
                    "terminationGracePeriodSeconds": 1,
                    "containers": [{"name": "c", "image": "busybox", "command": ["sleep", "3600"]}],
                },
            },
        },
    }


class AckedWriter:
    """Creates a ConfigMap every 0.1 s and records the ones answered 201."""

    def __init__(self, api: Api) -> None:
        self.api, self.acked, self.failed = api, {}, 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        n = 0
        while not self.stop.wait(0.1):
            n += 1
            name, value = f"acked-{n}", uuid.uuid4().hex
            status, _ = self.api.call(
                "POST", CMS, {"metadata": {"name": name}, "data": {"v": value}}, timeout=10
            )
            if status == 201:
                self.acked[name] = value
            else:
                self.failed += 1


def next_round(api: Api, n: int) -> None:
    patch = {"spec": {"template": {"metadata": {"annotations": {"round": str(n)}}}}}
    wait(lambda: api.call("PATCH", f"{DEPLOY}/roll", patch)[0] == 200, 60, f"round {n} patched", 1)


def restart(cluster: hosts.Cluster, api: Api, killed: faults.Killed) -> str:
    """Start what ``killed`` was again if nothing else does; how it came back."""
    if killed.role == "dispatcher":  # its controller-manager supervises it
        wait(
            lambda: faults.find(cluster, "dispatcher"),
            30,
            "dispatcher started again by its controller-manager",
        )
        return "by its controller-manager"
    if faults.restarts_itself(killed.role):
        wait(lambda: faults.find(cluster, killed.role), 60, f"{killed.role} back")
        return "by itself"
    faults.restart(cluster, killed)
    if killed.role == "apiserver":
        wait(lambda: api.call("GET", "/readyz", timeout=2)[0] == 200, 60, "API server ready again")
    return "restarted here"


def test_rollout_survives_sigkill_of_each_component(cluster: hosts.Cluster, kube: Api) -> None:
    status, body = kube.call("POST", DEPLOY, deployment())
    assert status == 201, body
    created = time.monotonic()
    wait(lambda: rolled_out(kube, NS, "roll"), 60 + REPLICAS * 3, "first rollout")
    first = time.monotonic() - created
    watch = PodWatch(kube, NS, "app%3Droll").start()
    writer = AckedWriter(kube)
    writer.thread.start()
    began, rounds = time.monotonic(), 1
    next_round(kube, rounds)
    report(f"\n{REPLICAS} replicas, maxSurge {SURGE}; created and available (no faults) in {first:.1f} s")
    try:
        for role in KILLS:
            if rolled_out(kube, NS, "roll"):
                rounds += 1
                next_round(kube, rounds)
            time.sleep(2)
            killed = faults.kill(cluster, role)
            how = restart(cluster, kube, killed)
            report(
                f"  t={time.monotonic() - began:6.1f} s  SIGKILL {role:<18} pid {killed.pid:<7} back {how}"
            )
        final = wait(lambda: rolled_out(kube, NS, "roll"), 120 + REPLICAS * 4, "rollout after the kills", 1)
        took = time.monotonic() - began
    finally:
        writer.stop.set()
        writer.thread.join(15)
        watch.close()
    status, listed = kube.call("GET", CMS, timeout=60)
    assert status == 200
    stored = {cm["metadata"]["name"]: (cm.get("data") or {}).get("v") for cm in listed["items"]}
    lost = [n for n, v in writer.acked.items() if stored.get(n) != v]
    report(
        f"  rollout of {rounds} round(s) done in {took:.1f} s (observed generation "
        f"{final['status']['observedGeneration']}); peak live pods {watch.peak} (limit {REPLICAS + SURGE}); "
        f"watch breaks {watch.breaks}; acknowledged writes {len(writer.acked)}, failed {writer.failed}, "
        f"lost {len(lost)}"
    )
    kube.call("DELETE", f"{DEPLOY}/roll?propagationPolicy=Background")  # leave the cluster to the next test
    assert final["spec"]["template"]["metadata"]["annotations"]["round"] == str(rounds)
    assert not lost, lost[:10]
    assert watch.peak <= REPLICAS + SURGE
