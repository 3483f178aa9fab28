"""Starting kubeq's control-plane processes beside a test API server."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field

from tests.e2e.conftest import ROOT, APIServerProcess
from workers.local_cluster import stop_process


@dataclass
class ControlPlane:
    """The processes of a control plane and the environment they share."""

    env: dict[str, str]
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        """Start ``kubeq <args>`` as process ``name`` (replacing a stopped one of that name)."""
        proc = subprocess.Popen([sys.executable, "-m", "workers.cli", *args], env=self.env, cwd=ROOT)
        self.processes[name] = proc
        return proc

    def stop(self, name: str) -> None:
        stop_process(self.processes[name])


@contextlib.contextmanager
def launch_control_plane(
    server: APIServerProcess,
    *,
    schedulers: int = 1,
    hollow: int = 0,
    hollow_prefix: str = "hollow",
    controllers: tuple[str, ...] = (),
) -> Iterator[ControlPlane]:
    """The dispatcher + controllers worker, ``schedulers`` scheduler workers and hollow nodes.

    ``controllers`` (``module:Class`` paths) are registered beside the built-in ones.
    """
    env = dict(
        os.environ,
        PYTHONPATH=str(ROOT),
        KUBEQ_REDIS_URL=server.redis_url,
        KUBEQ_STATE_PREFIX=server.prefix,
        KUBEQ_SERVER=server.url,
        KUBEQ_INSECURE="1",  # the server of launch_apiserver is plain HTTP without authentication
        KUBEQ_BROKER_PREFIX=f"{server.prefix}-broker:",
        KUBEQ_EXTRA_CONTROLLERS=",".join(controllers),
        # Node objects made by tests have no agent renewing a Lease: unless a test asks for the
        # real 40 s grace (tests/node_lifecycle), they are not taken for unreachable nodes.
        KUBEQ_NODE_MONITOR_GRACE_PERIOD=os.environ.get("KUBEQ_NODE_MONITOR_GRACE_PERIOD", "3600"),
    )
    env.pop("KUBEQ_KUBECONFIG", None)
    plane = ControlPlane(env)
    try:
        plane.start("controller-manager", "controller-manager")
        for i in range(schedulers):
            plane.start(f"scheduler-{i}", "scheduler")
        if hollow:
            plane.start("hollow-nodes", "hollow-nodes", "--count", str(hollow), "--prefix", hollow_prefix)
        yield plane
    finally:
        for proc in reversed(list(plane.processes.values())):
            stop_process(proc)
