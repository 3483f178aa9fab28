"""The analysis and tables of ``ops.bench.startup``: each pod's timeline from its trace marks, the
per-hop table, the figures and the printed report."""

from __future__ import annotations

import argparse
from typing import Any

from ops.bench import report
from ops.bench.harness import machine_line, percentile

TARGET_P99_MS = 500.0
# (label, from mark, to mark): consecutive, so the hops of one pod add up to its create -> Running
HOPS = (
    ("API (send -> create acknowledged)", "sent", "created"),
    ("dispatch (created -> dispatcher read)", "created", "dispatched"),
    ("schedule (-> placed)", "dispatched", "placed"),
    ("bind (-> binding acknowledged)", "placed", "bound"),
    ("kubelet task (-> kubelet sync task start)", "bound", "kubelet_task"),
    ("runtime start (-> process started)", "kubelet_task", "process_started"),
    ("status write (-> Running seen by watch)", "process_started", "running"),
)
DETAIL = (  # finer marks inside the hops above, for the explanation
    ("  bind queued (placed -> POST sent)", "placed", "bind_posted"),
    ("  watch (bound -> bound pod seen by a watch)", "bound", "bound_seen"),
    ("  node queue (bound pod seen -> sync task start)", "bound_seen", "kubelet_task"),
    ("  pod GET (sync task start -> pod read)", "kubelet_task", "kubelet_sync"),
    ("  sandbox (sync start -> sandbox ready)", "kubelet_sync", "sandbox_ready"),
    ("  volumes (sandbox ready -> token, config maps written)", "sandbox_ready", "volumes_ready"),
    ("  container config (volumes -> container created)", "volumes_ready", "container_created"),
    ("  start (container created -> process started)", "container_created", "process_started"),
    ("  kubelet saw start (process -> start returned)", "process_started", "container_started"),
    ("  status patch (process -> status written)", "process_started", "status_written"),
    ("  watch delivery (status written -> seen)", "status_written", "running"),
)


def timeline(pod: dict[str, Any], marks: list[tuple[str, float]]) -> dict[str, float]:
    """The pod's time at each mark: the first of each (a pod is synced, and its status written, more
    than once; the first write of phase Running is the one that counts), plus the bench's own times."""
    out = {"sent": pod["sent"], "created": pod["created"]}
    for hop, at in sorted(marks, key=lambda m: m[1]):
        name = hop.split(":", 1)[0]
        if name == "status_written" and hop != "status_written:Running":
            continue
        out.setdefault(name, at)
    out.update({k: pod[k] for k in ("bound_seen", "running") if k in pod})
    return out


def marks_per_pod(traces: dict[str, list[tuple[str, float]]]) -> dict[str, float]:
    """Mean number of each mark per pod by the time it was read (kubelet syncs, status writes, ...)."""
    counts: dict[str, int] = {}
    for marks in traces.values():
        for hop, _ in marks:
            counts[hop] = counts.get(hop, 0) + 1
    return {hop: round(n / max(len(traces), 1), 2) for hop, n in sorted(counts.items())}


def hop_table(
    lines: list[dict[str, float]], hops: tuple[tuple[str, str, str], ...]
) -> tuple[list[list[Any]], dict]:
    """Rows (hop, pods, p50, p99, mean ms, share of the mean total) and the same as figures."""
    totals = [t["running"] - t["sent"] for t in lines if "running" in t]
    mean_total = sum(totals) / len(totals) if totals else 0.0
    rows, figures = [], {}
    for label, a, b in hops:
        ms = [(t[b] - t[a]) * 1000 for t in lines if a in t and b in t]
        mean = sum(ms) / len(ms) if ms else 0.0
        share = round(100 * mean / (mean_total * 1000), 1) if mean_total and ms else None
        rows.append([label, len(ms), percentile(ms, 50), percentile(ms, 99), mean, share])
        figures[label] = {"pods": len(ms), "p50_ms": round(percentile(ms, 50), 2),
                          "p99_ms": round(percentile(ms, 99), 2), "mean_ms": round(mean, 2),
                          "share_percent": share}  # fmt: skip
    return rows, figures


def requests_per_pod(
    before: dict[str, tuple[float, float]], after: dict[str, tuple[float, float]], pods: int
) -> list[dict[str, Any]]:
    """The API requests answered while the pods were created and started, per pod, most server time
    first: every client's (nodes, scheduler, controller-manager, the benchmark itself)."""
    rows = []
    for key, (count, seconds) in after.items():
        n, s = count - before.get(key, (0.0, 0.0))[0], seconds - before.get(key, (0.0, 0.0))[1]
        if n > 0:
            per = max(pods, 1)
            rows.append({"request": key, "per_pod": round(n / per, 2), "mean_ms": round(s / n * 1000, 2),
                         "ms_per_pod": round(s / per * 1000, 2)})  # fmt: skip
    return sorted(rows, key=lambda r: -r["ms_per_pod"])


