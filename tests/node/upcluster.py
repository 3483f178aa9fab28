"""A two-node ``kubeq up`` for the node suites, and helpers to read what it runs."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from tests.e2e.conftest import ROOT, free_port
from tests.e2e.test_up import _wait_for_line

HTTP_PORT = 18080
Kube = Callable[..., subprocess.CompletedProcess[str]]


@contextlib.contextmanager
def launch_up(isolation: str, nodes: int = 2, **env_extra: str) -> Iterator[Kube]:
    """A running ``kubeq up`` with ``nodes`` nodes (``isolation``, extra environment); yields a ``kubectl``
    runner against it (args -> CompletedProcess) that also carries ``.isolation`` and ``.data_dir``.

    The cluster is secure (TLS, authentication, RBAC): kubectl uses the admin kubeconfig it writes."""
    base = Path(tempfile.mkdtemp(prefix="kqw-", dir="/tmp"))
    data_dir = base / "d"
    env = dict(os.environ, PYTHONPATH=str(ROOT), KUBEQ_CRASHLOOP_BASE_SECONDS="1", **env_extra)
    for name in ("KUBEQ_REDIS_URL", "KUBEQ_INSECURE", "KUBEQ_KUBECONFIG", "KUBEQ_SERVER", "KUBEQ_PKI_DIR"):
        env.pop(name, None)
    args = ["up", "--data-dir", str(data_dir), "--port", str(free_port()), "--flower-port", str(free_port())]
    args += ["--nodes", str(nodes), "--hollow-nodes", "0", "--isolation", isolation]
    proc = subprocess.Popen(
        [sys.executable, "-m", "workers.cli", *args], stdout=subprocess.PIPE, text=True, env=env, cwd=ROOT
    )
    base_cmd = ["kubectl", f"--kubeconfig={data_dir / 'kubeconfig'}", f"--cache-dir={base / 'c'}"]

    def run(*argv: str, stdin: str | None = None, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*base_cmd, *argv], input=stdin, capture_output=True, text=True, timeout=timeout
        )

    run.isolation = isolation  # type: ignore[attr-defined]
    run.data_dir = data_dir  # type: ignore[attr-defined]
    try:
        _wait_for_line(proc, "ready", 90)
        assert proc.stdout is not None
        threading.Thread(target=proc.stdout.read, daemon=True).start()  # keep the pipe drained
        wait(lambda: len(ready_nodes(run)) == nodes, 60, f"{nodes} Ready nodes")
        yield run
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(base, ignore_errors=True)


def wait(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def ready_nodes(kube: Kube) -> list[str]:
    out = kube("get", "nodes", "-o", "json")
    if out.returncode != 0:
        return []
    names = []
    for node in json.loads(out.stdout)["items"]:
        conds = {c["type"]: c["status"] for c in node.get("status", {}).get("conditions", [])}
        if conds.get("Ready") == "True":
            names.append(node["metadata"]["name"])
    return names


def apply(kube: Kube, manifest: dict[str, Any]) -> None:
    out = kube("apply", "-f", "-", stdin=json.dumps(manifest))
    assert out.returncode == 0, out.stderr


def pods(kube: Kube, selector: str) -> list[dict[str, Any]]:
    out = kube("get", "pods", "-l", selector, "-o", "json")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)["items"]


def pod(kube: Kube, name: str) -> dict[str, Any]:
    out = kube("get", "pod", name, "-o", "json")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def condition(p: dict[str, Any], kind: str) -> str | None:
    return next((c["status"] for c in p.get("status", {}).get("conditions", []) if c["type"] == kind), None)


def container(p: dict[str, Any]) -> dict[str, Any]:
    statuses = p.get("status", {}).get("containerStatuses") or [{}]
    return statuses[0]


def bare_pod(name: str, command: list[str], **extra: Any) -> dict[str, Any]:
    c = {"name": "main", "image": "busybox", "command": command, **extra.pop("container", {})}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"test": name}},
        "spec": {"containers": [c], "terminationGracePeriodSeconds": 1, **extra},
    }


def pid_with(marker: str) -> int | None:
    """The pid of the process whose command line holds ``marker``."""
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            try:
                if marker.encode() in Path(f"/proc/{entry}/cmdline").read_bytes():
                    return int(entry)
            except OSError:
                continue
    return None
