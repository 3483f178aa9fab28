"""The runtime daemon as a real subprocess, driven through RuntimeClient over its Unix socket."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from cluster.settings import Settings
from tasks.kubelet import cri
from tasks.kubelet.runtime_client import RuntimeClient
from tasks.runtime.workqueue import WorkQueue
from tests.runtime.conftest import exited, kill_all, sandbox_config, wait_for
from workers.celery_app import make_app
from workers.runtime.notify import KubeletNotifier
from workers.runtime.process import ProcessRuntime
from workers.runtime.procfs import zombie_children

REPO = Path(__file__).resolve().parents[2]


class Daemon:
    def __init__(self, tmp_path: Path) -> None:
        self.socket = str(tmp_path / "rt.sock")
        self.root = str(tmp_path / "root")
        self.proc: subprocess.Popen | None = None

    def start(self, env: dict[str, str] | None = None) -> RuntimeClient:
        """Run the daemon (notifying the kubelet only when given an ``env`` naming a broker)."""
        cmd = [sys.executable, "-m", "workers.runtime.daemon", "--socket", self.socket, "--root", self.root]
        cmd += ["--node", "n1"] + ([] if env else ["--no-notify"])
        self.proc = subprocess.Popen(cmd, cwd=REPO, stderr=subprocess.DEVNULL, env=env)
        client = RuntimeClient(self.socket, timeout=5)

        def answers() -> bool:
            try:
                return client.version() == "kubeq-process://0.1.0"
            except ConnectionError:
                return False

        wait_for(answers, 10)
        return client

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Daemon]:
    d = Daemon(tmp_path)
    try:
        yield d
    finally:
        try:
            kill_all(RuntimeClient(d.socket, timeout=5))
        except ConnectionError:
            pass
        d.kill()


def test_client_drives_the_daemon(daemon: Daemon, tmp_path: Path) -> None:
    client = daemon.start()
    sid = client.run_pod_sandbox(sandbox_config(tmp_path))
    assert client.pod_sandbox_status(sid).config == sandbox_config(tmp_path)
    probe = cri.Probe("exec", command=["true"], period_seconds=1)
    cfg = cri.ContainerConfig(
        "app", "img", ["sh", "-c", "echo $X; sleep 30"], env={"X": "y"}, readiness=probe
    )
    cid = client.create_container(sid, cfg)
    assert client.container_status(cid).state == cri.CREATED
    client.start_container(cid)
    wait_for(lambda: client.container_status(cid).ready, 4)
    res = client.exec_sync(cid, ["sh", "-c", "printf '\\000\\377'; exit 5"], 5)
    assert (res.exit_code, res.stdout) == (5, b"\x00\xff")
    with pytest.raises(TimeoutError):
        client.exec_sync(cid, ["sleep", "5"], 0.2)
    client.stop_container(cid, 1)
    st = client.container_status(cid)
    assert (st.state, st.exit_code, st.reason) == (cri.EXITED, 143, "Error")  # sh dies of SIGTERM
    assert "y" in Path(st.log_path).read_text()
    assert [c.id for c in client.list_containers(sid)] == [cid] and client.list_containers("other") == []
    bad = client.create_container(sid, cri.ContainerConfig("bad", "img", ["/no/such/binary"]))
    with pytest.raises(FileNotFoundError):
        client.start_container(bad)
    with pytest.raises(KeyError):
        client.container_status("nope")
    client.remove_pod_sandbox(sid)
    assert client.list_pod_sandboxes() == [] and client.list_containers() == []


def test_daemon_sigkill_and_restart_keeps_containers(daemon: Daemon, tmp_path: Path) -> None:
    client = daemon.start()
    sid = client.run_pod_sandbox(sandbox_config(tmp_path))
    script = "import time\nfor i in range(300): print(f'tick {i}', flush=True); time.sleep(0.05)"
    cid = client.create_container(sid, cri.ContainerConfig("app", "img", ["python3", "-c", script]))
    client.start_container(cid)
    pid = client.container_status(cid).pid
    daemon.kill()
    with pytest.raises(ConnectionError):
        client.version()
    os.kill(pid, 0)  # the container outlived its daemon
    client = daemon.start()
    st = client.container_status(cid)
    assert (st.state, st.pid) == (cri.RUNNING, pid)
    size = os.path.getsize(st.log_path)
    wait_for(lambda: os.path.getsize(st.log_path) > size + 100)  # logging resumed
    client.stop_container(cid, 1)
    assert exited(client, cid).state == cri.EXITED
    assert client.pod_sandbox_status(sid).state == cri.SANDBOX_READY


def test_exit_queues_the_kubelet_key(daemon: Daemon, tmp_path: Path, redis_url: str, monkeypatch) -> None:
    kubelet = "tasks.kubelet.controller:KubeletController"
    monkeypatch.setenv("KUBEQ_EXTRA_CONTROLLERS", kubelet)
    prefix = f"test-rt-{uuid.uuid4().hex[:8]}:"
    env = dict(os.environ, KUBEQ_REDIS_URL=redis_url, KUBEQ_BROKER_PREFIX=prefix, PYTHONPATH=str(REPO))
    client = daemon.start(env)
    sid = client.run_pod_sandbox(sandbox_config(tmp_path, "job"))
    cid = client.create_container(sid, cri.ContainerConfig("main", "img", ["sh", "-c", "sleep 0.2"]))
    client.start_container(cid)
    exited(client, cid)
    # the daemon queued n1/default/job on the exit: its pending marker is set, so adding it again sends nothing
    r = redis.Redis.from_url(redis_url)
    wait_for(lambda: r.exists(f"{prefix}wq:pending:kubelet:n1/default/job"), 5)
    wq = WorkQueue(r, prefix, make_app(Settings(redis_url=redis_url, broker_prefix=prefix)))
    assert wq.add("kubelet", ["n1/default/job"]) == []
    assert wq.add("kubelet", ["n1/default/other"]) == ["n1/default/other"]


def test_notifier_is_best_effort(tmp_path: Path, caplog) -> None:
    dead = WorkQueue(redis.Redis.from_url("redis://127.0.0.1:1/0"), "x:", None)
    rt = ProcessRuntime(str(tmp_path / "root"))
    try:
        notifier = KubeletNotifier("n1", rt.pod_sandbox_status, queue=dead)
        sid = rt.run_pod_sandbox(sandbox_config(tmp_path))
        cid = rt.create_container(sid, cri.ContainerConfig("c", "img", ["true"]))
        notifier(rt.container_status(cid))  # no broker: logged, not raised
        assert "could not queue kubelet key" in caplog.text
    finally:
        rt.close()


def test_daemon_reaps_orphans(daemon: Daemon, tmp_path: Path) -> None:
    client = daemon.start()
    sid = client.run_pod_sandbox(sandbox_config(tmp_path))
    # the container's child outlives it: it is re-parented to the daemon (subreaper), which reaps it
    cmd = ["sh", "-c", "sh -c 'sleep 0.3' & echo $! > orphan.pid; exit 0"]
    cid = client.create_container(sid, cri.ContainerConfig("c", "img", cmd))
    client.start_container(cid)
    assert exited(client, cid).exit_code == 0
    orphan = int((Path(client.pod_sandbox_status(sid).config.pod_dir) / "orphan.pid").read_text())
    assert daemon.proc is not None
    wait_for(lambda: not os.path.exists(f"/proc/{orphan}") and not zombie_children(daemon.proc.pid), 5)


def test_sandboxes_listed_by_pod(daemon: Daemon, tmp_path: Path) -> None:
    client = daemon.start()
    web = client.run_pod_sandbox(sandbox_config(tmp_path, "web"))
    client.run_pod_sandbox(sandbox_config(tmp_path, "db"))
    assert [s.id for s in client.list_pod_sandboxes("default", "web")] == [web]
    assert client.list_pod_sandboxes("other", "web") == []
    assert len(client.list_pod_sandboxes()) == 2
