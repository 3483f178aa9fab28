"""The Celery round-trip ceiling of ``ops.bench.startup``: an empty task sent to a private queue on
the run's Redis broker and its result received, one at a time, by a throwaway Celery app with kubeq's
broker settings and a solo worker process of its own (``python -m ops.bench.startup --ceiling-worker``).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from typing import Any

from ops.bench.servers import ROOT
from workers.local_cluster import stop_process

NOOP = "kubeq.bench.noop"


def ceiling_app(settings: Any) -> Any:
    """A throwaway Celery app with kubeq's broker settings, a Redis result backend and one no-op task."""
    from celery import Celery

    from workers.celery_app import make_app

    kubeq = make_app(settings).conf
    app = Celery("kubeq-bench-ceiling", broker=settings.broker, backend=settings.broker, set_as_current=False)
    shared = (
        "broker_transport_options",
        "broker_connection_retry_on_startup",
        "task_acks_late",
        "task_reject_on_worker_lost",
        "worker_prefetch_multiplier",
        "task_serializer",
        "accept_content",
        "worker_send_task_events",
        "task_send_sent_event",
    )
    app.conf.update({name: kubeq[name] for name in shared})
    app.conf.update(
        result_serializer="json",
        result_expires=300,
        result_backend_transport_options={"global_keyprefix": settings.broker_prefix},
    )
    app.task(name=NOOP)(_noop)
    return app


def _noop() -> None:
    return None


def run_ceiling_worker(queue: str) -> None:
    """The ceiling's worker (``--ceiling-worker QUEUE``): solo pool, until SIGTERM."""
    from cluster.settings import Settings

    app = ceiling_app(Settings.from_env())
    name = f"bench-ceiling@{socket.gethostname()}-{os.getpid()}"
    quiet = ["--without-gossip", "--without-mingle", "--without-heartbeat", "--loglevel", "WARNING"]
    app.worker_main(["worker", "-Q", queue, "-n", name, "-P", "solo", *quiet])


def celery_round_trips(env: dict[str, str], seconds: float, log: Any) -> list[float]:
    """Milliseconds per no-op task sent and its result received, one at a time for ``seconds``."""
    from cluster.settings import Settings

    queue = f"bench-ceiling-{uuid.uuid4().hex[:8]}"
    cmd = [sys.executable, "-m", "ops.bench.startup", "--ceiling-worker", queue]
    worker = subprocess.Popen(cmd, env=env, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    saved = {k: os.environ.get(k) for k in env if k.startswith("KUBEQ_")}
    os.environ.update({k: v for k, v in env.items() if k.startswith("KUBEQ_")})
    try:
        app = ceiling_app(Settings.from_env())
    finally:
        for k, v in saved.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)
    try:
        app.send_task(NOOP, queue=queue).get(timeout=60)  # the worker is up
        for _ in range(20):  # warm the connections
            app.send_task(NOOP, queue=queue).get(timeout=10)
        out: list[float] = []
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            t0 = time.perf_counter()
            app.send_task(NOOP, queue=queue).get(timeout=10)
            out.append((time.perf_counter() - t0) * 1000)
        return out
    finally:
        stop_process(worker)
        app.close()
