"""The ReplicaSet controller end to end: a real API server, dispatcher + controllers worker, scheduler
and three hollow nodes; ReplicaSets driven through the API and the real kubectl."""

from __future__ import annotations

import subprocess
import threading
import time
from typing import Any

import pytest

from cluster import errors
from cluster.api.resources import lookup
from cluster.client.client import Client
from tests.controllers.harness import apply, kubectl, workload
from tests.e2e.scheduling import Cluster, pod_object, wait_for

PODS = lookup("", "v1", "pods")
EVENTS = lookup("", "v1", "events")
REPLICASETS = lookup("apps", "v1", "replicasets")
Obj = dict[str, Any]


def rs_object(name: str, replicas: int, app: str | None = None, **spec: Any) -> Obj:
    return workload("ReplicaSet", name, replicas, app=app, extra_labels={"tier": "web"}, **spec)


def owned(client: Client, ns: str, rs_name: str) -> list[Obj]:
    """Active pods controlled by ReplicaSet ``rs_name``."""
    rs = client.get(REPLICASETS, rs_name, ns)
    out = []
    for pod in client.list(PODS, ns)["items"]:
        refs = [r for r in pod["metadata"].get("ownerReferences") or [] if r.get("controller")]
        if refs and refs[0]["uid"] == rs["metadata"]["uid"] and active(pod):
            out.append(pod)
    return out


def active(pod: Obj) -> bool:
    phase = (pod.get("status") or {}).get("phase")
    return phase not in ("Succeeded", "Failed") and not pod["metadata"].get("deletionTimestamp")


def ready(pod: Obj) -> bool:
    conds = (pod.get("status") or {}).get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conds)


def settled(client: Client, ns: str, name: str, count: int) -> list[Obj] | None:
    """The owned pods once there are exactly ``count``, all ready, and status says so."""
    pods = owned(client, ns, name)
    rs = client.get(REPLICASETS, name, ns)
    status = rs.get("status") or {}
    if len(pods) != count or not all(ready(p) for p in pods):
        return None
    if status.get("replicas", 0) != count or status.get("readyReplicas", 0) != count:
        return None
    if status.get("observedGeneration") != rs["metadata"]["generation"]:
        return None
    return pods


