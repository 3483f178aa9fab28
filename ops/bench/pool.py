"""The store benchmark's load generator: ``LoadPool``, spawned processes started once and reused.

``LoadPool.run`` spreads N clients as threads over ``min(N, processes)`` of them, holds every client
at a start line until all are set up (and warmed up), and gathers one ``Result``; ``rate`` > 0 paces
the clients to that many operations per second in all. Each process keeps one ``Driver`` a backend.
"""

from __future__ import annotations

import multiprocessing
import queue
import time
from typing import Any

from ops.bench.harness import CpuMeter, Operation, Result, run_clients
from ops.bench.store_ops import Backend, Driver


def _load_process(index: int, commands: Any, results: Any) -> None:
    """Run tasks ``(backend, verb, first, count, seconds, run, rate, clients)`` until None; see ``LoadPool.run``."""
    drivers: dict[Backend, Driver] = {}
    try:
        while (task := commands.get()) is not None:
            _run_task(index, task, commands, results, drivers)
    finally:
        for driver in drivers.values():
            driver.close()


def _run_task(
    index: int, task: tuple[Any, ...], commands: Any, results: Any, drivers: dict[Backend, Driver]
) -> None:
    """Set the clients up, report "ready", wait for "go", run; report "done" (or "error")."""
    backend, verb, first, count, seconds, run, rate, clients = task
    marks: dict[int, float] = {}
    cpu: list[float] = []

    def sync() -> None:
        marks.clear()  # the warm-up writes' marks: before the clock
        results.put(("ready", index))
        commands.get()  # "go"
        cpu.append(time.process_time())

    def setup(i: int) -> Operation:
        op = drivers[backend].setup(verb, first + i, run, marks)
        op()  # warm-up: connection, loaded scripts, first-call costs stay out of the figures
        return _paced(op, clients / rate, (first + i) / rate) if rate > 0 else op

    try:
        if backend not in drivers:
            drivers[backend] = Driver(backend)
        result = run_clients(verb, count, seconds, setup, sync=sync)
        used = time.process_time() - cpu[0]
        results.put(("done", index, result.latencies_ms, result.errors, result.seconds, used, marks))
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which fails the run
        results.put(("error", index, repr(exc), bool(cpu)))


def _paced(op: Operation, interval: float, offset: float) -> Operation:
    """``op`` at most once per ``interval`` seconds, the first ``offset`` after the first call (clients
    spread over the interval). A client that falls behind goes on at once rather than in a burst."""
    clock = time.perf_counter
    next_at = [0.0]

    def paced() -> bool:
        now = clock()
        if not next_at[0]:
            next_at[0] = now + offset
        if next_at[0] > now:
            time.sleep(next_at[0] - now)
        next_at[0] = max(next_at[0] + interval, clock() - interval)
        return op()

    return paced


class LoadPool:
    """``procs`` spawned load processes, started once; ``run`` spreads N clients over ``min(N, procs)``."""

    def __init__(self, procs: int) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.results = ctx.Queue()
        self.commands = [ctx.Queue() for _ in range(procs)]
        self.processes = [
            ctx.Process(target=_load_process, args=(p, self.commands[p], self.results), daemon=True)
            for p in range(procs)
        ]
        for process in self.processes:
            process.start()

    def run(
        self,
        backend: Backend,
        verb: str,
        clients: int,
        seconds: float,
        run: str,
        cpu: CpuMeter | None = None,
        rate: float = 0.0,
    ) -> tuple[Result, dict[int, float]]:
        """``verb`` by ``clients`` clients on ``backend``, closed loop or (``rate`` > 0) paced to ``rate``
        operations/s in all; the Result and the watch marks (revision -> time)."""
        used = min(clients, len(self.processes))
        first = 0
        for p in range(used):
            count = clients // used + (1 if p < clients % used else 0)
            self.commands[p].put((backend, verb, first, count, seconds, run, rate, clients))
            first += count
        replies = [self._get(seconds) for _ in range(used)]  # "ready", or "error" if a setup failed
        ready = [r for r in replies if r[0] == "ready"]
        if cpu:
            cpu.start()
        for r in ready:
            self.commands[r[1]].put("go")
        failed = [r for r in replies if r[0] == "error"]
        reports = [self._get(seconds) for _ in ready]
        failed += [r for r in reports if r[0] == "error"]
        if failed:
            raise RuntimeError(f"{backend[0]} {verb} x{clients}: {failed[0][2]}")
        latencies = [x for r in reports for x in r[2]]
        elapsed = max(r[4] for r in reports)
        usage = cpu.stop(elapsed) if cpu else {}
        usage["loadgen"] = sum(r[5] for r in reports) / elapsed * 100.0 + usage.get("loadgen", 0.0)
        marks: dict[int, float] = {}
        for r in reports:
            marks.update(r[6])
        result = Result(verb, clients, len(latencies), sum(r[3] for r in reports), elapsed, latencies, usage)
        return result, marks

    def _get(self, seconds: float) -> tuple[Any, ...]:
        """The next report; RuntimeError when a load process died or none came within a minute."""
        deadline = time.monotonic() + seconds + 60
        while True:
            try:
                return self.results.get(timeout=0.5)
            except queue.Empty:
                dead = [p.exitcode for p in self.processes if not p.is_alive()]
                if dead:
                    raise RuntimeError(f"a load process exited (code {dead[0]})") from None
                if time.monotonic() > deadline:
                    raise RuntimeError("a load process did not report within a minute") from None

    def close(self) -> None:
        for commands in self.commands:
            commands.put(None)
        for process in self.processes:
            process.join(10)
            if process.is_alive():
                process.kill()
                process.join()
