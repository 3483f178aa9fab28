"""Where an API request's time goes: the phase table of ``ops.bench.api``.

``phase_split`` turns two scrapes of the server's ``kubeq_apiserver_phase_seconds_total`` around one run
into mean milliseconds per request of each phase (decode, admission, store, encode), the rest of the
app and what lies outside it; ``render_phases`` prints them as one table; ``hook_cost_us`` measures what
the phase hooks themselves add to a request.
"""

from __future__ import annotations

import time

from cluster.apiserver import phases
from ops.bench import report
from ops.bench.harness import Result


def phase_split(
    verb: str, result: Result, before: dict[tuple[str, str], float], after: dict[tuple[str, str], float]
) -> dict[str, float]:
    """Mean milliseconds per request of each server phase over one run (the counters' difference),
    the rest of the app's time ("other_app") and what lies outside it ("outside": HTTP parsing,
    gevent, sockets and the client), against the mean latency the clients saw."""

    def delta(phase: str) -> float:
        return after.get((verb, phase), 0.0) - before.get((verb, phase), 0.0)

    requests = delta("requests")
    per = 1000.0 / requests if requests else 0.0
    out = {"clients": float(result.clients), "requests": requests}
    out["client_ms"] = sum(result.latencies_ms) / len(result.latencies_ms) if result.latencies_ms else 0.0
    out["app_ms"] = delta("seconds") * per
    for phase in phases.PHASES:
        out[f"{phase}_ms"] = delta(phase) * per
    out["other_app_ms"] = out["app_ms"] - sum(out[f"{phase}_ms"] for phase in phases.PHASES)
    out["outside_ms"] = out["client_ms"] - out["app_ms"]
    # the API server's CPU per request: how much of the latency is its work rather than waiting
    busy = result.cpu.get("apiserver")
    out["server_cpu_ms"] = busy / 100.0 * result.seconds * per if busy is not None else 0.0
    return {k: round(v, 4) for k, v in out.items()}


SPLIT_PARTS = (*phases.PHASES, "other_app", "outside")


def render_phases(split: dict[str, list[dict[str, float]]], cost_us: float) -> str:
    """One table: per verb and level, each part's mean ms and its share of the client's latency."""
    rows = []
    for verb, runs in split.items():
        for r in runs:
            whole = r["client_ms"]
            cells = [
                f"{r[f'{p}_ms']:.3f} ({100 * r[f'{p}_ms'] / whole:.0f}%)" if whole else "-"
                for p in SPLIT_PARTS
            ]
            rows.append([verb, int(r["clients"]), int(r["requests"]), whole, r["server_cpu_ms"], *cells])
    headers = [
        "verb",
        "clients",
        "requests",
        "client mean ms",
        "server CPU ms",
        *(f"{p} ms (%)" for p in SPLIT_PARTS),
    ]
    return "\n".join(
        [
            "",
            "where the time goes (server counters kubeq_apiserver_phase_seconds_total, mean per request;",
            "% of the mean latency the clients saw). decode: body parse + schema check; admission: the",
            "handler's own work (defaults, validation, strategy, managedFields; reads: query, selectors);",
            "store: Store calls (codec + Redis round trips, incl. waiting for the worker's CPU under load);",
            "encode: reply serialisation; other_app: routing, metrics; outside: HTTP/gevent/sockets/client.",
            "server CPU ms: the API server processes' CPU time per request (all workers, whole run)",
            report.table(headers, rows),
            f"phase hooks cost: {cost_us:.2f} us per request (in-process microbenchmark of the hook path)"
            + _cost_share(split, cost_us),
        ]
    )


def _cost_share(split: dict[str, list[dict[str, float]]], cost_us: float) -> str:
    """The hook cost as a share of the 1-client create's server CPU per request, when measured."""
    one = next((r for r in split.get("create", []) if r["clients"] == 1 and r["server_cpu_ms"]), None)
    return f" = {cost_us / 10 / one['server_cpu_ms']:.1f}% of a 1-client create's server CPU" if one else ""


def hook_cost_us(rounds: int = 5000, repeats: int = 7) -> float:
    """Microseconds the phase hooks add to one update-shaped request (begin, a decode, a schema
    check, two store calls, finish and the app's extra clock reads) beyond calling the same no-ops;
    the least of ``repeats`` timings (the one least disturbed by the machine's other work). The
    periodic flush into the counters (a few per verb every 0.1 s) is left out: per request, nil."""
    clock = time.perf_counter

    def noop() -> None:
        return None

    store_call, schema_call = phases.timed_store(noop), phases.timed_decode(noop)

    def bare() -> float:
        t0 = clock()
        for _ in range(rounds):
            noop(), noop(), noop()
        return clock() - t0

    def hooked() -> float:
        t0 = clock()
        for _ in range(rounds):
            phases.begin()
            handled = clock()
            d = clock()
            phases.decoded(clock() - d)
            schema_call(), store_call(), store_call()
            encoding = clock()
            phases.finish("bench-hook-cost", encoding - handled, clock() - encoding)
        return clock() - t0

    extra = min(hooked() for _ in range(repeats)) - min(bare() for _ in range(repeats))
    return max(extra, 0.0) / rounds * 1e6
