"""The processes a benchmark runs against, shared by every benchmark.

``redis_server(url)`` yields the Redis to use (the given one, or an embedded one in a temp dir);
``open_redis`` enters it on an ExitStack with an admin client (and, on a given Redis, the run's keys
dropped at the end); ``apiserver`` runs a real ``kubeq apiserver`` process; ``component_env`` is the
environment for further kubeq components of the same run; ``redis_cpu`` reads Redis's own CPU
seconds for a ``CpuMeter``; ``drop_prefix`` removes a run's keys.

Benchmarks run the API server ``--insecure`` (plain HTTP, no authentication, every request allowed):
they measure the API machinery, not TLS handshakes or authorization.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import redis

from cluster.store import start_embedded
from cluster.store.embedded import free_port
from workers.local_cluster import stop_process, wait_ready

ROOT = Path(__file__).resolve().parents[2]


def pythonpath() -> str:
    """``PYTHONPATH`` for child processes: the checkout first, then whatever was set."""
    return os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))


@contextmanager
def redis_server(url: str | None) -> Iterator[tuple[str, str]]:
    """(url, description) of the Redis to use: ``url``, or an embedded one in a temp dir."""
    if url:
        yield url, f"Redis at {url} (given)"
        return
    with tempfile.TemporaryDirectory(prefix="kubeq-bench-") as tmp, start_embedded(tmp) as server:
        yield server.url, f"embedded Redis on 127.0.0.1:{server.port} (appendonly, fsync everysec)"


def open_redis(stack: ExitStack, url: str | None, prefix: str | None) -> tuple[str, str, redis.Redis]:
    """``redis_server(url)`` entered on ``stack``: (url, description, admin client closed with the stack).

    When ``url`` is given and ``prefix`` is not None, the keys under ``prefix`` go when the stack closes.
    """
    redis_url, redis_desc = stack.enter_context(redis_server(url))
    admin = redis.Redis.from_url(redis_url, decode_responses=True)
    stack.callback(admin.close)
    if url and prefix is not None:
        stack.callback(drop_prefix, admin, prefix)
    return redis_url, redis_desc, admin


@contextmanager
def apiserver(redis_url: str, prefix: str, workers: int) -> Iterator[tuple[str, int]]:
    """A ``kubeq apiserver`` process; yields (base url, pid) and stops it afterwards.

    Its ``/metrics`` sums all workers (prometheus_client's multi-process mode, in a temp dir).
    """
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="kubeq-bench-metrics-") as metrics_dir:
        env = dict(
            os.environ,
            KUBEQ_STATE_PREFIX=prefix,
            KUBEQ_APISERVER_WORKERS=str(workers),
            PROMETHEUS_MULTIPROC_DIR=metrics_dir,
            KUBEQ_INSECURE="1",
            PYTHONPATH=pythonpath(),
        )
        cmd = [
            sys.executable,
            "-m",
            "workers.cli",
            "apiserver",
            "--insecure",
            "--port",
            str(port),
            "--redis-url",
            redis_url,
        ]
        proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdin=subprocess.DEVNULL)
        try:
            url = f"http://127.0.0.1:{port}"
            wait_ready(url + "/readyz", 60, proc)
            yield url, proc.pid
        finally:
            stop_process(proc)


def component_env(redis_url: str, prefix: str, base_url: str, **extra: str) -> dict[str, str]:
    """The environment of a run's further kubeq components (state and broker under ``prefix``)."""
    return dict(
        os.environ,
        PYTHONPATH=pythonpath(),
        KUBEQ_REDIS_URL=redis_url,
        KUBEQ_STATE_PREFIX=prefix,
        KUBEQ_SERVER=base_url,
        KUBEQ_INSECURE="1",
        KUBEQ_BROKER_PREFIX=f"{prefix}-broker:",
        **extra,
    )


def redis_cpu(client: redis.Redis) -> Callable[[], float]:
    """A reader of the Redis server's CPU seconds (user + system), for ``CpuMeter`` extras."""

    def read() -> float:
        info = client.info("cpu")
        return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])

    return read


def drop_prefix(client: redis.Redis, prefix: str) -> None:
    """Delete every key that starts with ``prefix``."""
    keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
    for i in range(0, len(keys), 1000):
        client.delete(*keys[i : i + 1000])
