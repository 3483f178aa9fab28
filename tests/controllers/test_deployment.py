"""The Deployment controller end to end: a real API server, dispatcher + controllers worker (ReplicaSet
and Deployment controllers), scheduler and three hollow nodes; Deployments driven with the real kubectl.

A pod observer (a watch on the namespace's pods) checks the rollout bounds a user would see: never
more than replicas + maxSurge live pods, never fewer than replicas - maxUnavailable available ones.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from cluster.api.resources import lookup
from cluster.client.client import Client
from tasks.controllers.deployment import counts, revisions
from tests.controllers.harness import apply, kubectl, workload
from tests.e2e.scheduling import Cluster, wait_for

PODS = lookup("", "v1", "pods")
EVENTS = lookup("", "v1", "events")
DEPLOYMENTS = lookup("apps", "v1", "deployments")
REPLICASETS = lookup("apps", "v1", "replicasets")
IMAGE = "registry.k8s.io/pause:3.10"
Obj = dict[str, Any]


def deployment(name: str, replicas: int, image: str = IMAGE, **spec: Any) -> Obj:
    return workload("Deployment", name, replicas, image=image, **spec)


def rollout_status(cluster: Cluster, ns: str, name: str, timeout: str = "60s") -> subprocess.CompletedProcess:
    return kubectl(
        cluster, "rollout", "status", f"deployment/{name}", "-n", ns, f"--timeout={timeout}", check=False
    )


def assert_rolled_out(cluster: Cluster, ns: str, name: str) -> None:
    result = rollout_status(cluster, ns, name)
    assert result.returncode == 0, result.stderr + result.stdout
    assert f'deployment "{name}" successfully rolled out' in result.stdout


def replicasets(client: Client, ns: str) -> list[Obj]:
    items = client.list(REPLICASETS, ns)["items"]
    return sorted(
        items, key=lambda rs: int(rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"])
    )


def image_of(obj: Obj) -> str:
    return obj["spec"]["template"]["spec"]["containers"][0]["image"]


def condition(d: Obj, kind: str) -> Obj:
    return next(c for c in d["status"]["conditions"] if c["type"] == kind)


def live(pod: Obj) -> bool:
    phase = (pod.get("status") or {}).get("phase")
    return phase not in ("Succeeded", "Failed") and not pod["metadata"].get("deletionTimestamp")


def ready(pod: Obj) -> bool:
    conds = (pod.get("status") or {}).get("conditions") or []
    return live(pod) and any(c["type"] == "Ready" and c["status"] == "True" for c in conds)


@dataclass
class PodObserver:
    """Watches a namespace's pods and keeps the extremes of live and available pods seen."""

    client: Client
    ns: str
    pods: dict[str, Obj] = field(default_factory=dict)
    max_live: int = 0
    min_ready: int = 10**9
    both_templates_live: bool = False  # old and new ReplicaSets' pods live at once
    lock: threading.Lock = field(default_factory=threading.Lock)

    def live_now(self) -> int:
        with self.lock:
            return sum(1 for p in self.pods.values() if live(p))

    def start(self) -> PodObserver:
        listing = self.client.list(PODS, self.ns)
        for pod in listing["items"]:
            self.pods[pod["metadata"]["name"]] = pod
        self._count()
        rv = listing["metadata"]["resourceVersion"]
        threading.Thread(target=self._watch, args=(rv,), daemon=True).start()
        return self

    def _watch(self, rv: str) -> None:
        try:
            for event in self.client.watch(PODS, self.ns, resource_version=rv, timeout_seconds=120):
                pod = event["object"]
                with self.lock:
                    if event["type"] == "DELETED":
                        self.pods.pop(pod["metadata"]["name"], None)
                    else:
                        self.pods[pod["metadata"]["name"]] = pod
                    self._count()
        except Exception:  # the server went away at teardown
            return

    def _count(self) -> None:
        current = [p for p in self.pods.values() if live(p)]
        self.max_live = max(self.max_live, len(current))
        self.min_ready = min(self.min_ready, sum(1 for p in current if ready(p)))
        hashes = {p["metadata"].get("labels", {}).get("pod-template-hash") for p in current}
        self.both_templates_live |= len(hashes) > 1


# ---- the numbers, without a cluster ----------------------------------------------------------------


