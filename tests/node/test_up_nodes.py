"""``kubeq up --nodes 2``: two real nodes register Ready, and stopping ``up`` leaves no process behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.e2e.conftest import ROOT, free_port
from tests.e2e.test_up import _processes_mentioning, _wait_for_line


def _ready_nodes(kube: list[str]) -> list[str]:
    out = subprocess.run([*kube, "get", "nodes", "-o", "json"], capture_output=True, text=True, timeout=30)
    if out.returncode != 0:
        return []
    ready = []
    for node in json.loads(out.stdout)["items"]:
        conds = {c["type"]: c["status"] for c in node.get("status", {}).get("conditions", [])}
        if conds.get("Ready") == "True":
            ready.append(node["metadata"]["name"])
    return ready


def test_up_starts_two_ready_nodes(short_dir: Path) -> None:
    data_dir = short_dir / "d"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("KUBEQ_REDIS_URL", None)
    port = free_port()
    args = ["up", "--data-dir", str(data_dir), "--port", str(port), "--flower-port", str(free_port())]
    args += ["--nodes", "2", "--hollow-nodes", "0"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "workers.cli", *args], stdout=subprocess.PIPE, text=True, env=env, cwd=ROOT
    )
    try:
        _wait_for_line(proc, "ready", 60)
        kube = ["kubectl", f"--kubeconfig={data_dir / 'kubeconfig'}", f"--cache-dir={short_dir / 'c'}"]
        deadline = time.monotonic() + 40
        ready: list[str] = []
        while time.monotonic() < deadline and len(ready) < 2:
            ready = _ready_nodes(kube)
            time.sleep(0.5)
        assert len(ready) == 2, ready
        assert all((data_dir / "nodes" / name / "runtime.sock").exists() for name in ready)
        wide = subprocess.run(
            [*kube, "get", "nodes", "-o", "wide"], capture_output=True, text=True, timeout=30
        )
        assert wide.stdout.count(" Ready ") == 2, wide.stdout
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(60)
    assert code == 0
    time.sleep(0.5)
    assert _processes_mentioning(str(data_dir)) == [], "kubeq up stops its nodes' runtime daemons too"
