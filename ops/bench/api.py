"""API server benchmark: ``python -m ops.bench.api [--clients 1,16,128] [--seconds N] [--redis-url URL]``.

Starts Redis (embedded, in a temp dir, unless ``--redis-url``) and a real ``kubeq apiserver``
process, then for each concurrency level runs closed-loop clients doing configmap create, get,
list (a namespace of 100, ``limit=500``), update (PUT with resourceVersion) and watch delivery,
and the same create/update Lua scripts straight on Redis through ``cluster.store.Store`` as the
ceiling. Around each verb it scrapes the server's ``kubeq_apiserver_phase_seconds_total`` and
prints where a request's time goes: decode, admission, store, encode, the rest of the app, and
what lies outside it (HTTP parsing, gevent, sockets, the client). Prints one table per verb,
writes the figures as JSON and a latency CDF chart under ``ops/bench/results/``. The server runs
on its own state prefix; with ``--redis-url`` its keys are removed at the end.
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

from cluster.apiserver import phases
from ops.bench import report, workload
from ops.bench.direct import run_direct
from ops.bench.harness import CpuMeter, Result, children_of, machine_facts, machine_line
from ops.bench.phases_report import hook_cost_us, phase_split, render_phases
from ops.bench.servers import ROOT, apiserver, open_redis, redis_cpu, redis_server
from ops.bench.servers import drop_prefix as _drop_prefix

# ``ops.bench.scale`` still imports these from here (ROOT, apiserver, redis_server, _drop_prefix)
__all__ = ["ROOT", "FULL", "QUICK", "_drop_prefix", "apiserver", "benchmark", "main", "redis_server"]

RESULTS = Path(__file__).resolve().parent / "results"
VERBS = ("create", "get", "list", "update", "watch")
PHASED = ("create", "update", "get", "list")  # the verbs whose phases are reported
MUTATING_P99_TARGET_MS = 25.0  # issue 8: mutating API p99 at 16 clients
QUICK: tuple[str, ...] = ("--clients", "1,16", "--seconds", "1")
FULL: tuple[str, ...] = ("--clients", "1,16,128", "--seconds", "3")
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


def benchmark(args: argparse.Namespace) -> tuple[dict[str, object], dict[str, list[Result]]]:
    """Run everything, print the tables; return the figures and the API results per verb."""
    levels = [int(x) for x in str(args.clients).split(",") if x.strip()]
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    run = uuid.uuid4().hex[:6]
    with ExitStack() as stack:
        redis_url, redis_desc, admin = open_redis(stack, args.redis_url, prefix)
        version = admin.info("server").get("redis_version", "?")
        base_url, pid = stack.enter_context(apiserver(redis_url, prefix, args.workers))
        sizes = workload.prepare(base_url, max(levels))
        meter = CpuMeter({"apiserver": lambda: children_of(pid)}, {"redis": redis_cpu(admin)})
        store_prefix = f"{prefix}-direct"
        context = _context(args, levels, base_url, redis_desc, version, sizes)
        print(_header(context), flush=True)
        api: dict[str, list[Result]] = {verb: [] for verb in VERBS}
        direct: dict[str, list[Result]] = {"create": [], "update": []}
        split: dict[str, list[dict[str, float]]] = {verb: [] for verb in PHASED}
        for n in levels:
            s = args.seconds
            for verb, measure in _http_runs(base_url, n, s, meter, f"{run}-{n}").items():
                before = workload.scrape(base_url)
                api[verb].append(measure())
                if verb in split:
                    time.sleep(2.5 * phases.FLUSH_INTERVAL)  # every worker has published its sums
                    split[verb].append(phase_split(verb, api[verb][-1], before, workload.scrape(base_url)))
            for verb in direct:
                direct[verb].append(run_direct(verb, redis_url, store_prefix, n, s, meter, f"{run}-{n}"))
            print(f"  ... {n} client(s) done", file=sys.stderr, flush=True)
    cost = hook_cost_us()
    print(render(api, direct), flush=True)
    print(render_phases(split, cost), flush=True)
    target = mutating_target(api)
    print(target["text"], flush=True)
    return {
        "context": context,
        "phases": split,
        "phase_hooks_cost_us_per_request": round(cost, 3),
        "target": target,
        "api": {verb: [r.summary() for r in results] for verb, results in api.items()},
        "direct_store": {verb: [r.summary() for r in results] for verb, results in direct.items()},
        "ratio_api_to_direct": {
            verb: {
                str(a.clients): round(_ratio(a, d), 3) for a, d in zip(api[verb], direct[verb], strict=True)
            }
            for verb in direct
        },
    }, api


def _http_runs(url: str, n: int, s: float, meter: CpuMeter, run: str) -> dict[str, Callable[[], Result]]:
    """The HTTP measurements of one level, in the order they run."""
    return {
        "create": lambda: workload.http_create(url, n, s, meter, run),
        "get": lambda: workload.http_get(url, n, s, meter),
        "list": lambda: workload.http_list(url, n, s, meter),
        "update": lambda: workload.http_update(url, n, s, meter),
        "watch": lambda: workload.watch_delivery(url, n, s, meter),
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
            machine_line(c),
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


def mutating_target(api: dict[str, list[Result]]) -> dict[str, object]:
    """The issue's target: create and update p99 <= 25 ms at 16 clients (None when 16 was not run)."""
    at16 = {verb: next((r for r in api[verb] if r.clients == 16), None) for verb in ("create", "update")}
    p99 = {verb: round(r.percentile(99), 3) for verb, r in at16.items() if r is not None}
    if not p99:
        return {
            "p99_ms_at_16": {},
            "met": None,
            "text": "target (mutating p99 <= 25 ms at 16 clients): not run",
        }
    met = all(v <= MUTATING_P99_TARGET_MS for v in p99.values())
    shown = ", ".join(f"{verb} p99 {v:.1f} ms" for verb, v in p99.items())
    text = f"\ntarget: mutating p99 <= {MUTATING_P99_TARGET_MS:.0f} ms at 16 clients: {shown} -> " + (
        "met" if met else "MISSED"
    )
    return {"p99_ms_at_16": p99, "met": met, "text": text.strip()}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    figures, api = benchmark(args)
    levels = [r.clients for r in api["create"]]
    shown = {n for n in (16, max(levels)) if n in levels} or set(levels)  # the chart: target level + top
    latencies = {
        f"{verb} x{r.clients}": r.latencies_ms for verb in PHASED for r in api[verb] if r.clients in shown
    }
    report.save("api", figures, latencies, output=args.output, title="kubeq API latency (configmaps)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