def summarize(
    args: argparse.Namespace,
    count: int,
    made: dict[str, dict[str, Any]],
    lines: list[dict[str, float]],
    ceiling: list[float],
    cpu: dict[str, float],
    left: int,
) -> dict[str, Any]:
    startup = [(p["running"] - p["sent"]) * 1000 for p in made.values() if "running" in p]
    hop_rows, hops = hop_table(lines, HOPS)
    detail_rows, detail = hop_table(lines, DETAIL)
    return {
        "rate_per_s": args.rate,
        "seconds": args.seconds,
        "pods_planned": count,
        "pods_created": len(made),
        "pods_running": len(startup),
        "pods_left_after_delete": left,
        "startup_ms": {
            "p50": round(percentile(startup, 50), 1),
            "p99": round(percentile(startup, 99), 1),
            "max": round(max(startup, default=0.0), 1),
        },  # fmt: skip
        "celery_round_trip_ms": {
            "n": len(ceiling),
            "p50": round(percentile(ceiling, 50), 2),
            "p99": round(percentile(ceiling, 99), 2),
        },  # fmt: skip
        "target_p99_ms": TARGET_P99_MS,
        "hops": hops,
        "hop_detail": detail,
        "cpu_percent": {k: round(v, 1) for k, v in cpu.items()},
        "_rows": (hop_rows, detail_rows),
    }


def header(args: argparse.Namespace, facts: dict[str, Any]) -> str:
    """What is measured, where, and against what: printed before the run."""
    count = max(1, int(round(args.rate * args.seconds)))
    return "\n".join(
        [
            "kubeq pod startup benchmark",
            machine_line(facts),
            f"sizes: {count} pods (`sleep 3600`) at {args.rate:g} pods/s for {args.seconds:g} s on 2 real "
            f"nodes (process runtime, host isolation, userspace proxy, --max-pods {count + 10}), each pod "
            f"deleted {args.lifetime:g} s after it is seen Running (churn); apiserver {args.workers} workers; "
            + ("Redis at " + args.redis_url if args.redis_url else "embedded Redis"),
            "peer: the Celery round trip on the same Redis broker (no-op task sent to a private queue, "
            f"result received; solo worker), {args.ceiling_seconds:g} s in this run",
        ]
    )


def render(f: dict[str, Any]) -> str:
    s, k = f["startup_ms"], f["celery_round_trip_ms"]
    hop_rows, detail_rows = f.pop("_rows")
    met = (
        "met"
        if s["p99"] and s["p99"] <= TARGET_P99_MS and f["pods_running"] == f["pods_created"]
        else "MISSED"
    )
    out = [
        "",
        report.table(
            ["measurement", "n", "p50 ms", "p99 ms", "p99 / Celery p99"],
            [
                [
                    "create -> Running (watch receipt)",
                    f["pods_running"],
                    s["p50"],
                    s["p99"],
                    report.ratio(s["p99"], k["p99"]),
                ],
                ["Celery round trip (ceiling of one hop)", k["n"], k["p50"], k["p99"], 1.0],
            ],  # fmt: skip
        ),
        f"target: p99 <= {TARGET_P99_MS:.0f} ms: {met} ({f['pods_running']}/{f['pods_created']} Running, "
        f"max {s['max']:.0f} ms; {f['pods_left_after_delete']} left after delete)",
        "",
        "per hop (from each pod's trace; shares of the mean create -> Running):",
        report.table(["hop", "pods", "p50 ms", "p99 ms", "mean ms", "share %"], hop_rows + detail_rows),
        "marks per pod until read: " + ", ".join(f"{h} {n:g}" for h, n in f["marks_per_pod"].items()),
        "cpu % of a core: " + ", ".join(f"{n} {v:.0f}" for n, v in f["cpu_percent"].items()),
    ]
    if f.get("requests_per_pod"):
        rows = [[r["request"], r["per_pod"], r["mean_ms"], r["ms_per_pod"]] for r in f["requests_per_pod"]]
        out += [
            "",
            "API requests answered while the pods started, per pod (every client; server time, request to reply):",
            report.table(["verb resource", "per pod", "mean ms", "ms per pod"], rows[:15]),
        ]
    return "\n".join(out)
