"""A secure ``kubeq apiserver`` process for tests: no TLS flags, so it makes its own PKI in
``<data-dir>/pki`` (the self-signed fallback) and serves TLS with token and client-certificate
authentication."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cluster import pki
from tests.e2e.conftest import ROOT, free_port
from workers.local_cluster import stop_process, wait_ready, write_kubeconfig


@dataclass
class SecureAPIServer:
    port: int
    url: str
    pki: pki.Pki
    kubeconfig: Path  # the admin's: CA + bearer token
    tmp: Path
    process: subprocess.Popen[bytes]


@contextmanager
def secure_apiserver(redis_url: str, tmp: Path, prefix: str, workers: int = 1) -> Iterator[SecureAPIServer]:
    """Run one on ``redis_url`` under a state prefix of its own (``<prefix>-<random>``); stopped after."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBEQ_")}
    env.update(
        KUBEQ_STATE_PREFIX=f"{prefix}-{uuid.uuid4().hex[:8]}",
        KUBEQ_APISERVER_WORKERS=str(workers),
        PYTHONPATH=str(ROOT),
    )
    argv = [sys.executable, "-m", "workers.cli", "apiserver", "--port", str(port), "--redis-url", redis_url]
    proc = subprocess.Popen([*argv, "--data-dir", str(tmp)], env=env, cwd=ROOT)
    url = f"https://127.0.0.1:{port}"
    try:
        p = pki.Pki(str(tmp / "pki"))
        deadline = time.monotonic() + 90
        while not (os.path.exists(p.tokens) and os.path.exists(p.serving_cert)):  # PKI first, then listen
            if proc.poll() is not None:
                raise RuntimeError(f"kubeq apiserver exited with code {proc.returncode}")
            if time.monotonic() > deadline:
                raise RuntimeError("kubeq apiserver made no PKI within 90 s")
            time.sleep(0.1)
        wait_ready(url + "/readyz", 90, proc, ca_file=p.ca_cert, token=p.admin_token())
        yield SecureAPIServer(port, url, p, write_kubeconfig(tmp, url, p), tmp, proc)
    finally:
        stop_process(proc)
