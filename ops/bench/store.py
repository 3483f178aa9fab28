"""Store benchmark: ``python -m ops.bench.store [--clients 1,16,128] [--seconds N] [--redis-url URL]``.

kubeq's store (``cluster.store.Store`` on Redis) beside etcd doing the same operations at the same
concurrency, and beside the raw Redis ceiling (the store's create/update Lua scripts issued with
EVALSHA, no ``Store`` code around them). Verbs: create (create-if-absent), update (compare-and-swap
on resourceVersion / mod_revision, each client on its own object), get (one object), list (a prefix
of 100 objects, decoded) and watch delivery (clients update; one watcher; latency = write issued ->
event received). etcd (Debian's ``etcd-server``, installed when missing and root) runs twice on
loopback: with its default fsync per commit and with ``--unsafe-no-fsync``; Redis runs with the
append-only file fsynced every second. N clients are threads over ``min(N, cpus)`` processes for
every backend (the layout of ``ops.bench.direct``); the processes are started once and reused.
"""

from __future__ import annotations

import argparse
import itertools
import multiprocessing
import os
import queue
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import redis

from cluster import errors
from cluster.store import Store, codec, scripts
from ops.bench import etcd, report
from ops.bench.api import _drop_prefix, _redis_cpu, redis_server
from ops.bench.harness import CpuMeter, Operation, Result, machine_facts, run_clients
from ops.bench.workload import NS_CREATE, NS_LIST, NS_UPDATE, NS_WATCH, _value, configmap

QUICK: tuple[str, ...] = ("--clients", "1,16", "--seconds", "1")
FULL: tuple[str, ...] = ("--clients", "1,16,128", "--seconds", "3")
RESOURCE = "configmaps"
LIST_SIZE = 100
VERBS = ("create", "update", "get", "list", "watch")
RAW_VERBS = ("create", "update")
KUBEQ, ETCD, ETCD_NOFSYNC, RAW = "kubeq store", "etcd", "etcd no-fsync", "raw Redis (Lua)"
WATCH_RATE = 400.0  # below what etcd sustains here, so delivery is compared at one write rate
GRACE_S = 3.0  # how long the watcher may lag behind the last write

# A backend as the load processes see it: (kind, url, prefix); kind is "store", "raw" or "etcd".
Backend = tuple[str, str, str]


# -- operations ------------------------------------------------------------------------------


def _store_operation(store: Store, verb: str, i: int, run: str, marks: dict[int, float]) -> Operation:
    """Client ``i``'s ``verb`` through ``Store`` (what every kubeq component calls)."""
    store.client.ping()
    if verb == "create":
        names = (f"{run}-{i}-{n}" for n in itertools.count())

        def create() -> bool:
            name = next(names)
            store.create(RESOURCE, f"{NS_CREATE}/{name}", configmap(NS_CREATE, name, _value(i)))
            return True

        return create
    if verb == "get":
        keys = itertools.cycle([f"{NS_LIST}/cm-{(i + k) % LIST_SIZE}" for k in range(LIST_SIZE)])
        return lambda: store.get(RESOURCE, next(keys)) is not None
    if verb == "list":
        return lambda: len(store.list(RESOURCE, NS_LIST).items) == LIST_SIZE
    namespace = NS_UPDATE if verb == "update" else NS_WATCH
    name = f"cm-{i}"
    key = f"{namespace}/{name}"
    try:
        obj = store.create(RESOURCE, key, configmap(namespace, name, _value(i)))
    except errors.AlreadyExists:
        obj = store.get(RESOURCE, key)
    rv = [int(obj["metadata"]["resourceVersion"])]
    counter = itertools.count(time.time_ns())
    clock = time.perf_counter

    def update() -> bool:
        t0 = clock()
        try:
            new = store.update(RESOURCE, key, dict(obj, data={"value": _value(next(counter))}), rv[0])
        except errors.Conflict as err:
            rv[0] = int((err.current or obj)["metadata"]["resourceVersion"])
            return False
        rv[0] = int(new["metadata"]["resourceVersion"])
        if verb == "watch":
            marks[rv[0]] = t0
        return True

    return update