def test_surge_rounds_up_and_unavailable_rounds_down() -> None:
    def d(replicas: int, surge: Any, unavailable: Any) -> Obj:
        strategy = {
            "type": "RollingUpdate",
            "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable},
        }
        return {"spec": {"replicas": replicas, "strategy": strategy}}

    assert counts.fenceposts(d(10, "25%", "25%")) == (3, 2)
    assert counts.fenceposts(d(3, "10%", "10%")) == (1, 0)
    assert counts.fenceposts(d(5, 0, "10%")) == (0, 1)  # both zero: one may be unavailable
    assert counts.max_unavailable(d(2, 1, 5)) == 2  # never more than replicas
    assert counts.max_surge({"spec": {"replicas": 4, "strategy": {"type": "Recreate"}}}) == 0


def test_template_hash_is_stable_and_ignores_nulls_and_its_own_label() -> None:
    template = {"metadata": {"labels": {"app": "a"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}
    hash_ = revisions.template_hash(template)
    assert hash_ == revisions.template_hash({**template, "metadata": {"labels": {"app": "a"}, "x": None}})
    assert hash_.isalnum() and not set(hash_) & set("aeiou")
    assert revisions.template_hash(template, 1) != hash_
    labelled = {**template, "metadata": {"labels": {"app": "a", "pod-template-hash": hash_}}}
    assert revisions.same_template(
        labelled, {**template, "metadata": {"creationTimestamp": None, "labels": {"app": "a"}}}
    )


# ---- through the cluster -------------------------------------------------------------------------


def test_rolling_update_stays_within_surge_and_unavailability(cluster: Cluster, ns: str) -> None:
    """Defaults 25%/25% of 10: surge rounds up to 3, unavailable down to 2."""
    apply(cluster, ns, deployment("web", 10))
    assert_rolled_out(cluster, ns, "web")
    [first] = replicasets(cluster.client, ns)
    hash_ = first["metadata"]["labels"]["pod-template-hash"]
    assert first["metadata"]["name"] == f"web-{hash_}"
    assert first["spec"]["selector"]["matchLabels"]["pod-template-hash"] == hash_
    assert first["spec"]["template"]["metadata"]["labels"]["pod-template-hash"] == hash_
    assert first["metadata"]["annotations"]["deployment.kubernetes.io/desired-replicas"] == "10"
    assert first["metadata"]["annotations"]["deployment.kubernetes.io/max-replicas"] == "13"

    observer = PodObserver(cluster.client, ns).start()
    kubectl(cluster, "set", "image", "deployment/web", "c=registry.k8s.io/pause:3.9", "-n", ns)
    assert_rolled_out(cluster, ns, "web")
    wait_for(lambda: observer.live_now() == 10, 30, "10 live pods")
    assert observer.max_live <= 13
    assert observer.min_ready >= 8
    assert observer.both_templates_live

    old, new = replicasets(cluster.client, ns)
    assert old["spec"]["replicas"] == 0 and new["spec"]["replicas"] == 10
    assert new["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
    d = cluster.client.get(DEPLOYMENTS, "web", ns)
    assert d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
    status = d["status"]
    assert status["observedGeneration"] == d["metadata"]["generation"]
    assert (status["replicas"], status["updatedReplicas"], status["readyReplicas"]) == (10, 10, 10)
    assert status["availableReplicas"] == 10 and not status.get("unavailableReplicas")
    assert condition(d, "Available")["reason"] == "MinimumReplicasAvailable"
    progressing = condition(d, "Progressing")
    assert progressing["reason"] == "NewReplicaSetAvailable"
    assert progressing["message"] == f'ReplicaSet "{new["metadata"]["name"]}" has successfully progressed.'

    messages = [
        e["message"] for e in cluster.client.list(EVENTS, ns)["items"] if e["reason"] == "ScalingReplicaSet"
    ]
    assert f"Scaled up replica set {new['metadata']['name']} to 3" in messages
    assert f"Scaled down replica set {old['metadata']['name']} to 8 from 10" in messages
    described = kubectl(cluster, "describe", "deployment", "web", "-n", ns).stdout
    assert "ScalingReplicaSet" in described and "deployment-controller" in described
    assert "NewReplicaSetAvailable" in described


def test_rollout_undo_and_history(cluster: Cluster, ns: str) -> None:
    apply(cluster, ns, deployment("app", 2))
    assert_rolled_out(cluster, ns, "app")
    kubectl(cluster, "set", "image", "deployment/app", "c=img:v2", "-n", ns)
    kubectl(cluster, "annotate", "deployment/app", "kubernetes.io/change-cause=to v2", "-n", ns)
    assert_rolled_out(cluster, ns, "app")

    history = kubectl(cluster, "rollout", "history", "deployment/app", "-n", ns).stdout
    lines = [line.split() for line in history.splitlines()[2:] if line.strip()]
    assert [line[0] for line in lines] == ["1", "2"]
    assert "to v2" in history
    assert (
        "img:v2" in kubectl(cluster, "rollout", "history", "deployment/app", "-n", ns, "--revision=2").stdout
    )

    kubectl(cluster, "rollout", "undo", "deployment/app", "-n", ns)
    assert_rolled_out(cluster, ns, "app")
    d = cluster.client.get(DEPLOYMENTS, "app", ns)
    assert image_of(d) == IMAGE
    assert d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"
    revisions = [
        rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]
        for rs in replicasets(cluster.client, ns)
    ]
    assert revisions == ["2", "3"]  # the first ReplicaSet came back as revision 3

    kubectl(cluster, "rollout", "undo", "deployment/app", "-n", ns, "--to-revision=2")
    assert_rolled_out(cluster, ns, "app")
    assert image_of(cluster.client.get(DEPLOYMENTS, "app", ns)) == "img:v2"
    images = {p["spec"]["containers"][0]["image"] for p in cluster.client.list(PODS, ns)["items"] if live(p)}
    assert images == {"img:v2"}


def test_pause_resume_and_restart(cluster: Cluster, ns: str) -> None:
    apply(cluster, ns, deployment("p", 2))
    assert_rolled_out(cluster, ns, "p")
    kubectl(cluster, "rollout", "pause", "deployment/p", "-n", ns)
    wait_for(
        lambda: (
            condition(cluster.client.get(DEPLOYMENTS, "p", ns), "Progressing")["reason"] == "DeploymentPaused"
        ),
        30,
        "the DeploymentPaused condition",
    )
    kubectl(cluster, "set", "image", "deployment/p", "c=img:paused", "-n", ns)
    kubectl(cluster, "scale", "deployment/p", "--replicas=4", "-n", ns)
    wait_for(
        lambda: cluster.client.get(DEPLOYMENTS, "p", ns)["status"].get("availableReplicas") == 4, 30, "4 pods"
    )
    assert len(replicasets(cluster.client, ns)) == 1  # paused: scaled, not rolled

    kubectl(cluster, "rollout", "resume", "deployment/p", "-n", ns)
    assert_rolled_out(cluster, ns, "p")
    assert [rs["spec"]["replicas"] for rs in replicasets(cluster.client, ns)] == [0, 4]

    kubectl(cluster, "rollout", "restart", "deployment/p", "-n", ns)
    assert_rolled_out(cluster, ns, "p")
    rss = replicasets(cluster.client, ns)
    assert [rs["spec"]["replicas"] for rs in rss] == [0, 0, 4]
    assert "kubectl.kubernetes.io/restartedAt" in rss[-1]["spec"]["template"]["metadata"]["annotations"]


def test_recreate_never_runs_both_templates(cluster: Cluster, ns: str) -> None:
    apply(cluster, ns, deployment("r", 3, strategy={"type": "Recreate"}))
    assert_rolled_out(cluster, ns, "r")
    observer = PodObserver(cluster.client, ns).start()
    kubectl(cluster, "set", "image", "deployment/r", "c=img:v2", "-n", ns)
    assert_rolled_out(cluster, ns, "r")
    assert observer.max_live <= 3
    assert not observer.both_templates_live
    assert [rs["spec"]["replicas"] for rs in replicasets(cluster.client, ns)] == [0, 3]


def test_progress_deadline_exceeded(cluster: Cluster, ns: str) -> None:
    obj = deployment("stuck", 2, progressDeadlineSeconds=3)
    obj["spec"]["template"]["spec"]["nodeSelector"] = {"no-such-label": "anywhere"}
    apply(cluster, ns, obj)
    result = rollout_status(cluster, ns, "stuck", timeout="45s")
    assert result.returncode != 0
    assert 'deployment "stuck" exceeded its progress deadline' in result.stderr
    d = cluster.client.get(DEPLOYMENTS, "stuck", ns)
    progressing = condition(d, "Progressing")
    assert (progressing["status"], progressing["reason"]) == ("False", "ProgressDeadlineExceeded")
    assert progressing["message"].endswith("has timed out progressing.")
    assert condition(d, "Available")["reason"] == "MinimumReplicasUnavailable"


def test_scaling_mid_rollout_is_proportional(cluster: Cluster, ns: str) -> None:
    """10 replicas, surge 3, unavailable 2; a rollout stuck at old 8 / new 5 scaled to 20 adds 12 pods
    in proportion (old 15, new 10), and undoing the stuck template settles at 20."""
    apply(cluster, ns, deployment("s", 10))
    assert_rolled_out(cluster, ns, "s")
    patch = {"spec": {"template": {"spec": {"nodeSelector": {"no-such-label": "x"}}}}}
    kubectl(cluster, "patch", "deployment/s", "-n", ns, "-p", json.dumps(patch))

    def sizes() -> list[int]:
        return [rs["spec"]["replicas"] for rs in replicasets(cluster.client, ns)]

    wait_for(lambda: sizes() == [8, 5], 30, "the rollout to get stuck at 8 + 5")
    kubectl(cluster, "scale", "deployment/s", "--replicas=20", "-n", ns)
    wait_for(lambda: sizes() == [15, 10], 30, "proportional scaling to 15 + 10")
    kubectl(cluster, "rollout", "undo", "deployment/s", "-n", ns)
    assert_rolled_out(cluster, ns, "s")
    assert sorted(sizes()) == [0, 20]


def test_revision_history_limit(cluster: Cluster, ns: str) -> None:
    apply(cluster, ns, deployment("h", 1, revisionHistoryLimit=1))
    assert_rolled_out(cluster, ns, "h")
    for tag in ("v2", "v3", "v4"):
        kubectl(cluster, "set", "image", "deployment/h", f"c=img:{tag}", "-n", ns)
        assert_rolled_out(cluster, ns, "h")
    wait_for(lambda: len(replicasets(cluster.client, ns)) == 2, 30, "history trimmed to one old ReplicaSet")
    old, new = replicasets(cluster.client, ns)
    assert (image_of(old), image_of(new)) == ("img:v3", "img:v4")


def test_sigkill_mid_rollout_converges_within_surge(cluster: Cluster, ns: str) -> None:
    """minReadySeconds 1 makes the rollout take several steps; the kill lands between them."""
    apply(cluster, ns, deployment("k", 10, minReadySeconds=1))
    assert_rolled_out(cluster, ns, "k")
    observer = PodObserver(cluster.client, ns).start()
    kubectl(cluster, "set", "image", "deployment/k", "c=img:v2", "-n", ns)
    wait_for(lambda: len(replicasets(cluster.client, ns)) == 2, 30, "the new ReplicaSet")
    assert cluster.client.get(DEPLOYMENTS, "k", ns)["status"].get("updatedReplicas", 0) < 10
    manager = cluster.plane.processes["controller-manager"]
    manager.kill()
    manager.wait()
    time.sleep(1)
    cluster.plane.start("controller-manager", "controller-manager")
    assert_rolled_out(cluster, ns, "k")
    assert observer.max_live <= 13
    assert observer.min_ready >= 8
    assert [rs["spec"]["replicas"] for rs in replicasets(cluster.client, ns)] == [0, 10]


def test_replicaset_deleted_while_controllers_are_down_is_recreated(cluster: Cluster, ns: str) -> None:
    apply(cluster, ns, deployment("g", 2))
    assert_rolled_out(cluster, ns, "g")
    [rs] = replicasets(cluster.client, ns)
    cluster.plane.stop("controller-manager")
    try:
        cluster.client.delete(REPLICASETS, rs["metadata"]["name"], ns)
        wait_for(lambda: not cluster.client.list(REPLICASETS, ns)["items"], 10, "the ReplicaSet gone")
    finally:
        cluster.plane.start("controller-manager", "controller-manager")
    wait_for(lambda: cluster.client.list(REPLICASETS, ns)["items"], 60, "the ReplicaSet back")
    [again] = replicasets(cluster.client, ns)
    assert again["metadata"]["name"] == rs["metadata"]["name"]
    assert again["metadata"]["uid"] != rs["metadata"]["uid"]
    assert_rolled_out(cluster, ns, "g")
