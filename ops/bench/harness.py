"""Closed-loop load: N client threads repeat one operation for a fixed time; latency statistics.

``run_clients(n, seconds, setup)`` calls ``setup(i)`` in each of ``n`` threads (open a connection,
warm it up) and gets back that client's operation; once every client is ready they all start
together and repeat the operation until the time is up. The operation returns True on success.
"""

from __future__ import annotations

import os
import platform
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

Operation = Callable[[], bool]


@dataclass
class Result:
    """What one verb at one concurrency level did: completed operations and their latencies."""

    verb: str
    clients: int
    ops: int
    errors: int
    seconds: float
    latencies_ms: list[float] = field(default_factory=list, repr=False)
    cpu: dict[str, float] = field(default_factory=dict)  # percent of one core, per process group

    @property
    def throughput(self) -> float:
        return self.ops / self.seconds if self.seconds > 0 else 0.0

    def percentile(self, q: float) -> float:
        return percentile(self.latencies_ms, q)

    def summary(self) -> dict[str, object]:
        return {
            "verb": self.verb,
            "clients": self.clients,
            "ops": self.ops,
            "errors": self.errors,
            "seconds": round(self.seconds, 3),
            "ops_per_s": round(self.throughput, 1),
            "p50_ms": round(self.percentile(50), 3),
            "p99_ms": round(self.percentile(99), 3),
            "cpu_percent": {k: round(v, 1) for k, v in self.cpu.items()},
        }


def machine_facts() -> dict[str, object]:
    """Date, CPUs, platform, Python and load average: the lines every benchmark states first."""
    return {
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
        "system": f"{platform.system()} {platform.release()}",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def machine_line(facts: dict[str, object]) -> str:
    """The ``machine:`` line of a benchmark's header, from ``machine_facts()``."""
    c = facts
    return (
        f"machine: {c['cpus']} CPUs ({c['machine']}, {c['system']}), {c['python']}, "
        f"load average at start {c['load_average_at_start']}"
    )


def percentile(values: list[float], q: float) -> float:
    """The nearest-rank ``q``-th percentile (0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(int(round(q / 100 * len(ordered) + 0.5)) - 1, 0)
    return ordered[min(rank, len(ordered) - 1)]


def run_clients(
    verb: str,
    clients: int,
    seconds: float,
    setup: Callable[[int], Operation],
    cpu: CpuMeter | None = None,
    sync: Callable[[], object] | None = None,
) -> Result:
    """Run ``clients`` threads doing ``setup(i)()`` repeatedly for ``seconds``; see the module doc.

    ``sync()``, when given, is called once every client is set up and before the clock starts
    (to start several processes together).

    Latency counts successful operations only; failures are counted in ``errors``. Throughput is
    successful operations over the time from the common start until the last client stopped.
    """
    deadline = [0.0, 0.0]  # start, end: set by the barrier before any client is released

    def go() -> None:
        if sync is not None:
            sync()
        deadline[0] = time.perf_counter()
        deadline[1] = deadline[0] + seconds
        if cpu:
            cpu.start()

    ready = threading.Barrier(clients + 1, action=go)
    per_client: list[tuple[list[float], int]] = [([], 0)] * clients
    failures: list[BaseException] = []

    def client(i: int) -> None:
        try:
            op = setup(i)
        except BaseException as exc:  # reported after the run; never leave the barrier waiting
            failures.append(exc)
            ready.abort()
            return
        try:
            ready.wait()
        except threading.BrokenBarrierError:
            return
        lat: list[float] = []
        errors = 0
        end = deadline[1]
        clock = time.perf_counter
        while True:
            t0 = clock()
            if t0 >= end:
                break
            try:
                ok = op()
            except Exception:  # counted like an error reply; the client goes on
                ok = False
            if ok:
                lat.append((clock() - t0) * 1000.0)
            else:
                errors += 1
        per_client[i] = (lat, errors)

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    try:
        ready.wait()
    except threading.BrokenBarrierError:
        for t in threads:
            t.join()
        cause = failures[0] if failures else None
        raise RuntimeError(f"{verb}: a client failed to start: {cause!r}") from cause
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - deadline[0]
    latencies = [x for lat, _ in per_client for x in lat]
    errors = sum(e for _, e in per_client)
    usage = cpu.stop(elapsed) if cpu else {}
    return Result(verb, clients, len(latencies), errors, elapsed, latencies, usage)


class CpuMeter:
    """CPU time used over a window, in percent of one core: this process and named other pids.

    ``groups`` maps a label to a callable returning the pids to sum (read from /proc; groups whose
    pids cannot be read report nothing). ``extra`` maps labels to callables returning CPU seconds.
    """

    def __init__(
        self,
        groups: dict[str, Callable[[], list[int]]] | None = None,
        extra: dict[str, Callable[[], float]] | None = None,
    ) -> None:
        self.groups = groups or {}
        self.extra = extra or {}
        self._before: dict[str, float | None] = {}

    def _sample(self) -> dict[str, float | None]:
        sample: dict[str, float | None] = {"loadgen": time.process_time()}
        for label, pids in self.groups.items():
            sample[label] = _proc_cpu_seconds(pids())
        for label, read in self.extra.items():
            try:
                sample[label] = read()
            except Exception:
                sample[label] = None
        return sample

    def start(self) -> None:
        self._before = self._sample()

    def stop(self, elapsed: float) -> dict[str, float]:
        after = self._sample()
        usage: dict[str, float] = {}
        for label, value in after.items():
            before = self._before.get(label)
            if value is not None and before is not None and elapsed > 0:
                usage[label] = (value - before) / elapsed * 100.0
        return usage


def _proc_cpu_seconds(pids: list[int]) -> float | None:
    """utime + stime of ``pids`` from /proc (None when /proc is not there)."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            if not os.path.isdir("/proc"):
                return None
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def children_of(pid: int) -> list[int]:
    """``pid`` and its direct children (gunicorn's master and workers; a process a thread of
    ``pid`` started, such as the controller-manager's dispatcher), from /proc."""
    found = [pid]
    try:
        threads = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for tid in threads:
        try:
            with open(f"/proc/{pid}/task/{tid}/children", encoding="ascii") as handle:
                found += [int(p) for p in handle.read().split()]
        except OSError:
            continue
    return found