def _raw_operation(client: redis.Redis, prefix: str, verb: str, i: int, run: str) -> Operation:
    """The store's create/update Lua script by EVALSHA with arguments encoded once: the Redis ceiling."""
    keys = Store(client, prefix).keys(RESOURCE).all()
    placeholder = codec.RV_PLACEHOLDER
    if verb == "create":
        sha = client.script_load(scripts.CREATE)
        template = codec.template(configmap(NS_CREATE, f"raw-{run}-{i}", _value(i)))
        names = (f"{NS_CREATE}/raw-{run}-{i}-{n}" for n in itertools.count())
        args = (sha, len(keys), *keys)
        return lambda: int(client.evalsha(*args, next(names), template, placeholder, RESOURCE)[0]) == 1
    sha = client.script_load(scripts.UPDATE)
    key = f"{NS_UPDATE}/raw-{i}"
    template = codec.template(configmap(NS_UPDATE, f"raw-{i}", _value(i)))
    client.evalsha(client.script_load(scripts.CREATE), len(keys), *keys, key, template, placeholder, RESOURCE)
    at = template.index(placeholder)
    rv = [""]  # any revision for the first write, then the one it returned

    def update() -> bool:
        reply = client.evalsha(sha, len(keys), *keys, key, template, placeholder, RESOURCE, rv[0])
        if int(reply[0]) != 1:
            return False
        obj = codec.text(reply[1])
        rv[0] = obj[at : obj.index('"', at)]
        return True

    return update


class _Driver:
    """One load process's connection to a backend; ``setup(verb, i, run, marks)`` makes client ops."""

    def __init__(self, backend: Backend) -> None:
        self.kind, self.url, self.prefix = backend
        self.store = Store.from_url(self.url, self.prefix) if self.kind in ("store", "raw") else None

    def setup(self, verb: str, i: int, run: str, marks: dict[int, float]) -> Operation:
        if self.kind == "etcd":
            return etcd.etcd_operation(self.url, verb, i, run, marks, LIST_SIZE)
        assert self.store is not None
        if self.kind == "raw":
            return _raw_operation(self.store.client, self.prefix, verb, i, run)
        return _store_operation(self.store, verb, i, run, marks)

    def close(self) -> None:
        if self.store is not None:
            self.store.client.close()


# -- the load processes ------------------------------------------------------------------------


def _load_process(index: int, commands: Any, results: Any) -> None:
    """Run tasks ``(backend, verb, first, count, seconds, run, rate, clients)`` until None; see ``LoadPool.run``."""
    drivers: dict[Backend, _Driver] = {}
    try:
        while (task := commands.get()) is not None:
            _run_task(index, task, commands, results, drivers)
    finally:
        for driver in drivers.values():
            driver.close()


