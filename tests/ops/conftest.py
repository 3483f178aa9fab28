"""A real Redis master, its replica and a Redis Sentinel watching them, on loopback ports."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from cluster.store.embedded import redis_server_binary

PASSWORD = "s3cret/with:odd@chars"
MASTER_NAME = "kubeq"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_ping(port: int, password: str | None = None, timeout: float = 10.0) -> None:
    client = redis.Redis(port=port, password=password, socket_timeout=1)
    deadline = time.monotonic() + timeout
    while True:
        try:
            client.ping()
            return
        except redis.RedisError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@dataclass
class SentinelSetup:
    master_port: int
    replica_port: int
    sentinel_port: int

    @property
    def url(self) -> str:
        from urllib.parse import quote

        return f"redis+sentinel://:{quote(PASSWORD, safe='')}@127.0.0.1:{self.sentinel_port}/{MASTER_NAME}/0"


@pytest.fixture(scope="module")
def sentinel_setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SentinelSetup]:
    """Master + replica (both ``requirepass``) and one sentinel (quorum 1) in front of them."""
    binary = redis_server_binary()
    root = tmp_path_factory.mktemp("sentinel")
    setup = SentinelSetup(free_port(), free_port(), free_port())
    procs: list[subprocess.Popen[bytes]] = []
    common = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--requirepass", PASSWORD]
    common += ["--masterauth", PASSWORD]
    try:
        for name, port, extra in (
            ("master", setup.master_port, []),
            ("replica", setup.replica_port, ["--replicaof", "127.0.0.1", str(setup.master_port)]),
        ):
            work = root / name
            work.mkdir()
            procs.append(subprocess.Popen([binary, "--port", str(port), "--dir", str(work), *common, *extra]))
            wait_ping(port, PASSWORD)
        conf: Path = root / "sentinel.conf"  # sentinel rewrites its file: a private, writable copy
        conf.write_text(
            f"port {setup.sentinel_port}\nbind 127.0.0.1\ndir {root}\n"
            f"sentinel monitor {MASTER_NAME} 127.0.0.1 {setup.master_port} 1\n"
            f"sentinel auth-pass {MASTER_NAME} {PASSWORD}\n"
            f"sentinel down-after-milliseconds {MASTER_NAME} 1000\n"
            f"sentinel failover-timeout {MASTER_NAME} 5000\n"
        )
        procs.append(subprocess.Popen([binary, str(conf), "--sentinel"]))
        wait_ping(setup.sentinel_port)
        _wait_replica_known(setup)
        yield setup
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()


def _wait_replica_known(setup: SentinelSetup, timeout: float = 15.0) -> None:
    """Until the replica is in sync and the sentinel lists it (a failover needs both)."""
    sentinel = redis.Redis(port=setup.sentinel_port, decode_responses=True)
    master = redis.Redis(port=setup.master_port, password=PASSWORD, decode_responses=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        replicas = sentinel.execute_command("SENTINEL", "REPLICAS", MASTER_NAME)
        synced = master.info("replication").get("connected_slaves", 0) >= 1
        if synced and replicas:
            return
        time.sleep(0.1)
    raise TimeoutError("the sentinel never saw the replica")
