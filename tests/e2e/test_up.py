"""``kubeq up``: a newcomer's local cluster starts, serves kubectl, and stops leaving nothing behind."""

from __future__ import annotations

import base64
import json
import os
import signal
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.e2e.conftest import ROOT, free_port


def _processes_mentioning(text: str) -> list[str]:
    """Processes whose command line or environment contains ``text`` (this one excluded)."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            environ = Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if text in cmdline or text in environ:
            found.append(f"{pid}: {cmdline}")
    return found


def _flower_workers(port: int, user: str, password: str, timeout: float = 30) -> list[str]:
    """The worker names Flower's HTTP API lists (with basic auth), once both roles show up."""
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    deadline = time.monotonic() + timeout
    names: list[str] = []
    while time.monotonic() < deadline:
        req = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/workers?refresh=1", headers={"Authorization": f"Basic {auth}"}
        )
        try:
            with urllib.request.urlopen(req, timeout=5) as resp:
                names = list(json.loads(resp.read()))
        except OSError:
            names = []
        if any(n.startswith("scheduler@") for n in names) and any(
            n.startswith("controllers@") for n in names
        ):
            return names
        time.sleep(0.5)
    return names


def _wait_for_line(proc: subprocess.Popen[str], needle: str, timeout: float) -> list[str]:
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if needle in line:
            return lines
    raise AssertionError(f"no {needle!r} in output: {''.join(lines)}")


def test_up_serves_kubectl_and_stops_cleanly(tmp_path: Path) -> None:
    data_dir = tmp_path / "kubeq-data"
    port = free_port()
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    for name in ("KUBEQ_REDIS_URL", "KUBEQ_INSECURE", "KUBEQ_KUBECONFIG", "KUBEQ_SERVER"):
        env.pop(name, None)  # the embedded Redis and a secure cluster are the defaults
    flower_port = free_port()
    args = [
        "up",
        "--data-dir",
        str(data_dir),
        "--port",
        str(port),
        "--flower-port",
        str(flower_port),
        "--hollow-nodes",
        "3",
        "--nodes",
        "0",
    ]
    proc = subprocess.Popen(
        [sys.executable, "-m", "workers.cli", *args], stdout=subprocess.PIPE, text=True, env=env, cwd=ROOT
    )
    try:
        output = "".join(_wait_for_line(proc, "ready", 60))
        assert f"https://127.0.0.1:{port}" in output  # secure by default
        user, password = (data_dir / "flower-credentials").read_text().strip().split(":")
        assert f"Flower at http://127.0.0.1:{flower_port} (user {user}, password {password})" in output
        ca = ssl.create_default_context(cafile=str(data_dir / "pki" / "ca.crt"))
        with urllib.request.urlopen(f"https://127.0.0.1:{port}/readyz", context=ca) as resp:
            assert resp.read() == b"ok"
        kubeconfig = data_dir / "kubeconfig"
        assert kubeconfig.exists()
        result = subprocess.run(
            [
                "kubectl",
                f"--kubeconfig={kubeconfig}",
                f"--cache-dir={tmp_path / 'c'}",
                "get",
                "namespaces",
                "-o",
                "name",
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert result.returncode == 0, result.stderr
        assert set(result.stdout.split()) >= {
            "namespace/default",
            "namespace/kube-system",
            "namespace/kube-public",
            "namespace/kube-node-lease",
        }
        assert _processes_mentioning(str(data_dir)), "the embedded Redis should run under the data dir"
        workers = _flower_workers(flower_port, user, password)
        assert any(w.startswith("scheduler@") for w in workers), workers
        assert any(w.startswith("controllers@") for w in workers), workers
        nodes = subprocess.run(
            [
                "kubectl",
                f"--kubeconfig={kubeconfig}",
                f"--cache-dir={tmp_path / 'c'}",
                "get",
                "nodes",
                "-o",
                "name",
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert len(nodes.stdout.split()) == 3, nodes.stdout + nodes.stderr
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(30)
    assert code == 0
    time.sleep(0.5)
    assert _processes_mentioning(str(data_dir)) == []
    assert _processes_mentioning(f"--port {port}") == []


def test_up_keeps_state_across_restarts(tmp_path: Path) -> None:
    """Objects written before a stop are there after the next ``kubeq up`` (AOF on the data dir)."""
    data_dir = tmp_path / "kubeq-data"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    for name in ("KUBEQ_REDIS_URL", "KUBEQ_INSECURE", "KUBEQ_KUBECONFIG", "KUBEQ_SERVER"):
        env.pop(name, None)
    for round_ in range(2):
        port = free_port()
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "workers.cli",
                "up",
                "--data-dir",
                str(data_dir),
                "--port",
                str(port),
                "--nodes",
                "0",
            ],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
            cwd=ROOT,
        )
        try:
            _wait_for_line(proc, "ready", 60)
            kube = ["kubectl", f"--kubeconfig={data_dir / 'kubeconfig'}", f"--cache-dir={tmp_path / 'c'}"]
            if round_ == 0:
                subprocess.run(
                    [*kube, "create", "configmap", "kept", "--from-literal=a=1"],
                    check=True,
                    capture_output=True,
                    timeout=30,
                )
            else:
                out = subprocess.run(
                    [*kube, "get", "configmap", "kept", "-o", "jsonpath={.data.a}"],
                    capture_output=True,
                    text=True,
                    timeout=30,
                )
                assert out.stdout == "1", out.stderr
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(30) == 0
