"""Issue 5 end to end on ``kubeq up --nodes 2 --hollow-nodes 0``, once with ``host`` and once with
``namespaces`` isolation (the same tests pass in both): real processes run
as pods, probes gate readiness and restart containers, crash loops back off, memory limits OOM-kill,
``kubectl logs``/``exec`` reach the containers, and a Deployment spreads over both nodes."""

from __future__ import annotations

import json
import os
import signal
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tasks.kubelet import cri
from tasks.kubelet.lifecycle import probe
from tests.node.upcluster import (
    HTTP_PORT,
    Kube,
    apply,
    bare_pod,
    condition,
    container,
    launch_up,
    pid_with,
    pod,
    pods,
    wait,
)
from workers.runtime.cgroups import limits_enforced
from workers.runtime.process import ProcessRuntime


@pytest.fixture(scope="module", params=["host", "namespaces"])
def kube(request: pytest.FixtureRequest) -> Iterator[Kube]:
    """A running two-node ``kubeq up`` with the param's isolation."""
    with launch_up(request.param) as run:
        yield run


def test_http_deployment_ready_logs_and_exec(kube: Kube) -> None:
    # With their own network namespaces, pods on one host can all listen on the same port: the
    # issue's 3 replicas over both nodes. Sharing the host's network, only one can.
    replicas = 3 if kube.isolation == "namespaces" else 1  # type: ignore[attr-defined]
    apply(
        kube,
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web"},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {
                        "terminationGracePeriodSeconds": 1,
                        "containers": [
                            {
                                "name": "web",
                                "image": "python:3",
                                "command": ["python3", "-m", "http.server", str(HTTP_PORT)],
                                "ports": [{"name": "http", "containerPort": HTTP_PORT}],
                                "readinessProbe": {
                                    "httpGet": {"path": "/", "port": "http"},
                                    "periodSeconds": 1,
                                },
                                "startupProbe": {"tcpSocket": {"port": HTTP_PORT}, "periodSeconds": 1},
                            }
                        ],
                    },
                },
            },
        },
    )
    ready = wait(
        lambda: [p for p in pods(kube, "app=web") if condition(p, "Ready") == "True"][replicas - 1 :],
        90,
        f"{replicas} Ready web pods",
    )
    ready = [p for p in pods(kube, "app=web") if condition(p, "Ready") == "True"]
    assert len(ready) == replicas
    if replicas == 3:
        assert len({p["spec"]["nodeName"] for p in ready}) == 2, "the replicas should use both nodes"
    p = ready[0]
    assert container(p)["started"] is True and container(p)["ready"] is True
    host_ip = p["status"]["podIP"]  # the host's address with host isolation, else the pod's own

    def answers() -> bool:
        try:
            with urllib.request.urlopen(f"http://{host_ip}:{HTTP_PORT}/", timeout=5) as resp:
                return resp.status == 200
        except OSError:
            return False

    wait(answers, 10, f"an answer from {host_ip}:{HTTP_PORT} ({container(pod(kube, p['metadata']['name']))})")
    name = p["metadata"]["name"]
    logs = wait(
        lambda: (out := kube("logs", name)).returncode == 0 and "GET / HTTP/1.1" in out.stdout, 20, "log"
    )
    assert logs
    out = kube("exec", name, "--", "sh", "-c", "echo hi; exit 3")
    assert out.stdout == "hi\n" and out.returncode == 3, (out.stdout, out.stderr)
    assert kube("delete", "deployment", "web").returncode == 0


def test_killed_container_is_restarted(kube: Kube) -> None:
    marker = f"kq-kill-{uuid.uuid4().hex[:8]}"
    apply(kube, bare_pod("killme", ["python3", "-c", "import time; time.sleep(3600)", marker]))
    wait(lambda: container(pod(kube, "killme")).get("state", {}).get("running"), 60, "killme running")
    pid = wait(lambda: pid_with(marker), 10, "the container's process")
    os.kill(pid, signal.SIGKILL)
    p = wait(
        lambda: (q := pod(kube, "killme")) and container(q).get("restartCount", 0) >= 1 and q, 30, "a restart"
    )
    last = container(p)["lastState"]["terminated"]
    assert last["exitCode"] == 137
    wait(lambda: container(pod(kube, "killme")).get("state", {}).get("running"), 30, "running again")
    assert pid_with(marker) not in (None, pid)
    kube("delete", "pod", "killme", "--wait=false")


