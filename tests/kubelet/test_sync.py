"""``KubeletController.sync`` against a real API server and an in-process ``ProcessRuntime``.

The syncs are called directly (no Celery): each test drives one pod through its life by syncing
its key until what a user would see (status, Events, files, processes) shows up.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from cluster import errors
from cluster.api.resources import lookup
from cluster.client.client import Client
from tasks.kubelet.controller import KubeletController, pod_key
from tasks.runtime.controller import Context
from tests.kubelet.installed_runtime import installed_runtime
from workers.runtime.process import ProcessRuntime

PODS = lookup("", "v1", "pods")
EVENTS = lookup("", "v1", "events")
NODE_IP = "10.9.8.7"
Obj = dict[str, Any]

PROBE_SCRIPT = """
import json, os
vols = {}
for root, _, files in os.walk("volumes"):
    for f in files:
        p = os.path.join(root, f)
        vols[p] = [open(p).read(), oct(os.stat(p).st_mode & 0o777)]
keys = ("GREETING", "PW", "POD", "NODE", "HOST_IP", "MEM", "CM_color")
json.dump({"env": {k: os.environ.get(k) for k in keys}, "vols": vols}, open("volumes/scratch/seen.json", "w"))
import time
time.sleep(300)
"""


@pytest.fixture
def node(client: Client) -> Iterator[str]:
    name = f"kn-{uuid.uuid4().hex[:6]}"
    client.create(
        {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": name},
            "status": {
                "addresses": [{"type": "InternalIP", "address": NODE_IP}],
                "allocatable": {"cpu": "2", "memory": "4Gi"},
            },
        }
    )
    yield name


@pytest.fixture
def rt(tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ProcessRuntime]:
    monkeypatch.setenv("KUBEQ_CRASHLOOP_BASE_SECONDS", "0.3")
    with installed_runtime(tmp_path / "runtime") as r:
        yield r


class Harness:
    def __init__(self, client: Client, ns: str, node: str) -> None:
        self.client, self.ns, self.node = client, ns, node
        self.kubelet = KubeletController()
        self.ctx = Context(client=client)

    def create(self, name: str, containers: list[Obj], **spec: Any) -> Obj:
        body = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "labels": {"app": name}},
            "spec": {"nodeName": self.node, "containers": containers, **spec},
        }
        return self.client.create(body, self.ns)

    def key(self, name: str) -> str:
        return f"{self.node}/{self.ns}/{name}"

    def get(self, name: str) -> Obj:
        return self.client.get(PODS, name, self.ns)

    def sync_until(self, name: str, check: Callable[[Obj], Any], timeout: float = 15) -> Obj:
        """Sync the pod's key (as the work queue would, honouring short requeues) until ``check``."""
        deadline = time.monotonic() + timeout
        while True:
            self.kubelet.sync(self.key(name), self.ctx)
            pod = self.get(name)
            if check(pod):
                return pod
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out; last status {json.dumps(pod.get('status'), indent=1)}")
            time.sleep(0.1)

    def events(self, name: str, *reasons: str, timeout: float = 5.0) -> list[Obj]:
        """The pod's Events, once every one of ``reasons`` is among them (the kubelet posts Events
        in the background); AssertionError after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            found = [
                e for e in self.client.list(EVENTS, self.ns)["items"] if e["involvedObject"]["name"] == name
            ]
            if set(reasons) <= {e["reason"] for e in found} or time.monotonic() > deadline:
                return found
            time.sleep(0.1)


@pytest.fixture
def h(client: Client, ns: str, node: str, rt: ProcessRuntime) -> Harness:
    return Harness(client, ns, node)


def cond(pod: Obj, kind: str) -> str | None:
    for c in pod.get("status", {}).get("conditions") or []:
        if c["type"] == kind:
            return c["status"]
    return None


def cstatus(pod: Obj, init: bool = False) -> Obj:
    return (pod.get("status", {}).get("initContainerStatuses" if init else "containerStatuses") or [{}])[0]


def test_pod_runs_with_env_and_volumes_then_deletes(h: Harness, rt: ProcessRuntime, data_dir: Path) -> None:
    h.client.create(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"}, "data": {"color": "red"}}, h.ns
    )
    h.client.create(
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "sec"}, "stringData": {"pw": "hunter2"}},
        h.ns,
    )
    container = {
        "name": "app",
        "image": "python:3.11",
        "command": ["python3", "-c", PROBE_SCRIPT],
        "resources": {"limits": {"memory": "128Mi"}},
        "envFrom": [{"configMapRef": {"name": "cm"}, "prefix": "CM_"}],
        "env": [
            {"name": "GREETING", "value": "hi $(CM_color)"},
            {"name": "PW", "valueFrom": {"secretKeyRef": {"name": "sec", "key": "pw"}}},
            {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
            {"name": "HOST_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.hostIP"}}},
            {
                "name": "MEM",
                "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}},
            },
        ],
        "volumeMounts": [{"name": "scratch", "mountPath": "/scratch"}],
    }
    volumes = [
        {"name": "scratch", "emptyDir": {}},
        {"name": "cfg", "configMap": {"name": "cm"}},
        {"name": "sec", "secret": {"secretName": "sec", "defaultMode": 0o400}},
        {
            "name": "info",
            "downwardAPI": {"items": [{"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}}]},
        },
    ]
    created = h.create("web", [container], volumes=volumes, terminationGracePeriodSeconds=5)
    assert pod_key(created) == h.key("web")
    pod = h.sync_until("web", lambda p: cond(p, "Ready") == "True")
    st = pod["status"]
    assert st["phase"] == "Running" and st["hostIP"] == NODE_IP and st["podIP"] and st["startTime"]
    cs = cstatus(pod)
    assert "running" in cs["state"] and cs["ready"] and cs["restartCount"] == 0
    assert cs["containerID"].startswith("kubeq-process://") and cs["image"] == "python:3.11"
    seen_file = data_dir / "pods" / pod["metadata"]["uid"] / "volumes" / "scratch" / "seen.json"
    deadline = time.monotonic() + 10
    while not seen_file.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    seen = json.loads(seen_file.read_text())
    assert seen["env"] == {
        "GREETING": "hi red",
        "PW": "hunter2",
        "POD": "web",
        "NODE": h.node,
        "HOST_IP": NODE_IP,
        "MEM": "128",
        "CM_color": "red",
    }
    assert seen["vols"]["volumes/cfg/color"] == ["red", "0o644"]
    assert seen["vols"]["volumes/sec/pw"] == ["hunter2", "0o400"]
    assert seen["vols"]["volumes/info/labels"][0] == 'app="web"'
    reasons = {e["reason"] for e in h.events("web", "Created", "Started")}
    assert {"Created", "Started"} <= reasons

    pid = rt.list_containers()[0].pid
    assert pid and os.path.exists(f"/proc/{pid}")
    h.client.delete(PODS, "web", h.ns)
    assert h.get("web")["metadata"].get("deletionTimestamp")
    h.kubelet.sync(h.key("web"), h.ctx)
    with pytest.raises(errors.NotFound):
        h.get("web")
    assert not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split()[2] == "Z"
    assert rt.list_pod_sandboxes() == []
    assert "Killing" in {e["reason"] for e in h.events("web", "Killing")}


def test_crashing_container_backs_off(h: Harness) -> None:
    h.create(
        "crash", [{"name": "c", "image": "busybox", "command": ["python3", "-c", "raise SystemExit(1)"]}]
    )
    pod = h.sync_until(
        "crash", lambda p: cstatus(p).get("restartCount", 0) >= 2 and "waiting" in cstatus(p)["state"]
    )
    cs = cstatus(pod)
    assert cs["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    assert cs["lastState"]["terminated"]["exitCode"] == 1
    assert pod["status"]["phase"] == "Running" and cond(pod, "Ready") == "False"
    assert "BackOff" in {e["reason"] for e in h.events("crash", "BackOff")}
    # the requeue delay returned is the back-off left, not the poll interval
    delay = h.kubelet.sync(h.key("crash"), h.ctx)
    assert delay is not None and delay <= 0.3 * 2 ** cs["restartCount"] + 0.1


def test_never_succeeds_and_init_runs_first(h: Harness) -> None:
    init = {
        "name": "init",
        "image": "x",
        "command": ["sh", "-c", "echo done > volumes/w/init"],
        "volumeMounts": [],
    }
    main = {"name": "main", "image": "x", "command": ["sh", "-c", "test -f volumes/w/init"]}
    h.create(
        "job", [main], initContainers=[init], restartPolicy="Never", volumes=[{"name": "w", "emptyDir": {}}]
    )
    pod = h.sync_until("job", lambda p: p.get("status", {}).get("phase") == "Succeeded")
    assert cstatus(pod, init=True)["state"]["terminated"]["reason"] == "Completed"
    assert cstatus(pod)["state"]["terminated"]["exitCode"] == 0
    assert cond(pod, "Initialized") == "True" and cond(pod, "Ready") == "False"
    assert h.kubelet.sync(h.key("job"), h.ctx) is None


def test_failing_init_with_never_fails_the_pod(h: Harness) -> None:
    init = {"name": "init", "image": "x", "command": ["false"]}
    h.create(
        "bad",
        [{"name": "main", "image": "x", "command": ["true"]}],
        initContainers=[init],
        restartPolicy="Never",
    )
    pod = h.sync_until("bad", lambda p: p.get("status", {}).get("phase") == "Failed")
    assert cstatus(pod)["state"]["waiting"]["reason"] == "PodInitializing"
    assert cond(pod, "Initialized") == "False"


def test_image_only_container_waits_with_a_clear_reason(h: Harness) -> None:
    h.create("img", [{"name": "c", "image": "nginx:1.27"}])
    pod = h.sync_until("img", lambda p: "waiting" in cstatus(p).get("state", {}))
    waiting = cstatus(pod)["state"]["waiting"]
    assert waiting["reason"] == "CreateContainerError" and "nginx:1.27" in waiting["message"]
    failed = [e for e in h.events("img", "Failed") if e["reason"] == "Failed"]
    assert failed and failed[0]["type"] == "Warning"


def test_gone_pod_leftovers_are_stopped(h: Harness, rt: ProcessRuntime) -> None:
    h.create("gone", [{"name": "c", "image": "x", "command": ["sleep", "300"]}])
    h.sync_until("gone", lambda p: p.get("status", {}).get("phase") == "Running")
    pid = rt.list_containers()[0].pid
    h.client.delete(PODS, "gone", h.ns, gracePeriodSeconds=0)
    assert h.kubelet.sync(h.key("gone"), h.ctx) is None
    assert rt.list_pod_sandboxes() == []
    assert not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split()[2] == "Z"


def test_a_running_pod_is_not_polled(h: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBEQ_KUBELET_RESYNC_SECONDS", raising=False)
    h.create("idle", [{"name": "c", "image": "x", "command": ["sleep", "300"]}])
    pod = h.sync_until("idle", lambda p: p.get("status", {}).get("phase") == "Running")
    assert any("projected" in v for v in pod["spec"].get("volumes") or [])  # its token renews on resync
    # nothing is due: exits, probes and pod changes queue the next sync (and the node resyncs its pods)
    assert h.kubelet.sync(h.key("idle"), h.ctx) is None
    monkeypatch.setenv("KUBEQ_KUBELET_RESYNC_SECONDS", "5")
    assert h.kubelet.sync(h.key("idle"), h.ctx) == 5