def _run_task(
    index: int, task: tuple[Any, ...], commands: Any, results: Any, drivers: dict[Backend, _Driver]
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
            drivers[backend] = _Driver(backend)
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


# -- watch delivery ----------------------------------------------------------------------------


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


# -- the run -----------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m ops.bench.store", description=__doc__.split("\n")[0])
    parser.add_argument("--clients", default="1,16,128", help="concurrency levels (default 1,16,128)")
    parser.add_argument("--seconds", type=float, default=3.0, help="seconds per verb per level (default 3)")
    parser.add_argument("--redis-url", help="benchmark on this Redis instead of an embedded one")
    parser.add_argument(
        "--watch-rate",
        type=float,
        default=WATCH_RATE,
        help=f"writes/s in all during watch delivery, the same for every backend (default {WATCH_RATE:g}; "
        "0 = closed loop, as fast as each backend goes)",
    )
    parser.add_argument("--no-etcd", action="store_true", help="leave etcd out (reported as not measured)")
    parser.add_argument("--output", help="JSON file to write (default ops/bench/results/store-<time>.json)")
    return parser


def _prepare_store(url: str, prefix: str) -> int:
    """The list namespace's configmaps; returns the bytes of one stored value."""
    store = Store.from_url(url, prefix)
    try:
        for k in range(LIST_SIZE):
            try:
                store.create(RESOURCE, f"{NS_LIST}/cm-{k}", configmap(NS_LIST, f"cm-{k}", _value(k)))
            except errors.AlreadyExists:
                pass
        return len(store.client.hget(store.keys(RESOURCE).objects, f"{NS_LIST}/cm-0") or "")
    finally:
        store.client.close()


def benchmark(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, list[float]]]:
    """Start everything, run every verb at every level on every backend, print the tables.

    Returns the figures and the latencies to chart (the highest level's create and update).
    """
    levels = [int(x) for x in str(args.clients).split(",") if x.strip()]
    prefix = f"bench-store-{uuid.uuid4().hex[:8]}"
    run = uuid.uuid4().hex[:6]
    with ExitStack() as stack:
        redis_url, redis_desc = stack.enter_context(redis_server(args.redis_url))
        admin = redis.Redis.from_url(redis_url, decode_responses=True)
        stack.callback(admin.close)
        if args.redis_url:
            stack.callback(_drop_prefix, admin, prefix)  # also covers the raw ceiling's "<prefix>-raw"
        config = {k: v for name in ("appendonly", "appendfsync") for k, v in admin.config_get(name).items()}
        backends: dict[str, Backend] = {
            KUBEQ: ("store", redis_url, prefix),
            RAW: ("raw", redis_url, f"{prefix}-raw"),
        }
        meters: dict[str, CpuMeter] = {
            name: CpuMeter(extra={"server": _redis_cpu(admin)}) for name in backends
        }
        etcd_note, etcd_version = "", ""
        if args.no_etcd:
            etcd_note = "etcd not measured (--no-etcd)"
        else:
            try:
                binary = etcd.etcd_binary()
                etcd_version = etcd.etcd_version(binary)
                for name, no_fsync in ((ETCD, False), (ETCD_NOFSYNC, True)):
                    server = stack.enter_context(etcd.etcd_server(binary, no_fsync=no_fsync))
                    etcd.prepare(server.url, LIST_SIZE)
                    backends[name] = ("etcd", server.url, "")
                    meters[name] = CpuMeter({"server": lambda pid=server.pid: [pid]})
            except etcd.EtcdMissing as exc:
                etcd_note = f"etcd not measured: {exc}"
        context = {
            **machine_facts(),
            "peer": f"{etcd_version or 'etcd'} on loopback (v3 JSON gateway over keep-alive HTTP)"
            if not etcd_note
            else etcd_note,
            "redis": f"{redis_desc}, version {admin.info('server').get('redis_version', '?')}",
            "durability": f"Redis appendonly={config.get('appendonly')} appendfsync={config.get('appendfsync')}"
            " (fsync once a second); etcd: WAL fsync on every commit (default); etcd no-fsync: --unsafe-no-fsync",
            "data_dir_filesystem": _filesystem(),
            "clients": levels,
            "seconds_per_verb": args.seconds,
            "watch_writes": f"{args.watch_rate:g} writes/s in all" if args.watch_rate > 0 else "closed loop",
            "load_processes": f"N clients as threads over min(N, {os.cpu_count()}) processes, for every backend",
            "list_objects": LIST_SIZE,
            "store_value_bytes": _prepare_store(redis_url, prefix),
            "etcd_value_bytes": len(etcd.stored_value(NS_LIST, "cm-0", _value(0))),
        }
        print(_header(context), flush=True)
        forks = int(admin.info("stats").get("total_forks", 0))
        pool = LoadPool(max(min(max(levels), os.cpu_count() or 1), 1))
        stack.callback(pool.close)
        results: dict[str, dict[str, list[Result]]] = {name: {} for name in backends}
        for n in levels:
            for verb in VERBS:
                for name, backend in backends.items():
                    if backend[0] == "raw" and verb not in RAW_VERBS:
                        continue
                    tag = f"{run}-{n}"
                    if verb == "watch":
                        result = watch_delivery(
                            pool, backend, n, args.seconds, tag, meters[name], args.watch_rate
                        )
                    else:
                        result = pool.run(backend, verb, n, args.seconds, tag, meters[name])[0]
                    results[name].setdefault(verb, []).append(result)
            print(f"  ... {n} client(s) done", file=sys.stderr, flush=True)
        # Append-only-file rewrites fork Redis and compete for the CPUs: they explain outliers.
        context["redis_forks_during_run"] = int(admin.info("stats").get("total_forks", 0)) - forks
    return _report(context, results)


def _filesystem() -> str:
    """The filesystem type under the temp dir (where both data dirs live): fsync cost depends on it."""
    import tempfile

    where, best = os.path.realpath(tempfile.gettempdir()), ("", "?")
    try:
        with open("/proc/mounts", encoding="utf-8") as handle:
            for line in handle:
                fields = line.split()
                mount, kind = fields[1], fields[2]
                if (where == mount or where.startswith(mount.rstrip("/") + "/")) and len(mount) > len(
                    best[0]
                ):
                    best = (mount, kind)
    except OSError:
        pass
    return f"{best[1]} ({where})"