def test_liveness_failure_restarts(kube: Kube) -> None:
    flag = f"/tmp/kq-alive-{uuid.uuid4().hex[:8]}"
    Path(flag).write_text("ok")
    probe = {"exec": {"command": ["cat", flag]}, "periodSeconds": 1, "failureThreshold": 1}
    apply(kube, bare_pod("live", ["sleep", "3600"], container={"livenessProbe": probe}))
    wait(lambda: container(pod(kube, "live")).get("state", {}).get("running"), 60, "live running")
    time.sleep(2)
    assert container(pod(kube, "live"))["restartCount"] == 0
    os.unlink(flag)
    wait(lambda: container(pod(kube, "live")).get("restartCount", 0) >= 1, 40, "a liveness restart")
    kube("delete", "pod", "live", "--wait=false")


def test_crashing_container_backs_off(kube: Kube) -> None:
    apply(kube, bare_pod("crash", ["sh", "-c", "exit 1"]))

    def shown() -> bool:
        out = kube("get", "pod", "crash")
        return "CrashLoopBackOff" in out.stdout

    wait(shown, 60, "CrashLoopBackOff in kubectl get pod")
    st = container(pod(kube, "crash"))
    assert st["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    assert st["lastState"]["terminated"]["exitCode"] == 1
    wait(lambda: container(pod(kube, "crash")).get("restartCount", 0) >= 2, 30, "restarts after back-off")
    kube("delete", "pod", "crash", "--wait=false")


def test_memory_hog_is_oom_killed(kube: Kube) -> None:
    hog = ["python3", "-c", "import time; b = [b'x' * (10 << 20) for _ in range(30)]; time.sleep(60)"]
    limits = {"resources": {"limits": {"memory": "50Mi"}}}
    apply(kube, bare_pod("hog", hog, container=limits, restartPolicy="Never"))

    def terminated() -> dict[str, Any] | None:
        st = container(pod(kube, "hog"))
        return st.get("state", {}).get("terminated") or st.get("lastState", {}).get("terminated")

    t = wait(terminated, 60, "the hog to end")
    assert (t["reason"], t["exitCode"]) == ("OOMKilled", 137), t
    kube("delete", "pod", "hog", "--wait=false")


def test_deployment_spreads_over_both_nodes(kube: Kube) -> None:
    apply(
        kube,
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "sleepers"},
            "spec": {
                "replicas": 4,
                "selector": {"matchLabels": {"app": "sleepers"}},
                "template": {
                    "metadata": {"labels": {"app": "sleepers"}},
                    "spec": {
                        "terminationGracePeriodSeconds": 1,
                        "containers": [{"name": "s", "image": "busybox", "command": ["sleep", "3600"]}],
                    },
                },
            },
        },
    )

    def running() -> list[dict[str, Any]]:
        got = [p for p in pods(kube, "app=sleepers") if p.get("status", {}).get("phase") == "Running"]
        return got if len(got) == 4 else []

    got = wait(running, 60, "4 running sleepers")
    assert len({p["spec"]["nodeName"] for p in got}) == 2
    assert kube("delete", "deployment", "sleepers").returncode == 0