def reasons(client: Client, ns: str, name: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for ev in client.list(EVENTS, ns)["items"]:
        if ev["involvedObject"]["name"] == name and ev["involvedObject"]["kind"] == "ReplicaSet":
            out.setdefault(ev["reason"], []).append(ev["message"])
    return out


def test_creates_pods_reports_status_and_kubectl_shows_it(cluster: Cluster, ns: str) -> None:
    apply(cluster, ns, rs_object("web", 3))
    pods = wait_for(lambda: settled(cluster.client, ns, "web", 3), 60, "3 ready pods")
    assert all(p["metadata"]["name"].startswith("web-") for p in pods)
    assert all((p["status"] or {}).get("phase") == "Running" for p in pods)
    rs = cluster.client.get(REPLICASETS, "web", ns)
    status = rs["status"]
    assert status["fullyLabeledReplicas"] == 3
    assert status["availableReplicas"] == 3
    assert status["observedGeneration"] == rs["metadata"]["generation"]
    assert "conditions" not in status
    created = wait_for(lambda: reasons(cluster.client, ns, "web").get("SuccessfulCreate"), 30, "events")
    names = {p["metadata"]["name"] for p in pods}
    assert {m.removeprefix("Created pod: ") for m in created} == names

    table = kubectl(cluster, "get", "rs", "web", "-n", ns).stdout.split("\n")
    assert table[0].split()[:4] == ["NAME", "DESIRED", "CURRENT", "READY"]
    assert table[1].split()[:4] == ["web", "3", "3", "3"]


def test_deleted_pod_is_replaced(cluster: Cluster, ns: str) -> None:
    apply(cluster, ns, rs_object("keep", 2))
    pods = wait_for(lambda: settled(cluster.client, ns, "keep", 2), 60, "2 ready pods")
    victim = pods[0]["metadata"]["name"]
    kubectl(cluster, "delete", "pod", victim, "-n", ns)
    after = wait_for(lambda: settled(cluster.client, ns, "keep", 2), 60, "a replacement")
    assert victim not in {p["metadata"]["name"] for p in after}


def test_kubectl_scale_up_and_down(cluster: Cluster, ns: str) -> None:
    apply(cluster, ns, rs_object("scale", 1))
    wait_for(lambda: settled(cluster.client, ns, "scale", 1), 60, "1 pod")
    assert "scaled" in kubectl(cluster, "scale", "rs", "scale", "--replicas=5", "-n", ns).stdout
    wait_for(lambda: settled(cluster.client, ns, "scale", 5), 60, "5 pods")
    kubectl(cluster, "scale", "rs", "scale", "--replicas=2", "-n", ns)
    wait_for(lambda: settled(cluster.client, ns, "scale", 2), 60, "2 pods")
    deleted = wait_for(lambda: reasons(cluster.client, ns, "scale").get("SuccessfulDelete"), 30, "events")
    assert len(deleted) == 3 and all(m.startswith("Deleted pod: scale-") for m in deleted)
    table = kubectl(cluster, "get", "rs", "scale", "-n", ns, "--no-headers").stdout.split()
    assert table[:4] == ["scale", "2", "2", "2"]


def test_twenty_rapid_scales_settle_exactly_and_never_overshoot(cluster: Cluster, ns: str) -> None:
    apply(cluster, ns, rs_object("burst", 1))
    wait_for(lambda: settled(cluster.client, ns, "burst", 1), 60, "1 pod")
    uid = cluster.client.get(REPLICASETS, "burst", ns)["metadata"]["uid"]
    rv = cluster.client.list(PODS, ns)["metadata"]["resourceVersion"]
    seen: dict[str, Obj] = {p["metadata"]["name"]: p for p in cluster.client.list(PODS, ns)["items"]}
    peak = [0]
    stop = threading.Event()

    def observe() -> None:
        for event in Client(cluster.server.url).watch(PODS, ns, resource_version=rv, timeout_seconds=90):
            pod = event["object"]
            if event["type"] == "DELETED":
                seen.pop(pod["metadata"]["name"], None)
            else:
                seen[pod["metadata"]["name"]] = pod
            mine = [
                p
                for p in seen.values()
                if active(p) and any(r["uid"] == uid for r in p["metadata"].get("ownerReferences") or [])
            ]
            peak[0] = max(peak[0], len(mine))
            if stop.is_set():
                return

    watcher = threading.Thread(target=observe, daemon=True)
    watcher.start()
    values = [6 if i % 2 == 0 else 2 for i in range(19)]  # largest asked for: 6
    started = time.monotonic()
    procs = [
        subprocess.Popen(
            ["kubectl", f"--kubeconfig={cluster.server.kubeconfig}", f"--cache-dir={cluster.cache_dir}"]
            + ["scale", "rs", "burst", f"--replicas={n}", "-n", ns],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for n in values
    ]
    assert all(p.wait(60) == 0 for p in procs)
    kubectl(cluster, "scale", "rs", "burst", "--replicas=4", "-n", ns)
    issued = time.monotonic() - started
    wait_for(lambda: settled(cluster.client, ns, "burst", 4), 60, "exactly 4 pods")
    time.sleep(1.0)  # nothing moves afterwards
    assert len(owned(cluster.client, ns, "burst")) == 4
    stop.set()
    cluster.client.create(pod_object("nudge", labels={"x": "y"}), ns)  # one more event ends the watch loop
    watcher.join(30)
    assert peak[0] <= 6, f"an observer saw {peak[0]} pods (20 scales issued in {issued:.1f} s)"


def test_adopts_orphans_and_releases_relabelled_pods(cluster: Cluster, ns: str) -> None:
    client = cluster.client
    client.create(pod_object("stray", labels={"app": "adopt", "tier": "web"}), ns)
    apply(cluster, ns, rs_object("adopt", 2))
    pods = wait_for(lambda: settled(client, ns, "adopt", 2), 60, "2 pods")
    assert "stray" in {p["metadata"]["name"] for p in pods}  # adopted, so only one was created
    stray = client.get(PODS, "stray", ns)
    [ref] = stray["metadata"]["ownerReferences"]
    assert ref["kind"] == "ReplicaSet" and ref["name"] == "adopt" and ref["controller"] is True

    kubectl(cluster, "label", "pod", "stray", "app=gone", "--overwrite", "-n", ns)
    wait_for(lambda: not client.get(PODS, "stray", ns)["metadata"].get("ownerReferences"), 30, "release")
    after = wait_for(lambda: settled(client, ns, "adopt", 2), 60, "a replacement")
    assert "stray" not in {p["metadata"]["name"] for p in after}
    assert active(client.get(PODS, "stray", ns))  # released, not deleted

    # Labelled back, the orphan is adopted again and the surplus pod removed.
    kubectl(cluster, "label", "pod", "stray", "app=adopt", "--overwrite", "-n", ns)
    wait_for(lambda: client.get(PODS, "stray", ns)["metadata"].get("ownerReferences"), 30, "re-adoption")
    wait_for(lambda: settled(client, ns, "adopt", 2), 60, "2 pods again")
    matching = [p for p in client.list(PODS, ns, label_selector="app=adopt")["items"] if active(p)]
    assert len(matching) == 2


def test_scale_down_deletes_unscheduled_pods_first(cluster: Cluster, ns: str) -> None:
    client = cluster.client
    # An old pod that can never be scheduled, adopted by the ReplicaSet created after it.
    client.create(
        pod_object("stuck", labels={"app": "order", "tier": "web"}, node_selector={"no-such": "node"}), ns
    )
    time.sleep(1.1)  # creation timestamps have second precision: "stuck" is strictly the oldest
    apply(cluster, ns, rs_object("order", 3))

    def two_ready_and_stuck() -> bool:
        pods = owned(client, ns, "order")
        return len(pods) == 3 and sum(ready(p) for p in pods) == 2

    wait_for(two_ready_and_stuck, 60, "2 ready pods and the adopted unschedulable one")
    kubectl(cluster, "scale", "rs", "order", "--replicas=2", "-n", ns)
    wait_for(lambda: settled(client, ns, "order", 2), 60, "2 ready pods")
    with pytest.raises(errors.NotFound):
        client.get(PODS, "stuck", ns)


def test_min_ready_seconds_delays_available_replicas(cluster: Cluster, ns: str) -> None:
    client = cluster.client
    apply(cluster, ns, rs_object("slow", 2, minReadySeconds=4))
    status = wait_for(
        lambda: (
            (client.get(REPLICASETS, "slow", ns).get("status") or {}).get("readyReplicas") == 2
            and client.get(REPLICASETS, "slow", ns)["status"]
        ),
        60,
        "2 ready replicas",
    )
    ready_at = time.monotonic()
    assert status.get("availableReplicas", 0) < 2
    wait_for(
        lambda: (client.get(REPLICASETS, "slow", ns).get("status") or {}).get("availableReplicas") == 2,
        30,
        "2 available replicas",
    )
    assert time.monotonic() - ready_at >= 1.0


def test_failed_creation_reports_replica_failure_until_fixed(cluster: Cluster, ns: str) -> None:
    client = cluster.client
    broken = rs_object("broken", 3)
    broken["spec"]["template"]["metadata"]["finalizers"] = ["not a finalizer!"]  # pods refuse it
    apply(cluster, ns, broken)

    def failure() -> Obj | None:
        conds = (client.get(REPLICASETS, "broken", ns).get("status") or {}).get("conditions") or []
        return next((c for c in conds if c["type"] == "ReplicaFailure"), None)

    cond = wait_for(failure, 30, "a ReplicaFailure condition")
    assert cond["status"] == "True" and cond["reason"] == "FailedCreate"
    assert "finalizers" in cond["message"]
    warnings = wait_for(lambda: reasons(client, ns, "broken").get("FailedCreate"), 30, "a FailedCreate event")
    assert warnings[0].startswith("Error creating: ")
    assert owned(client, ns, "broken") == []

    apply(cluster, ns, rs_object("broken", 3))  # the template without the bad finalizer
    wait_for(lambda: settled(client, ns, "broken", 3), 60, "3 pods once fixed")
    wait_for(lambda: failure() is None, 30, "the condition to clear")
