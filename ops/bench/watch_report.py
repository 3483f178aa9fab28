"""The figures and tables of ``ops.bench.watch``: one level's figures from every watcher's results,
the header, and the latency and memory tables."""

from __future__ import annotations

from typing import Any

from ops.bench import report
from ops.bench.harness import machine_line, percentile
from ops.bench.watch_writer import POOL, Writes

TARGET_P99_MS = 100.0


def level_figures(
    watchers: int,
    processes: int,
    writes: Writes,
    results: list[dict[str, Any]],
    cpu: dict[str, float],
    open_seconds: float,
    rss: dict[str, dict[int, int]],
    fds: dict[str, dict[int, int]],
) -> dict[str, Any]:
    from_sent = [x for r in results for x in r["from_sent"]]
    from_ack = [x for r in results for x in r["from_ack"]]
    firsts = [r["first"] for r in results if r["first"] is not None]
    lasts = [r["last"] for r in results if r["last"] is not None]
    span = (max(lasts) - writes.started) if lasts else 0.0
    delivered = len(from_sent)
    kib = {when: sum(per_pid.values()) for when, per_pid in rss.items()}
    return {
        "watchers": watchers,
        "client_processes": processes,
        "open_seconds": round(open_seconds, 2),
        "writes": len(writes.acks),
        "write_failures": writes.failures,
        "write_rate_achieved": round(len(writes.acks) / max(writes.ended - writes.started, 1e-9), 1),
        "events_expected": watchers * len(writes.acks),
        "events_delivered": delivered,
        "events_missed": sum(r["missing"] for r in results),
        "duplicates": sum(r["duplicates"] for r in results),
        "watchers_complete": sum(r["complete"] for r in results),
        "streams_closed_early": sum(r["closed"] for r in results),
        "events_per_s": round(delivered / span, 1) if span > 0 else 0.0,
        "first_receipt_s": round(min(firsts) - writes.started, 3) if firsts else None,
        "bytes_received": sum(r["bytes"] for r in results),
        "latency_from_sent_ms": _stats(from_sent),
        "latency_from_ack_ms": _stats(from_ack),
        "worker_rss_kib": rss,  # per worker pid: before the watches, with them open, after the run
        "worker_rss_kib_total": kib,
        "rss_kib_per_watcher": round((kib["open"] - kib["before"]) / watchers, 1),
        "rss_kib_per_watcher_after_run": round((kib["after_run"] - kib["before"]) / watchers, 1),
        "worker_open_fds": fds,
        "cpu_percent": {k: round(v, 1) for k, v in cpu.items()},
        "_from_sent": from_sent,
    }


def _stats(values: list[float]) -> dict[str, float]:
    return {
        "p50": round(percentile(values, 50), 2),
        "p99": round(percentile(values, 99), 2),
        "max": round(max(values), 2) if values else 0.0,
        "n": len(values),
    }


def header(context: dict[str, Any]) -> str:
    c = context
    return "\n".join(
        [
            "kubeq watch fan-out benchmark",
            machine_line(c),
            f"server: {c['server']}; {c['redis']}",
            f"sizes: watchers {c['watchers']}; {c['rate']} pod writes/s for {c['seconds']} s per level "
            f"({POOL} pods created, then merge-patched in turn); watch = GET pods?watch=1&resourceVersion=RV",
            f"load generator: {c['load_generator']}",
            f"peer: {c['peer']}; target p99 <= {TARGET_P99_MS:.0f} ms at 1,000 watchers",
        ]
    )


LATENCY_HEADERS = (
    "watchers|writes|p50 ms|p99 ms|max ms|p99 ms from ack|p99 / first level|target p99 <= 100 ms|"
    "events/s|delivered|missed|RSS KiB/watcher|cpu% api/redis/clients"
).split("|")
MEMORY_HEADERS = (
    "watchers|KiB before|KiB watches open|KiB after run|KiB/watcher open|KiB/watcher after|fds per worker"
).split("|")


def render(levels: list[dict[str, Any]]) -> str:
    """The latency table (every level beside the first) and the memory table."""
    base_p99 = levels[0]["latency_from_sent_ms"]["p99"]
    rows = []
    for lv in levels:
        s, a = lv["latency_from_sent_ms"], lv["latency_from_ack_ms"]
        cpu = "/".join(f"{lv['cpu_percent'].get(k, 0):.0f}" for k in ("apiserver", "redis", "watchers"))
        delivered = f"{lv['events_delivered']:,}/{lv['events_expected']:,}"
        met = "met" if s["p99"] <= TARGET_P99_MS else "missed"
        rows.append(
            [
                lv["watchers"],
                lv["writes"],
                s["p50"],
                s["p99"],
                s["max"],
                a["p99"],
                report.ratio(s["p99"], base_p99),
            ]
            + [met, lv["events_per_s"], delivered, lv["events_missed"], lv["rss_kib_per_watcher"], cpu]
        )
    memory = [
        [lv["watchers"], *(lv["worker_rss_kib_total"][w] for w in ("before", "open", "after_run"))]
        + [lv["rss_kib_per_watcher"], lv["rss_kib_per_watcher_after_run"]]
        + [" ".join(str(v) for v in lv["worker_open_fds"]["open"].values())]
        for lv in levels
    ]
    return "\n".join(
        [
            "",
            "delivery latency, write sent -> event received, over every watcher-event",
            report.table(LATENCY_HEADERS, rows),
            "",
            "API server worker memory (VmRSS summed over the gunicorn workers)",
            report.table(MEMORY_HEADERS, memory),
        ]
    )
