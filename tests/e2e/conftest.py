"""End-to-end fixtures: a real API server process on the session's Redis, kubectl, the Python client."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from workers.local_cluster import stop_process, wait_ready, write_kubeconfig

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class APIServerProcess:
    url: str
    kubeconfig: Path
    redis_url: str
    prefix: str
    process: subprocess.Popen[bytes]


@contextlib.contextmanager
def launch_apiserver(redis_url: str, tmp: Path) -> Iterator[APIServerProcess]:
    """``kubeq apiserver --insecure`` as a real process (2 gunicorn workers) on a state prefix of its own.

    Plain HTTP without authentication: these suites test the API machinery, not security (tests/auth).
    """
    port = free_port()
    prefix = f"e2e-{uuid.uuid4().hex[:8]}"
    env = dict(
        os.environ,
        KUBEQ_STATE_PREFIX=prefix,
        KUBEQ_APISERVER_WORKERS="2",
        KUBEQ_INSECURE="1",
        PYTHONPATH=str(ROOT),
    )
    env.pop("KUBEQ_KUBECONFIG", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "workers.cli", "apiserver", "--insecure"]
        + ["--port", str(port), "--redis-url", redis_url],
        env=env,
        cwd=ROOT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url + "/readyz", 60, proc)
        kubeconfig = write_kubeconfig(tmp, url)
        yield APIServerProcess(url, kubeconfig, redis_url, prefix, proc)
    finally:
        stop_process(proc)


@pytest.fixture(scope="session")
def apiserver(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[APIServerProcess]:
    """The session's API server (shared by the e2e suites)."""
    with launch_apiserver(redis_url, tmp_path_factory.mktemp("kube")) as server:
        yield server


Kubectl = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="session")
def kubectl(apiserver: APIServerProcess, tmp_path_factory: pytest.TempPathFactory) -> Kubectl:
    """Run the real kubectl against the server: ``kubectl("get", "pods", check=True, input=None)``."""
    cache = tmp_path_factory.mktemp("kubectl-cache")

    def run(
        *args: str, check: bool = True, input: str | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        cmd = ["kubectl", f"--kubeconfig={apiserver.kubeconfig}", f"--cache-dir={cache}", *args]
        result = subprocess.run(cmd, capture_output=True, text=True, input=input, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(
                f"{' '.join(args)} failed ({result.returncode}):\n{result.stderr}{result.stdout}"
            )
        return result

    return run


@pytest.fixture(scope="session")
def api_client(apiserver: APIServerProcess):  # type: ignore[no-untyped-def]
    """The official ``kubernetes`` client configured from the kubeconfig."""
    from kubernetes import client, config

    cfg = client.Configuration()
    config.load_kube_config(config_file=str(apiserver.kubeconfig), client_configuration=cfg)
    with client.ApiClient(cfg) as api:
        yield api


@pytest.fixture
def namespace(api_client) -> str:  # type: ignore[no-untyped-def]
    """A fresh namespace for one test."""
    from kubernetes import client

    name = f"t-{uuid.uuid4().hex[:8]}"
    client.CoreV1Api(api_client).create_namespace({"metadata": {"name": name}})
    return name
