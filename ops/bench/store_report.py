"""The store benchmark's printed tables, its write verdict and its JSON figures (see ``ops.bench.store``)."""

from __future__ import annotations

from typing import Any

from ops.bench import report
from ops.bench.harness import Result, machine_line
from ops.bench.store_ops import LIST_SIZE

KUBEQ, ETCD, ETCD_NOFSYNC, RAW = "kubeq store", "etcd", "etcd no-fsync", "raw Redis (Lua)"
VERBS = ("create", "update", "get", "list", "watch")


def header(c: dict[str, Any]) -> str:
    return "\n".join(
        [
            "kubeq store benchmark (cluster.store beside etcd and the raw Redis ceiling)",
            machine_line(c),
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


def summarize(
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
