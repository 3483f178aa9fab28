"""SIGKILL of Redis (``appendfsync always``) in the middle of 5,000 acknowledged writes through the API.

Writers create ConfigMaps through a real API server and record every 201; Redis is killed once part of
them are in, and started again on the same data directory. At the end every acknowledged ConfigMap
is there with the value it was created with.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
import uuid
from pathlib import Path

import pytest
import redis

from cluster.store.embedded import SETTINGS, redis_server_binary
from ops.hosts.faults import Api
from tests.faults.conftest import apiserver, free_port
from tests.figures import report

WRITES = int(os.environ.get("KUBEQ_FAULT_WRITES", "5000"))
WRITERS = 8
KILL_AT = WRITES * 2 // 5
PATH = "/api/v1/namespaces/default/configmaps"
pytestmark = pytest.mark.slow


def start_redis(port: int, data: Path) -> subprocess.Popen[bytes]:
    argv = [redis_server_binary(), "--port", str(port), "--bind", "127.0.0.1", "--dir", str(data)]
    for name, value in {**SETTINGS, "appendfsync": "always"}.items():
        argv += [f"--{name}", value]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = redis.Redis(port=port)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if client.ping():
                return proc
        except (redis.ConnectionError, redis.BusyLoadingError):
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("redis-server did not answer")


class Writers:
    """``WRITERS`` threads creating ConfigMaps until ``WRITES`` are acknowledged."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.acked: dict[str, str] = {}
        self.failed = 0
        self.statuses: dict[int, int] = {}
        self.lock = threading.Lock()

    def count(self) -> int:
        with self.lock:
            return len(self.acked)

    def run(self, index: int) -> None:
        conn = self.api.connect(10)
        seq = 0
        while self.count() < WRITES:
            seq += 1
            name, value = f"w{index}-{seq}", uuid.uuid4().hex
            status, _ = self.api.call("POST", PATH, {"metadata": {"name": name}, "data": {"v": value}}, conn)
            with self.lock:
                if status == 201:
                    self.acked[name] = value
                else:
                    self.failed += 1
                    self.statuses[status] = self.statuses.get(status, 0) + 1
            if status != 201:
                conn = self.api.connect(10)
                time.sleep(0.05)


def test_acknowledged_writes_survive_redis_sigkill(tmp_path: Path) -> None:
    port = free_port()
    data = tmp_path / "redis"
    data.mkdir()
    server = start_redis(port, data)
    try:
        with apiserver(f"redis://127.0.0.1:{port}/0") as api:
            writers = Writers(api)
            threads = [threading.Thread(target=writers.run, args=(i,), daemon=True) for i in range(WRITERS)]
            began = time.monotonic()
            for t in threads:
                t.start()
            while writers.count() < KILL_AT:
                time.sleep(0.01)
            server.send_signal(signal.SIGKILL)
            server.wait()
            killed_at, down_from = writers.count(), time.monotonic()
            time.sleep(1.0)
            server = start_redis(port, data)
            down = time.monotonic() - down_from
            for t in threads:
                t.join(300)
            took = time.monotonic() - began
            status, listed = api.call("GET", PATH, timeout=120)
            assert status == 200, listed
            stored = {cm["metadata"]["name"]: (cm.get("data") or {}).get("v") for cm in listed["items"]}
            lost = [n for n, v in writers.acked.items() if stored.get(n) != v]
            report(
                f"\nacknowledged {len(writers.acked)} writes in {took:.1f} s, Redis SIGKILLed after {killed_at} "
                f"and down {down:.1f} s; refused/failed {writers.failed} {writers.statuses}; "
                f"stored {len(stored)}; lost {len(lost)}"
            )
            assert len(writers.acked) >= WRITES
            assert not lost, lost[:10]
    finally:
        server.kill()
        server.wait()
