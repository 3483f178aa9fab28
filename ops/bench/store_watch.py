"""Watch delivery on the store benchmark's backends: writers in the ``LoadPool``, one watcher here.

``watch_delivery`` measures write issued -> event received through ``Store.watch`` (kubeq) or an etcd
watch, on clocks shared by every process on the host (CLOCK_MONOTONIC).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from cluster.store import Store
from ops.bench import etcd
from ops.bench.harness import CpuMeter, Result
from ops.bench.pool import LoadPool
from ops.bench.store_ops import RESOURCE, Backend
from ops.bench.workload import NS_WATCH

GRACE_S = 3.0  # how long the watcher may lag behind the last write


@contextmanager
def _kubeq_watcher(url: str, prefix: str) -> Iterator[dict[int, float]]:
    """A ``Store.watch`` on the watch namespace read in a thread; yields revision -> arrival time."""
    store = Store.from_url(url, prefix)
    arrivals: dict[int, float] = {}
    stop = threading.Event()
    events = store.watch(RESOURCE, NS_WATCH, store.current_revision(), heartbeat=0.1, stop=stop)

    def read() -> None:
        clock = time.perf_counter
        for event in events:
            if event is not None:
                arrivals[event.revision] = clock()

    thread = threading.Thread(target=read, name="store-watch", daemon=True)
    thread.start()
    try:
        yield arrivals
    finally:
        stop.set()
        thread.join(5)
        store.client.close()


@contextmanager
def _etcd_watcher(url: str) -> Iterator[dict[int, float]]:
    """An etcd watch on the watch prefix from now; yields mod_revision -> arrival time."""
    arrivals: dict[int, float] = {}
    watch = etcd.EtcdWatch(url, etcd.etcd_key(NS_WATCH), 0, arrivals.__setitem__)
    try:
        yield arrivals
    finally:
        watch.close()


def watch_delivery(
    pool: LoadPool,
    backend: Backend,
    clients: int,
    seconds: float,
    run: str,
    cpu: CpuMeter | None,
    rate: float = 0.0,
) -> Result:
    """``clients`` update their own objects (closed loop, or ``rate`` writes/s in all); one watcher in
    this process. Latency: write issued -> event received (clocks: CLOCK_MONOTONIC, shared by all
    processes). ops/s = events delivered per second; writes whose event did not arrive within
    ``GRACE_S`` count as errors."""
    kind, url, prefix = backend
    watcher = _kubeq_watcher(url, prefix) if kind == "store" else _etcd_watcher(url)
    with watcher as arrivals:
        writing, marks = pool.run(backend, "watch", clients, seconds, run, cpu, rate)
        deadline = time.monotonic() + GRACE_S
        while time.monotonic() < deadline and not marks.keys() <= arrivals.keys():
            time.sleep(0.01)
    latencies = [max(arrivals[rev] - t0, 0.0) * 1000.0 for rev, t0 in marks.items() if rev in arrivals]
    missing = len(marks) - len(latencies)
    return Result(
        "watch", clients, len(latencies), missing + writing.errors, writing.seconds, latencies, writing.cpu
    )