def _header(c: dict[str, Any]) -> str:
    return "\n".join(
        [
            "kubeq store benchmark (cluster.store beside etcd and the raw Redis ceiling)",
            f"machine: {c['cpus']} CPUs ({c['machine']}, {c['system']}), {c['python']}, "
            f"load average at start {c['load_average_at_start']}",
            f"peer: {c['peer']}; {c['redis']}",
            f"durability: {c['durability']}; data dirs on {c['data_dir_filesystem']}",
            f"sizes: configmap values of {c['store_value_bytes']} B (store) / {c['etcd_value_bytes']} B (etcd); "
            f"list = a prefix of {c['list_objects']} objects, decoded; clients {c['clients']}, "
            f"{c['seconds_per_verb']} s per verb per level, closed loop",
            f"load: {c['load_processes']}",
            f"watch: N clients update (CAS), {c['watch_writes']}, one watcher; "
            "latency = write issued -> event received",
        ]
    )


TITLES = {
    "create": "create (create-if-absent)",
    "update": "update (compare-and-swap on the revision, one object per client)",
    "get": "get (one object, decoded; etcd: linearizable read, its default and Kubernetes')",
    "list": f"list (a prefix of {LIST_SIZE} objects, decoded; etcd: linearizable range)",
    "watch": "watch delivery, {rate} (write issued -> event on one watcher; ops/s = events delivered/s)",
}


def _report(
    context: dict[str, Any], results: dict[str, dict[str, list[Result]]]
) -> tuple[dict[str, Any], dict[str, list[float]]]:
    """Print a table per verb and the write verdict; return the figures and the chart's latencies."""
    kubeq = results[KUBEQ]
    headers = [
        "clients",
        "backend",
        "ops/s",
        "p50 ms",
        "p99 ms",
        "errors",
        "cpu% client/server",
        "kubeq ÷ this",
    ]
    ratios: dict[str, dict[str, dict[str, float | None]]] = {}
    for verb in VERBS:
        rows = []
        for level, ours in enumerate(kubeq[verb]):
            for name, by_verb in results.items():
                if verb not in by_verb:
                    continue
                r = by_verb[verb][level]
                times = report.ratio(ours.throughput, r.throughput)
                if name != KUBEQ:
                    ratios.setdefault(name, {}).setdefault(verb, {})[str(r.clients)] = times
                cpu = f"{r.cpu.get('loadgen', 0):.0f}/{r.cpu['server']:.0f}" if "server" in r.cpu else ""
                rows.append(
                    [
                        r.clients,
                        name,
                        r.throughput,
                        r.percentile(50),
                        r.percentile(99),
                        r.errors,
                        cpu,
                        None if name == KUBEQ else times,
                    ]
                )
        title = TITLES[verb].format(rate=context["watch_writes"])
        print(f"\n{title}\n" + report.table(headers, rows), flush=True)
    verdict = _verdict(ratios)
    print(f"\nRedis forks (AOF rewrites) during the run: {context['redis_forks_during_run']}")
    print("\n".join(verdict["lines"]), flush=True)
    top = -1
    latencies = {
        f"{name} {verb} x{by_verb[verb][top].clients}": by_verb[verb][top].latencies_ms
        for verb in ("create", "update")
        for name, by_verb in results.items()
        if verb in by_verb
    }
    figures = {
        "context": context,
        "results": {
            name: {v: [r.summary() for r in rs] for v, rs in by.items()} for name, by in results.items()
        },
        "kubeq_over": ratios,
        "writes_at_least_2x_etcd": verdict["met"],
    }
    return figures, latencies


def _verdict(ratios: dict[str, dict[str, dict[str, float | None]]]) -> dict[str, Any]:
    """Whether store writes (create, update) reach 2x etcd's at every level, in words and as a bool."""
    if ETCD not in ratios:
        return {"met": None, "lines": ["store writes >= 2x etcd: not measured (no etcd)"]}
    lines, met = [], True
    for peer in (ETCD, ETCD_NOFSYNC):
        for verb in ("create", "update"):
            got = ratios.get(peer, {}).get(verb, {})
            text = ", ".join(f"{n} clients {x}x" for n, x in got.items())
            ok = all(x is not None and x >= 2 for x in got.values())
            if peer == ETCD:
                met = met and ok
            lines.append(f"kubeq store {verb} / {peer}: {text} -> {'>= 2x' if ok else 'below 2x'}")
    lines.insert(
        0,
        f"target: store writes >= 2x etcd's (default durability) at the same concurrency: "
        f"{'MET' if met else 'MISSED'}",
    )
    return {"met": met, "lines": lines}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    figures, latencies = benchmark(args)
    report.save("store", figures, latencies, args.output, title="store: kubeq vs etcd vs raw Redis")
    return 0


if __name__ == "__main__":
    sys.exit(main())