def test_startup_then_readiness_gate_ready(kube: Kube, tmp_path: Path) -> None:
    start, ready = tmp_path / "started", tmp_path / "ready"
    probes = {
        "startupProbe": {"exec": {"command": ["test", "-f", str(start)]}, "periodSeconds": 1,
                         "failureThreshold": 60},
        "readinessProbe": {"exec": {"command": ["test", "-f", str(ready)]}, "periodSeconds": 1},
    }  # fmt: skip
    apply(kube, bare_pod("gated", ["sleep", "3600"], container=probes))
    wait(lambda: container(pod(kube, "gated")).get("state", {}).get("running"), 60, "gated running")
    time.sleep(2)
    p = pod(kube, "gated")
    assert (container(p)["started"], container(p)["ready"], condition(p, "Ready")) == (False, False, "False")
    ready.write_text("")  # readiness is not probed before the startup probe passes
    time.sleep(2)
    assert container(pod(kube, "gated"))["started"] is False
    start.write_text("")
    p = wait(lambda: (q := pod(kube, "gated")) and condition(q, "Ready") == "True" and q, 20, "Ready")
    assert container(p)["started"] is True and container(p)["restartCount"] == 0
    ready.unlink()
    wait(lambda: condition(pod(kube, "gated"), "Ready") == "False", 20, "not Ready again")
    kube("delete", "pod", "gated", "--wait=false")


def test_probe_named_port_and_host() -> None:
    ports = [{"name": "http", "containerPort": 8080}]
    got = probe({"httpGet": {"port": "http", "path": "/healthz"}}, ports, "10.1.2.3")
    assert got is not None and (got.kind, got.host, got.port, got.path) == (
        "httpGet",
        "10.1.2.3",
        8080,
        "/healthz",
    )
    assert probe({"tcpSocket": {"port": "nope"}}, ports) is None
    assert probe({"tcpSocket": {"port": 81, "host": "1.2.3.4"}}, ports, "10.1.2.3").host == "1.2.3.4"


@pytest.mark.skipif(not limits_enforced(), reason="no writable memory cgroup")
def test_cgroup_limits_apply_and_are_removed(tmp_path: Path) -> None:
    rt = ProcessRuntime(str(tmp_path / "rt"), probes=False)
    try:
        sandbox = rt.run_pod_sandbox(cri.SandboxConfig("uid-g", "default", "p", "p", str(tmp_path / "pod")))
        script = "for i in $(seq 30); do sleep 5 & done; wait"
        config = cri.ContainerConfig("c", "img", ["sh", "-c", script], pids_limit=8, cpu_limit_millis=250)
        cid = rt.create_container(sandbox, config)
        rt.start_container(cid)
        dirs = [p for p in (rt._containers[cid].limits.v1 or [rt._containers[cid].limits.cgroup]) if p]
        assert dirs and all(os.path.isdir(d) for d in dirs)
        wait(lambda: rt.container_status(cid).state == cri.EXITED, 20, "the fork bomb to end")
        assert "fork" in Path(rt.container_status(cid).log_path).read_text().lower()  # pids.max held
        assert not any(os.path.exists(d) for d in dirs)
    finally:
        for st in rt.list_containers():
            rt.remove_container(st.id)
        rt.close()


def test_post_start_hook_runs_and_a_failing_one_restarts_the_container(kube: Kube) -> None:
    flag = Path(f"/tmp/kq-poststart-{uuid.uuid4().hex[:8]}")
    hook = {"postStart": {"exec": {"command": ["sh", "-c", f"echo started > {flag}"]}}}
    apply(kube, bare_pod("hooked", ["sleep", "3600"], container={"lifecycle": hook}))
    wait(lambda: container(pod(kube, "hooked")).get("state", {}).get("running"), 60, "hooked running")
    assert flag.read_text() == "started\n"
    flag.unlink()
    failing = {"postStart": {"exec": {"command": ["sh", "-c", "exit 7"]}}}
    apply(kube, bare_pod("unhooked", ["sleep", "3600"], container={"lifecycle": failing}))
    wait(
        lambda: container(pod(kube, "unhooked")).get("restartCount", 0) >= 1,
        60,
        "a restart after the hook failed",
    )
    events = kube("get", "events", "--field-selector", "involvedObject.name=unhooked", "-o", "json")
    reasons = {e["reason"] for e in json.loads(events.stdout)["items"]}
    assert "FailedPostStartHook" in reasons
    for name in ("hooked", "unhooked"):
        kube("delete", "pod", name, "--wait=false")
