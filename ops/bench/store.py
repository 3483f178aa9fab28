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
import os
import sys
import uuid
from contextlib import ExitStack
from typing import Any

from cluster import errors
from cluster.store import Store
from ops.bench import etcd, report
from ops.bench.harness import CpuMeter, Result, machine_facts
from ops.bench.pool import LoadPool
from ops.bench.servers import open_redis, redis_cpu
from ops.bench.store_ops import LIST_SIZE, RESOURCE, Backend
from ops.bench.store_report import ETCD, ETCD_NOFSYNC, KUBEQ, RAW, VERBS, header, summarize
from ops.bench.store_watch import watch_delivery
from ops.bench.workload import NS_LIST, _value, configmap

QUICK: tuple[str, ...] = ("--clients", "1,16", "--seconds", "1")
FULL: tuple[str, ...] = ("--clients", "1,16,128", "--seconds", "3")
RAW_VERBS = ("create", "update")
WATCH_RATE = 400.0  # below what etcd sustains here, so delivery is compared at one write rate


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
        # on a given Redis, the run's keys go at the end (the raw ceiling's "<prefix>-raw" too)
        redis_url, redis_desc, admin = open_redis(stack, args.redis_url, prefix)
        config = {k: v for name in ("appendonly", "appendfsync") for k, v in admin.config_get(name).items()}
        backends: dict[str, Backend] = {
            KUBEQ: ("store", redis_url, prefix),
            RAW: ("raw", redis_url, f"{prefix}-raw"),
        }
        meters: dict[str, CpuMeter] = {
            name: CpuMeter(extra={"server": redis_cpu(admin)}) for name in backends
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
        print(header(context), flush=True)
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
    return summarize(context, results)


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


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    figures, latencies = benchmark(args)
    report.save("store", figures, latencies, args.output, title="store: kubeq vs etcd vs raw Redis")
    return 0


if __name__ == "__main__":
    sys.exit(main())
