"""Probes against real containers: exec readiness flips both ways, httpGet, tcpSocket liveness."""

from __future__ import annotations

import socket
import sys
import time
from pathlib import Path

from tasks.kubelet import cri
from tests.runtime.conftest import run, sandbox_config, wait_for
from workers.runtime.process import ProcessRuntime


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_exec_readiness_flips_and_notifies(tmp_path: Path) -> None:
    changes: list[cri.ContainerStatus] = []
    rt = ProcessRuntime(str(tmp_path / "root"), on_change=changes.append)
    try:
        sid = rt.run_pod_sandbox(sandbox_config(tmp_path))
        probe = cri.Probe("exec", command=["test", "-f", "ready"], period_seconds=1, failure_threshold=1)
        cid = run(rt, sid, ["sh", "-c", "sleep 0.3; touch ready; sleep 30"], readiness=probe)
        st = rt.container_status(cid)
        assert st.state == cri.RUNNING and not st.ready and st.started
        wait_for(lambda: rt.container_status(cid).ready, 4)
        assert changes and changes[-1].id == cid and changes[-1].ready
        rt.exec_sync(cid, ["rm", "ready"], 5)
        wait_for(lambda: not rt.container_status(cid).ready, 4)
        assert not changes[-1].ready
        seen = len(changes)
        rt.stop_container(cid, 0)
        time.sleep(0.2)
        assert len(changes) == seen  # an exit the caller asked for is not reported back
    finally:
        rt.close()


def test_http_readiness_and_tcp_liveness(runtime: ProcessRuntime, sandbox: str) -> None:
    port, closed = free_port(), free_port()
    ready = cri.Probe("httpGet", port=port, path="/", period_seconds=1)
    alive = cri.Probe(
        "tcpSocket", port=closed, initial_delay_seconds=2, period_seconds=1, failure_threshold=2
    )
    server = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"]
    cid = run(runtime, sandbox, server, readiness=ready, liveness=alive)
    wait_for(lambda: runtime.container_status(cid).ready, 5)
    assert not runtime.container_status(cid).liveness_failed
    wait_for(lambda: runtime.container_status(cid).liveness_failed, 5)


def test_startup_probe_gates_started(runtime: ProcessRuntime, sandbox: str) -> None:
    startup = cri.Probe("exec", command=["test", "-f", "booted"], period_seconds=1, failure_threshold=30)
    cid = run(runtime, sandbox, ["sh", "-c", "sleep 0.5; touch booted; sleep 30"], startup=startup)
    assert not runtime.container_status(cid).started
    wait_for(lambda: runtime.container_status(cid).started, 4)
    assert runtime.container_status(cid).ready  # no readiness probe: ready while running
