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
import http.client
import json
import multiprocessing
import os
import re
import selectors
import socket
import sys
import time
import uuid
from contextlib import ExitStack
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any
from urllib.parse import urlsplit

import redis

from ops.bench import report
from ops.bench.api import _drop_prefix, _redis_cpu, apiserver, redis_server
from ops.bench.harness import CpuMeter, children_of, machine_facts, percentile

QUICK: tuple[str, ...] = tuple("--watchers 1,100 --seconds 2 --rate 20 --processes 1 --grace 5".split())
FULL: tuple[str, ...] = tuple("--watchers 1,1000 --seconds 20 --rate 20 --processes 4".split())
NAMESPACE = "bench-watch-pods"
SEQ, SENT = "bench.kubeq.io/seq", "bench.kubeq.io/sent"
POOL = 20  # pods per level: the first write of each creates it, later ones patch it
TARGET_P99_MS = 100.0
_SEQ_RE = re.compile(rb'"bench\.kubeq\.io/seq":"(\d+)"')
_SENT_RE = re.compile(rb'"bench\.kubeq\.io/sent":"([0-9.]+)"')


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


# ---- the watcher processes ----------------------------------------------------------------------


class _Stream:
    """One watch socket: de-chunks the body and keeps (seq, sent, received) per event line."""

    __slots__ = ("sock", "raw", "body", "events", "chunk_left", "bytes")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.raw = b""  # undecoded chunked bytes
        self.body = b""  # de-chunked bytes not yet ending in a newline
        self.events: list[tuple[int, float, float]] = []
        self.chunk_left = 0  # bytes of the current chunk still to come (+2 for its CRLF)
        self.bytes = 0

    def feed(self, data: bytes, now: float) -> None:
        self.bytes += len(data)
        raw = self.raw + data
        pos, out = 0, []
        while pos < len(raw):
            if self.chunk_left > 2:  # chunk data
                take = raw[pos : pos + self.chunk_left - 2]
                out.append(take)
                pos += len(take)
                self.chunk_left -= len(take)
            elif self.chunk_left:  # the CRLF after the data
                skip = min(self.chunk_left, len(raw) - pos)
                pos += skip
                self.chunk_left -= skip
            else:
                end = raw.find(b"\r\n", pos)
                if end < 0:
                    break
                size = int(raw[pos:end].split(b";")[0] or b"0", 16)
                pos = end + 2
                self.chunk_left = size + 2 if size else 0
        self.raw = raw[pos:]
        *lines, self.body = (self.body + b"".join(out)).split(b"\n")
        for line in lines:
            seq, sent = _SEQ_RE.search(line), _SENT_RE.search(line)
            if seq and sent:
                self.events.append((int(seq.group(1)), float(sent.group(1)), now))


def _open(host: str, port: int, path: str) -> tuple[socket.socket, bytes]:
    """A socket with a watch request sent and the 200 response's headers read, and the body bytes
    read with them; RuntimeError for any other response."""
    sock = socket.create_connection((host, port), timeout=30)
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAccept: application/json\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        data = sock.recv(65536)
        if not data:
            raise RuntimeError(f"watch closed before its headers: {head[:200]!r}")
        head += data
    status = head.split(b"\r\n", 1)[0]
    if b" 200 " not in status + b" ":
        raise RuntimeError(f"watch refused: {head[:300]!r}")
    if b"chunked" not in head.lower():
        raise RuntimeError("watch response is not chunked")
    return sock, head.split(b"\r\n\r\n", 1)[1]


def watcher_process(host: str, port: int, path: str, count: int, pipe: Connection) -> None:
    """Open ``count`` watches, report ("ready", n), then read until told ("stop", acks); reply with results.

    ``("count",)`` asks for the events received so far. Results: see ``_results``.
    """
    streams: list[_Stream] = []
    try:
        for _ in range(count):
            sock, rest = _open(host, port, path)
            stream = _Stream(sock)
            if rest:
                stream.feed(rest, time.monotonic())
            sock.setblocking(False)
            streams.append(stream)
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which stops the run
        pipe.send(("failed", repr(exc)))
        return
    pipe.send(("ready", len(streams)))
    sel = selectors.DefaultSelector()
    for stream in streams:
        sel.register(stream.sock, selectors.EVENT_READ, stream)
    sel.register(pipe, selectors.EVENT_READ, None)
    closed = 0
    clock = time.monotonic
    while True:
        for key, _ in sel.select():
            stream = key.data
            if stream is None:
                message = pipe.recv()
                if message[0] == "count":
                    pipe.send(("count", sum(len(s.events) for s in streams), closed))
                    continue
                pipe.send(("results", _results(streams, message[1], closed)))
                for s in streams:
                    s.sock.close()
                return
            try:
                data = stream.sock.recv(262144)
            except BlockingIOError:
                continue
            now = clock()
            if not data:
                sel.unregister(stream.sock)
                closed += 1
                continue
            stream.feed(data, now)


