"""API server benchmark: ``python -m ops.bench.api [--clients 1,16,128] [--seconds N] [--redis-url URL]``.

Starts Redis (embedded, in a temp dir, unless ``--redis-url``) and a real ``kubeq apiserver``
process, then for each concurrency level runs closed-loop clients doing configmap create, get,
list (a namespace of 100, ``limit=500``), update (PUT with resourceVersion) and watch delivery,
and the same create/update Lua scripts straight on Redis through ``cluster.store.Store`` as the
ceiling. Prints one table per verb and writes the figures as JSON under ``ops/bench/results/``.
The server runs on its own state prefix; with ``--redis-url`` its keys are removed at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import redis

from cluster.store import start_embedded
from cluster.store.embedded import free_port
from ops.bench import workload
from ops.bench.direct import run_direct
from ops.bench.harness import CpuMeter, Result, children_of, machine_facts
from workers.local_cluster import stop_process, wait_ready

ROOT = Path(__file__).resolve().parents[2]
RESULTS = Path(__file__).resolve().parent / "results"
VERBS = ("create", "get", "list", "update", "watch")
LOADGEN = "threads (one keep-alive http.client connection each) in one process"
DIRECT_LOADGEN = "min(N, cpu count) processes with threads inside (one process is GIL-bound)"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m ops.bench.api", description=__doc__.split("\n")[0])
    parser.add_argument("--clients", default="1,16,128", help="concurrency levels (default 1,16,128)")
    parser.add_argument("--seconds", type=float, default=3.0, help="seconds per verb per level (default 3)")
    parser.add_argument("--redis-url", help="benchmark on this Redis instead of an embedded one")
    parser.add_argument("--workers", type=int, default=2, help="API server worker processes (default 2)")
    parser.add_argument("--output", help="JSON file to write (default ops/bench/results/api-<time>.json)")
    return parser


@contextmanager
def redis_server(url: str | None) -> Iterator[tuple[str, str]]:
    """(url, description) of the Redis to use: ``url``, or an embedded one in a temp dir."""
    if url:
        yield url, f"Redis at {url} (given)"
        return
    with tempfile.TemporaryDirectory(prefix="kubeq-bench-") as tmp, start_embedded(tmp) as server:
        yield server.url, f"embedded Redis on 127.0.0.1:{server.port} (appendonly, fsync everysec)"


@contextmanager
def apiserver(redis_url: str, prefix: str, workers: int) -> Iterator[tuple[str, int]]:
    """A ``kubeq apiserver`` process; yields (base url, pid) and stops it afterwards."""
    port = free_port()
    env = dict(
        os.environ,
        KUBEQ_STATE_PREFIX=prefix,
        KUBEQ_APISERVER_WORKERS=str(workers),
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    )
    cmd = [sys.executable, "-m", "workers.cli", "apiserver", "--port", str(port), "--redis-url", redis_url]
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdin=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_ready(url + "/readyz", 60, proc)
        yield url, proc.pid
    finally:
        stop_process(proc)


def _redis_cpu(client: redis.Redis) -> Callable[[], float]:
    def read() -> float:
        info = client.info("cpu")
        return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])

    return read


def _drop_prefix(client: redis.Redis, prefix: str) -> None:
    keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
    for i in range(0, len(keys), 1000):
        client.delete(*keys[i : i + 1000])


def benchmark(args: argparse.Namespace) -> dict[str, object]:
    """Run everything, print the tables, return the figures."""
    levels = [int(x) for x in str(args.clients).split(",") if x.strip()]
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    run = uuid.uuid4().hex[:6]
    with ExitStack() as stack:
        redis_url, redis_desc = stack.enter_context(redis_server(args.redis_url))
        admin = redis.Redis.from_url(redis_url, decode_responses=True)
        stack.callback(admin.close)
        if args.redis_url:
            stack.callback(_drop_prefix, admin, prefix)
        version = admin.info("server").get("redis_version", "?")
        base_url, pid = stack.enter_context(apiserver(redis_url, prefix, args.workers))
        sizes = workload.prepare(base_url, max(levels))
        meter = CpuMeter({"apiserver": lambda: children_of(pid)}, {"redis": _redis_cpu(admin)})
        store_prefix = f"{prefix}-direct"
        context = _context(args, levels, base_url, redis_desc, version, sizes)
        print(_header(context), flush=True)
        api: dict[str, list[Result]] = {verb: [] for verb in VERBS}
        direct: dict[str, list[Result]] = {"create": [], "update": []}
        for n in levels:
            s = args.seconds
            api["create"].append(workload.http_create(base_url, n, s, meter, f"{run}-{n}"))
            api["get"].append(workload.http_get(base_url, n, s, meter))
            api["list"].append(workload.http_list(base_url, n, s, meter))
            api["update"].append(workload.http_update(base_url, n, s, meter))
            api["watch"].append(workload.watch_delivery(base_url, n, s, meter))
            for verb in direct:
                direct[verb].append(run_direct(verb, redis_url, store_prefix, n, s, meter, f"{run}-{n}"))
            print(f"  ... {n} client(s) done", file=sys.stderr, flush=True)
    print(render(api, direct), flush=True)
    return {
        "context": context,
        "api": {verb: [r.summary() for r in results] for verb, results in api.items()},
        "direct_store": {verb: [r.summary() for r in results] for verb, results in direct.items()},
        "ratio_api_to_direct": {
            verb: {
                str(a.clients): round(_ratio(a, d), 3) for a, d in zip(api[verb], direct[verb], strict=True)
            }
            for verb in direct
        },
    }


def _context(
    args: argparse.Namespace,
    levels: list[int],
    base_url: str,
    redis_desc: str,
    version: str,
    sizes: dict[str, int],
) -> dict[str, object]:
    return {
        **machine_facts(),
        "peer": f"kubeq apiserver at {base_url} ({args.workers} gunicorn gevent workers), same machine",
        "redis": f"{redis_desc}, version {version}",
        "load_generator": LOADGEN,
        "direct_store_load_generator": DIRECT_LOADGEN,
        "clients": levels,
        "seconds_per_verb": args.seconds,
        "configmap_value_bytes": workload.VALUE_BYTES,
        "list_namespace_objects": workload.LIST_SIZE,
        "list_limit": workload.LIST_LIMIT,
        **sizes,
    }


def _header(c: dict[str, object]) -> str:
    return "\n".join(
        [
            "kubeq API benchmark",
            f"machine: {c['cpus']} CPUs ({c['machine']}, {c['system']}), {c['python']}, "
            f"load average at start {c['load_average_at_start']}",
            f"peer: {c['peer']}; {c['redis']}",
            f"load generator: {c['load_generator']}, same machine",
            f"sizes: configmap with one {c['configmap_value_bytes']}-byte value ({c['object_bytes']} B as JSON); "
            f"list: namespace of {c['list_namespace_objects']} configmaps, limit={c['list_limit']} "
            f"({c['list_response_bytes']} B per response)",
            f"{c['seconds_per_verb']} s per verb per level; closed loop (each client waits for its reply)",
            "watch: N clients update (PUT+CAS), one watcher; latency = write response -> event arrival",
            "ceiling: the same create/update Lua scripts via cluster.store.Store, no HTTP; clients in "
            + str(c["direct_store_load_generator"]),
        ]
    )


def _ratio(a: Result, d: Result) -> float:
    return a.throughput / d.throughput if d.throughput else 0.0


def _cpu(r: Result) -> str:
    return "/".join(f"{r.cpu[k]:.0f}" if k in r.cpu else "-" for k in ("loadgen", "apiserver", "redis"))


def render(api: dict[str, list[Result]], direct: dict[str, list[Result]]) -> str:
    """The tables: one per API verb, then the direct-store ceiling with our ratio to it."""
    head = (
        f"{'clients':>7} {'ops/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6}  cpu% loadgen/apiserver/redis"
    )
    titles = {
        "create": "create (POST configmaps)",
        "get": "get (GET one configmap)",
        "list": "list (GET 100 configmaps, limit=500)",
        "update": "update (PUT with resourceVersion CAS)",
        "watch": "watch delivery (write response -> event on one watcher; ops/s = events/s)",
    }
    out: list[str] = []

    def row(r: Result, extra: str = "") -> str:
        return (
            f"{r.clients:>7} {r.throughput:>9.1f} {r.percentile(50):>8.2f} {r.percentile(99):>8.2f} "
            f"{r.errors:>6}  {_cpu(r):<14}{extra}"
        )

    for verb, results in api.items():
        out += ["", titles[verb], head] + [row(r) for r in results]
    for verb, results in direct.items():
        out += ["", f"direct store {verb} (ceiling: Lua script via Store, no HTTP)", head + "  API/direct"]
        out += [row(d, f"  {_ratio(a, d):.3f}") for a, d in zip(api[verb], results, strict=True)]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    figures = benchmark(args)
    path = Path(args.output) if args.output else RESULTS / f"api-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"\nfigures written to {path}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
