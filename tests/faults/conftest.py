"""Fault-test fixtures: a dedicated API server on a Redis of the test's own, and the multi-host cluster.

The API server here runs with ``KUBEQ_INSECURE=1`` (these tests are about faults, not security); the
multi-host cluster runs as the harness makes it, reached through ``ops.hosts.faults.api``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from ops import hosts
from ops.hosts import faults, network
from ops.hosts.faults import Api
from workers.local_cluster import stop_process, wait_ready

ROOT = Path(__file__).resolve().parents[2]
GRACE = 10  # KUBEQ_NODE_MONITOR_GRACE_PERIOD on the multi-host cluster
HOSTS_ENV = {"KUBEQ_NODE_MONITOR_GRACE_PERIOD": str(GRACE), "KUBEQ_NODE_STATUS_SECONDS": "2"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def apiserver(redis_url: str, workers: int = 2) -> Iterator[Api]:
    """``kubeq apiserver`` (``workers`` gunicorn workers, insecure) on ``redis_url``, a state prefix of its own."""
    port = free_port()
    env = dict(
        os.environ,
        KUBEQ_STATE_PREFIX=f"fault-{uuid.uuid4().hex[:8]}",
        KUBEQ_APISERVER_WORKERS=str(workers),
        KUBEQ_INSECURE="1",
        PYTHONPATH=str(ROOT),
    )
    argv = [sys.executable, "-m", "workers.cli", "apiserver", "--port", str(port), "--redis-url", redis_url]
    proc = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url + "/readyz", 90, proc)
        yield Api(url, {}, None)
    finally:
        stop_process(proc)


def can_make_hosts() -> bool:
    if os.geteuid() != 0 or not (shutil.which("ip") and shutil.which("nsenter")):
        return False
    return subprocess.run(["ip", "netns", "list"], capture_output=True).returncode == 0


needs_hosts = pytest.mark.skipif(not can_make_hosts(), reason="needs root, ip netns and nsenter")


@pytest.fixture(scope="package")
def cluster() -> Iterator[hosts.Cluster]:
    """A 3-host cluster (control plane + host-1 + host-2) for the session's fault tests; waits up to
    5 minutes for a harness network someone else is using to go away."""
    deadline = time.monotonic() + 300
    while any(ns.startswith(network.NS_PREFIX) for ns in network.namespaces()):
        if time.monotonic() > deadline:
            pytest.fail("another multi-host cluster still holds the harness network after 5 minutes")
        time.sleep(5)
    directory = tempfile.mkdtemp(prefix="kqfault-", dir="/tmp")
    saved = {k: os.environ.get(k) for k in HOSTS_ENV}
    os.environ.update(HOSTS_ENV)
    try:
        yield hosts.up(3, directory, ready_timeout=180)
    finally:
        hosts.down(directory)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="package")
def kube(cluster: hosts.Cluster) -> Api:
    return faults.api(cluster)