def _results(streams: list[_Stream], acks: dict[int, float], closed: int) -> dict[str, Any]:
    """Latencies (ms) from sent and from acknowledged, and per-watcher completeness against ``acks``."""
    from_sent: list[float] = []
    from_ack: list[float] = []
    missing = duplicates = complete = 0
    first = last = None
    for stream in streams:
        seen: set[int] = set()
        for seq, sent, at in stream.events:
            if seq in seen:
                duplicates += 1
                continue
            seen.add(seq)
            from_sent.append((at - sent) * 1000.0)
            if seq in acks:
                from_ack.append(max(at - acks[seq], 0.0) * 1000.0)
            first = at if first is None else min(first, at)
            last = at if last is None else max(last, at)
        lost = len(acks.keys() - seen)
        missing += lost
        complete += lost == 0
    return {
        "from_sent": from_sent,
        "from_ack": from_ack,
        "missing": missing,
        "duplicates": duplicates,
        "complete": complete,
        "closed": closed,
        "first": first,
        "last": last,
        "bytes": sum(s.bytes for s in streams),
    }


# ---- the writer ---------------------------------------------------------------------------------


def _pod(name: str, seq: int, sent: float) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "annotations": {SEQ: str(seq), SENT: f"{sent:.6f}"}},
        "spec": {"containers": [{"name": "c", "image": "bench/none"}]},
    }


@dataclass
class Writes:
    """What the writer did: ack time per successful write's sequence number, failures, time span."""

    acks: dict[int, float] = field(default_factory=dict)
    sent: dict[int, float] = field(default_factory=dict)
    failures: int = 0
    started: float = 0.0
    ended: float = 0.0


def write_steadily(base_url: str, prefix: str, rate: float, seconds: float) -> Writes:
    """Create ``POOL`` pods then merge-patch them in turn, one write every 1/rate s (open loop)."""
    parts = urlsplit(base_url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    base = f"/api/v1/namespaces/{NAMESPACE}/pods"
    done = Writes(started=time.monotonic())
    total = max(int(rate * seconds), 1)
    try:
        for seq in range(total):
            due = done.started + seq / rate
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            name = f"{prefix}-{seq % POOL}"
            sent = time.monotonic()
            if seq < POOL:
                method, path, ctype, body = "POST", base, "application/json", _pod(name, seq, sent)
            else:
                method, path = "PATCH", f"{base}/{name}"
                ctype = "application/merge-patch+json"
                body = {"metadata": {"annotations": {SEQ: str(seq), SENT: f"{sent:.6f}"}}}
            conn.request(method, path, body=json.dumps(body).encode(), headers={"Content-Type": ctype})
            resp = conn.getresponse()
            resp.read()
            if resp.status in (200, 201):
                done.acks[seq] = time.monotonic()
                done.sent[seq] = sent
            else:
                done.failures += 1
    finally:
        conn.close()
        done.ended = time.monotonic()
    return done


# ---- one level ----------------------------------------------------------------------------------


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


def _json(base_url: str, path: str, method: str = "GET", body: Any = None) -> tuple[int, Any]:
    parts = urlsplit(base_url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        payload = None if body is None else json.dumps(body).encode()
        conn.request(method, path, body=payload, headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, json.loads(data) if data else None
    finally:
        conn.close()


def _ask(pipes: list[Connection], message: tuple[Any, ...], expect: str, timeout: float) -> list[tuple]:
    replies = []
    for pipe in pipes:
        pipe.send(message)
    for pipe in pipes:
        if not pipe.poll(timeout):
            raise RuntimeError(f"a watcher process did not answer {message[0]!r}")
        reply = pipe.recv()
        if reply[0] != expect:
            raise RuntimeError(f"watcher process: {reply!r}")
        replies.append(reply)
    return replies


def run_level(
    base_url: str, server_pid: int, watchers: int, args: argparse.Namespace, meter: CpuMeter
) -> dict[str, Any]:
    """Open ``watchers`` watches, write for ``args.seconds``, gather every watcher's events."""
    workers = children_of(server_pid)[1:]
    status, listing = _json(base_url, f"/api/v1/namespaces/{NAMESPACE}/pods?limit=1")
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
            received = sum(r[1] for r in _ask(pipes, ("count",), "count", 30))
            if received >= expected:
                break
            time.sleep(0.2)
        cpu = meter.stop(time.monotonic() - writes.started)
        results = [r[1] for r in _ask(pipes, ("stop", writes.acks), "results", 120)]
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
    return _level_figures(watchers, len(shares), writes, results, cpu, open_seconds, rss, fds)


def _level_figures(
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


# ---- the run ------------------------------------------------------------------------------------


def _header(context: dict[str, Any]) -> str:
    c = context
    return "\n".join(
        [
            "kubeq watch fan-out benchmark",
            f"machine: {c['cpus']} CPUs ({c['machine']}, {c['system']}), {c['python']}, "
            f"load average at start {c['load_average_at_start']}",
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


def benchmark(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, list[float]]]:
    counts = [int(x) for x in str(args.watchers).split(",") if x.strip()]
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    with ExitStack() as stack:
        redis_url, redis_desc = stack.enter_context(redis_server(args.redis_url))
        admin = redis.Redis.from_url(redis_url, decode_responses=True)
        stack.callback(admin.close)
        if args.redis_url:
            stack.callback(_drop_prefix, admin, prefix)
        version = admin.info("server").get("redis_version", "?")
        base_url, pid = stack.enter_context(apiserver(redis_url, prefix, args.workers))
        status, body = _json(
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
        print(_header(context), flush=True)
        meter = CpuMeter({"apiserver": lambda: children_of(pid)}, {"redis": _redis_cpu(admin)})
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
