"""Watch fan-out benchmark: ``python -m ops.bench.watch [--watchers 1,1000] [--rate 20] [--seconds 20]``.

Starts Redis (embedded unless ``--redis-url``) and a real ``kubeq apiserver``; for each level opens
N streaming pod watches (``?watch=1&resourceVersion=RV``, HTTP/1.1, chunked) from a few client
processes that read their sockets with ``selectors``, then one writer creates and patches pods at a
steady rate, stamping each write's send time (CLOCK_MONOTONIC, shared by every process on the host)
and a sequence number in annotations. Every watcher timestamps each event on receipt.

Reported per level: delivery latency p50/p99/max from write sent to receipt (and from the write's
response to receipt) over all watcher-events, events/s delivered, events missed (each watcher must
see every write exactly once), and the API server workers' RSS before and after the watches open,
divided by N. The 1-watcher level, measured in the same run, is the baseline beside which the
fan-out level is judged.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import time
import uuid
from contextlib import ExitStack
from multiprocessing.connection import Connection
from typing import Any
from urllib.parse import urlsplit

from ops.bench import report
from ops.bench.harness import CpuMeter, children_of, machine_facts
from ops.bench.servers import apiserver, open_redis, redis_cpu
from ops.bench.watch_report import header, level_figures, render
from ops.bench.watch_writer import NAMESPACE, request_json, write_steadily
from ops.bench.watchers import ask, watcher_process

QUICK: tuple[str, ...] = tuple("--watchers 1,100 --seconds 2 --rate 20 --processes 1 --grace 5".split())
FULL: tuple[str, ...] = tuple("--watchers 1,1000 --seconds 20 --rate 20 --processes 4".split())


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m ops.bench.watch", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--watchers", default="1,1000", help="watcher counts, one level each (default 1,1000)"
    )
    parser.add_argument("--rate", type=float, default=20.0, help="pod writes per second (default 20)")
    parser.add_argument(
        "--seconds", type=float, default=20.0, help="seconds of writing per level (default 20)"
    )
    parser.add_argument("--processes", type=int, default=4, help="watcher client processes (default 4)")
    parser.add_argument("--workers", type=int, default=2, help="API server gevent workers (default 2)")
    parser.add_argument(
        "--grace", type=float, default=10.0, help="seconds to wait for late events (default 10)"
    )
    parser.add_argument("--redis-url", help="benchmark on this Redis instead of an embedded one")
    parser.add_argument("--output", help="JSON file to write (default ops/bench/results/watch-<time>.json)")
    return parser


def _rss_kib(pids: list[int]) -> dict[int, int]:
    found: dict[int, int] = {}
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status", encoding="ascii") as handle:
                for line in handle:
                    if line.startswith("VmRSS:"):
                        found[pid] = int(line.split()[1])
        except OSError:
            continue
    return found


def _fds(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return -1


def run_level(
    base_url: str, server_pid: int, watchers: int, args: argparse.Namespace, meter: CpuMeter
) -> dict[str, Any]:
    """Open ``watchers`` watches, write for ``args.seconds``, gather every watcher's events."""
    workers = children_of(server_pid)[1:]
    status, listing = request_json(base_url, f"/api/v1/namespaces/{NAMESPACE}/pods?limit=1")
    if status != 200:
        raise RuntimeError(f"list pods: {status} {listing!r}")
    rv = listing["metadata"]["resourceVersion"]
    path = f"/api/v1/namespaces/{NAMESPACE}/pods?watch=1&resourceVersion={rv}"
    parts = urlsplit(base_url)
    procs_n = max(1, min(args.processes, watchers))
    shares = [watchers // procs_n + (i < watchers % procs_n) for i in range(procs_n)]
    rss = {"before": _rss_kib(workers)}
    fds = {"before": {pid: _fds(pid) for pid in workers}}
    ctx = multiprocessing.get_context("spawn")
    pipes: list[Connection] = []
    procs = []
    try:
        for share in shares:
            mine, theirs = ctx.Pipe()
            proc = ctx.Process(target=watcher_process, args=(parts.hostname, parts.port, path, share, theirs))
            proc.daemon = True
            proc.start()
            theirs.close()
            pipes.append(mine)
            procs.append(proc)
        opened_at = time.monotonic()
        for pipe in pipes:
            if not pipe.poll(120):
                raise RuntimeError("watcher processes did not open their watches in 120 s")
            reply = pipe.recv()
            if reply[0] != "ready":
                raise RuntimeError(f"watcher process: {reply!r}")
        open_seconds = time.monotonic() - opened_at
        time.sleep(1.0)  # let the workers settle before reading their memory
        rss["open"] = _rss_kib(workers)
        fds["open"] = {pid: _fds(pid) for pid in workers}
        meter.groups["watchers"] = lambda: [p.pid for p in procs if p.pid]
        meter.start()
        writes = write_steadily(base_url, f"w{watchers}-{uuid.uuid4().hex[:4]}", args.rate, args.seconds)
        expected = watchers * len(writes.acks)
        grace_end = time.monotonic() + args.grace
        received = 0
        while time.monotonic() < grace_end:
            received = sum(r[1] for r in ask(pipes, ("count",), "count", 30))
            if received >= expected:
                break
            time.sleep(0.2)
        cpu = meter.stop(time.monotonic() - writes.started)
        results = [r[1] for r in ask(pipes, ("stop", writes.acks), "results", 120)]
        rss["after_run"] = _rss_kib(workers)
    finally:
        for pipe in pipes:
            pipe.close()
        for proc in procs:
            proc.join(10)
            if proc.is_alive():
                proc.kill()
                proc.join()
        meter.groups.pop("watchers", None)
    return level_figures(watchers, len(shares), writes, results, cpu, open_seconds, rss, fds)


def benchmark(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, list[float]]]:
    counts = [int(x) for x in str(args.watchers).split(",") if x.strip()]
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    with ExitStack() as stack:
        redis_url, redis_desc, admin = open_redis(stack, args.redis_url, prefix)
        version = admin.info("server").get("redis_version", "?")
        base_url, pid = stack.enter_context(apiserver(redis_url, prefix, args.workers))
        status, body = request_json(
            base_url,
            "/api/v1/namespaces",
            "POST",
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}},
        )
        if status not in (201, 409):
            raise RuntimeError(f"create namespace: {status} {body!r}")
        context = {
            **machine_facts(),
            "server": f"kubeq apiserver at {base_url}, {args.workers} gunicorn gevent workers",
            "redis": f"{redis_desc}, version {version}",
            "watchers": counts,
            "rate": args.rate,
            "seconds": args.seconds,
            "load_generator": f"up to {args.processes} spawned processes, raw sockets read with selectors; "
            "one writer thread (open loop, keep-alive http.client)",
            "peer": f"the {counts[0]}-watcher level through the same server in the same run",
            "clock": "CLOCK_MONOTONIC (time.monotonic), shared by all processes on this host",
        }
        print(header(context), flush=True)
        meter = CpuMeter({"apiserver": lambda: children_of(pid)}, {"redis": redis_cpu(admin)})
        levels = []
        for n in counts:
            levels.append(run_level(base_url, pid, n, args, meter))
            print(f"  ... {n} watcher(s) done", file=sys.stderr, flush=True)
    print(render(levels), flush=True)
    latencies = {f"{lv['watchers']} watchers (write sent -> received)": lv.pop("_from_sent") for lv in levels}
    return {"context": context, "levels": levels}, latencies


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    figures, latencies = benchmark(args)
    report.save(
        "watch", figures, latencies, output=args.output, title="watch delivery latency (write -> receipt)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
