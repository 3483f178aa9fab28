"""The ceiling: the store's create/update Lua scripts issued straight on Redis through ``Store``.

N clients are spread over ``min(N, cpu count)`` processes (threads inside each), because a single
Python process driving redis-py saturates its GIL long before Redis is busy. Client ``i`` creates
``<run>-<i>-<n>`` objects or updates its own object with compare-and-swap, like the HTTP clients.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
import queue
import time
from typing import Any

from cluster import errors
from cluster.store import Store
from ops.bench.harness import CpuMeter, Operation, Result, run_clients
from ops.bench.workload import NS_CREATE, NS_UPDATE, _value, configmap

RESOURCE = "configmaps"


def _create_op(store: Store, run: str, i: int) -> Operation:
    names = (f"{run}-{i}-{n}" for n in itertools.count())
    store.client.ping()

    def op() -> bool:
        name = next(names)
        store.create(RESOURCE, f"{NS_CREATE}/{name}", configmap(NS_CREATE, name, _value(i)))
        return True

    return op


def _update_op(store: Store, i: int) -> Operation:
    name = f"cm-{i}"
    key = f"{NS_UPDATE}/{name}"
    try:
        obj = store.create(RESOURCE, key, configmap(NS_UPDATE, name, _value(i)))
    except errors.AlreadyExists:
        obj = store.get(RESOURCE, key)
    rv = [int(obj["metadata"]["resourceVersion"])]
    counter = itertools.count(time.time_ns())

    def op() -> bool:
        new = store.update(RESOURCE, key, dict(obj, data={"value": _value(next(counter))}), rv[0])
        rv[0] = int(new["metadata"]["resourceVersion"])
        return True

    return op


def _child(
    verb: str, url: str, prefix: str, run: str, first: int, count: int, seconds: float, start: Any, out: Any
) -> None:
    """One load process: clients ``first .. first+count-1``; puts (latencies, errors, elapsed, cpu s)."""
    store = Store.from_url(url, prefix)
    cpu: list[float] = []

    def sync() -> None:
        start.wait(60)
        cpu.append(time.process_time())

    def setup(i: int) -> Operation:
        return _create_op(store, run, first + i) if verb == "create" else _update_op(store, first + i)

    try:
        result = run_clients(verb, count, seconds, setup, sync=sync)
        out.put((result.latencies_ms, result.errors, result.seconds, time.process_time() - cpu[0]))
    except Exception as exc:
        out.put(repr(exc))
    finally:
        store.client.close()


def run_direct(
    verb: str, url: str, prefix: str, clients: int, seconds: float, cpu: CpuMeter | None, run: str
) -> Result:
    """``verb`` ("create" or "update") by ``clients`` clients over several processes."""
    ctx = multiprocessing.get_context("spawn")
    procs = max(min(clients, os.cpu_count() or 1), 1)
    start = ctx.Barrier(procs + 1)
    out = ctx.Queue()
    children = []
    first = 0
    for p in range(procs):
        count = clients // procs + (1 if p < clients % procs else 0)
        args = (verb, url, prefix, run, first, count, seconds, start, out)
        children.append(ctx.Process(target=_child, args=args, daemon=True))
        first += count
    for child in children:
        child.start()
    try:
        start.wait(60)
        if cpu:
            cpu.start()
        reports = [out.get(timeout=seconds + 60) for _ in children]
    except (queue.Empty, RuntimeError) as exc:
        raise RuntimeError(f"direct store {verb}: a load process did not report") from exc
    finally:
        for child in children:
            child.join(10)
            if child.is_alive():
                child.kill()
                child.join()
    failed = [r for r in reports if isinstance(r, str)]
    if failed:
        raise RuntimeError(f"direct store {verb}: {failed[0]}")
    latencies = [x for r in reports for x in r[0]]
    elapsed = max(r[2] for r in reports)
    usage = cpu.stop(elapsed) if cpu else {}
    usage["loadgen"] = sum(r[3] for r in reports) / elapsed * 100.0
    return Result(verb, clients, len(latencies), sum(r[1] for r in reports), elapsed, latencies, usage)
