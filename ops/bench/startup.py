"""Pod startup benchmark: ``python -m ops.bench.startup [--rate 20] [--seconds 30] [--redis-url URL]``.

Starts Redis (embedded, in a temp dir, unless ``--redis-url``), a ``kubeq apiserver``, ``kubeq
controller-manager``, ``kubeq scheduler`` and two real ``kubeq node`` processes (host isolation,
userspace proxy, data in a temp dir), every component with ``KUBEQ_TRACE=1`` (``cluster/trace.py``).
Then it creates pods running ``sleep 3600`` at ``--rate`` pods/s for ``--seconds`` (open loop: a send
is not held up by a slow earlier one) while one watch records when each pod is first seen Running;
each pod is deleted ``--lifetime`` seconds after that (churn), and the nodes take ``--max-pods`` above
the run's pod count, so the kubelet's default cap of 110 pods per node is not what is measured.
Reported: create -> Running p50/p99 (send time -> watch receipt), the per-hop breakdown from each
pod's trace, and beside them the Celery round-trip ceiling measured in the same run: an empty task
sent to a private queue on the same Redis broker and its result received (a throwaway Celery app with
kubeq's broker settings and a worker process of its own). The pods are deleted at the end and every
process, daemon and (with ``--redis-url``) Redis key the run made is removed.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import redis

from cluster import trace
from cluster.api.resources import lookup
from cluster.client import Client
from cluster.store.embedded import free_port
from ops.bench import report
from ops.bench.api import ROOT, _drop_prefix, _redis_cpu, apiserver, redis_server
from ops.bench.harness import CpuMeter, children_of, machine_facts, percentile
from ops.bench.workload import Client as HttpClient
from workers.local_cluster import stop_process

QUICK: tuple[str, ...] = (
    "--seconds",
    "5",
    "--ceiling-seconds",
    "2",
    "--timeout",
    "30",
    "--delete-timeout",
    "15",
)
FULL: tuple[str, ...] = ("--seconds", "30", "--ceiling-seconds", "5")
RESULTS = Path(__file__).resolve().parent / "results"
PODS = lookup("", "v1", "pods")
NODES = lookup("", "v1", "nodes")
NOOP = "kubeq.bench.noop"
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
    ("  kubelet saw start (process -> start returned)", "process_started", "container_started"),
    ("  status patch (process -> status written)", "process_started", "status_written"),
    ("  watch delivery (status written -> seen)", "status_written", "running"),
)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m ops.bench.startup", description=__doc__.split("\n")[0])
    p.add_argument("--rate", type=float, default=20.0, help="pods created per second (default 20)")
    p.add_argument("--seconds", type=float, default=30.0, help="seconds of pod creation (default 30)")
    p.add_argument(
        "--lifetime", type=float, default=5.0, help="delete each pod this long after Running (5 s)"
    )
    p.add_argument("--ceiling-seconds", type=float, default=5.0, help="seconds of Celery round trips (5)")
    p.add_argument("--workers", type=int, default=2, help="API server worker processes (default 2)")
    p.add_argument("--timeout", type=float, default=60.0, help="wait this long for the last pod (60 s)")
    p.add_argument("--delete-timeout", type=float, default=60.0, help="wait this long for deletions (60 s)")
    p.add_argument("--redis-url", help="benchmark on this Redis instead of an embedded one")
    p.add_argument("--log", help="component output (default ops/bench/results/startup-processes.log)")
    p.add_argument("--output", help="JSON file to write (default ops/bench/results/startup-<time>.json)")
    p.add_argument("--ceiling-worker", metavar="QUEUE", help=argparse.SUPPRESS)  # internal: the worker
    return p


# ---- the Celery ceiling ------------------------------------------------------------------------
def ceiling_app(settings: Any) -> Any:
    """A throwaway Celery app with kubeq's broker settings, a Redis result backend and one no-op task."""
    from celery import Celery

    from workers.celery_app import make_app

    kubeq = make_app(settings).conf
    app = Celery("kubeq-bench-ceiling", broker=settings.broker, backend=settings.broker, set_as_current=False)
    shared = (
        "broker_transport_options",
        "broker_connection_retry_on_startup",
        "task_acks_late",
        "task_reject_on_worker_lost",
        "worker_prefetch_multiplier",
        "task_serializer",
        "accept_content",
        "worker_send_task_events",
        "task_send_sent_event",
    )
    app.conf.update({name: kubeq[name] for name in shared})
    app.conf.update(
        result_serializer="json",
        result_expires=300,
        result_backend_transport_options={"global_keyprefix": settings.broker_prefix},
    )
    app.task(name=NOOP)(_noop)
    return app


def _noop() -> None:
    return None


def run_ceiling_worker(queue: str) -> None:
    """The ceiling's worker (``--ceiling-worker QUEUE``): solo pool, until SIGTERM."""
    from cluster.settings import Settings

    app = ceiling_app(Settings.from_env())
    name = f"bench-ceiling@{socket.gethostname()}-{os.getpid()}"
    quiet = ["--without-gossip", "--without-mingle", "--without-heartbeat", "--loglevel", "WARNING"]
    app.worker_main(["worker", "-Q", queue, "-n", name, "-P", "solo", *quiet])


def celery_round_trips(env: dict[str, str], seconds: float, log: Any) -> list[float]:
    """Milliseconds per no-op task sent and its result received, one at a time for ``seconds``."""
    from cluster.settings import Settings

    queue = f"bench-ceiling-{uuid.uuid4().hex[:8]}"
    cmd = [sys.executable, "-m", "ops.bench.startup", "--ceiling-worker", queue]
    worker = subprocess.Popen(cmd, env=env, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    saved = {k: os.environ.get(k) for k in env if k.startswith("KUBEQ_")}
    os.environ.update({k: v for k, v in env.items() if k.startswith("KUBEQ_")})
    try:
        app = ceiling_app(Settings.from_env())
    finally:
        for k, v in saved.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)
    try:
        app.send_task(NOOP, queue=queue).get(timeout=60)  # the worker is up
        for _ in range(20):  # warm the connections
            app.send_task(NOOP, queue=queue).get(timeout=10)
        out: list[float] = []
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            t0 = time.perf_counter()
            app.send_task(NOOP, queue=queue).get(timeout=10)
            out.append((time.perf_counter() - t0) * 1000)
        return out
    finally:
        stop_process(worker)
        app.close()


# ---- the cluster ---------------------------------------------------------------------------------
@contextmanager
def components(
    env: dict[str, str], data: Path, nodes: list[str], max_pods: int, log: Any
) -> Iterator[dict[str, int]]:
    """controller-manager, scheduler and the real nodes; yields {name: pid}; stops them, their runtime
    daemons (with the containers) and their proxy daemons afterwards."""
    from workers.node.supervisor import stop_daemon
    from workers.proxy.teardown import teardown

    procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(name: str, *args: str) -> None:
        cmd = [sys.executable, "-m", "workers.cli", *args]
        procs[name] = subprocess.Popen(
            cmd, env=env, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=log, stderr=log
        )

    with ExitStack() as stack:
        for name in nodes:  # callbacks run newest first: the daemons go after the node agents
            node_dir = data / "nodes" / name
            stack.callback(stop_daemon, node_dir)
            stack.callback(teardown, name, str(node_dir))
        stack.callback(lambda: [stop_process(p) for p in reversed(list(procs.values()))])
        start("controller-manager", "controller-manager")
        start("scheduler", "scheduler")
        for name in nodes:
            node_dir = data / "nodes" / name
            start(
                f"node {name}", "node", "--name", name, "--data-dir", str(node_dir), "--isolation", "host",
                "--proxy-mode", "userspace", "--port", str(free_port()), "--max-pods", str(max_pods),
            )  # fmt: skip
        yield {name: p.pid for name, p in procs.items()}


def _wait_nodes_ready(client: Client, names: list[str], timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready = set()
        for node in client.list(NODES)["items"]:
            conds = (node.get("status") or {}).get("conditions") or []
            if any(c.get("type") == "Ready" and c.get("status") == "True" for c in conds):
                ready.add(node["metadata"]["name"])
        if set(names) <= ready:
            return
        time.sleep(0.3)
    raise RuntimeError(f"nodes {names} were not Ready within {timeout:.0f} s")


class RunningWatch:
    """One watch on a namespace's pods: when each pod was first seen bound to a node, and Running."""

    def __init__(self, server: str, namespace: str) -> None:
        self.client = Client(server, user_agent="kubeq-bench")
        self.namespace = namespace
        self.running: dict[str, float] = {}
        self.bound: dict[str, float] = {}
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.rv = self.client.list(PODS, namespace)["metadata"]["resourceVersion"]
        self.thread = threading.Thread(target=self._run, name="running-watch", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                for event in self.client.watch(
                    PODS, self.namespace, resource_version=self.rv, bookmarks=True
                ):
                    seen = time.time()
                    obj = event["object"]
                    self.rv = obj["metadata"].get("resourceVersion") or self.rv
                    if event["type"] not in ("ADDED", "MODIFIED"):
                        continue
                    name = obj["metadata"]["name"]
                    with self.lock:
                        if (obj.get("spec") or {}).get("nodeName"):
                            self.bound.setdefault(name, seen)
                        if (obj.get("status") or {}).get("phase") == "Running":
                            self.running.setdefault(name, seen)
                    if self.stop.is_set():
                        return
            except Exception:  # a dropped watch resumes from the last version seen
                time.sleep(0.2)

    def count(self) -> int:
        with self.lock:
            return len(self.running)


def pod_object(name: str, namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": "bench-startup"}},
        "spec": {
            "terminationGracePeriodSeconds": 2,
            "containers": [{"name": "sleep", "image": "busybox", "command": ["sleep", "3600"]}],
        },
    }


def create_paced(server: str, namespace: str, rate: float, count: int) -> dict[str, dict[str, Any]]:
    """Create ``count`` pods at ``rate``/s from a pool of senders (open loop); per pod name: send time,
    acknowledgement time and uid (pods whose create failed are left out)."""
    made: dict[str, dict[str, Any]] = {}
    lock = threading.Lock()
    local = threading.local()
    path = f"/api/v1/namespaces/{namespace}/pods"

    def send(i: int) -> None:
        http = getattr(local, "http", None) or HttpClient(server)
        local.http = http
        name = f"p-{i}"
        sent = time.time()
        status, body = http.call("POST", path, pod_object(name, namespace))
        acked = time.time()
        if status == 201:
            with lock:
                made[name] = {"sent": sent, "created": acked, "uid": json.loads(body)["metadata"]["uid"]}

    start = time.monotonic()
    with ThreadPoolExecutor(8, thread_name_prefix="creator") as pool:
        for i in range(count):
            delay = start + i / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            pool.submit(send, i)
    return made


class Churn:
    """Deletes each pod ``lifetime`` seconds after the watch saw it Running (the churn half of the run)."""

    def __init__(self, server: str, namespace: str, watch: RunningWatch, lifetime: float) -> None:
        self.server, self.namespace, self.watch, self.lifetime = server, namespace, watch, lifetime
        self.deleted: set[str] = set()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="churn", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        http = HttpClient(self.server)
        while not self.stop.wait(0.1):
            now = time.time()
            with self.watch.lock:
                due = [
                    n
                    for n, t in self.watch.running.items()
                    if t + self.lifetime <= now and n not in self.deleted
                ]
            for name in due:
                http.call("DELETE", f"/api/v1/namespaces/{self.namespace}/pods/{name}")
                self.deleted.add(name)


def delete_all(server: str, namespace: str, names: list[str], timeout: float = 60.0) -> int:
    """Delete the pods and wait until they are gone; returns how many are left after ``timeout``."""
    client = Client(server, user_agent="kubeq-bench")

    def delete(name: str) -> None:
        try:
            client.delete(PODS, name, namespace)
        except Exception:  # gone already
            pass

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(delete, names))
    deadline = time.monotonic() + timeout
    left = len(names)
    while time.monotonic() < deadline:
        left = len(client.list(PODS, namespace)["items"])
        if not left:
            break
        time.sleep(0.5)
    return left


# ---- analysis --------------------------------------------------------------------------------------
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


# ---- the run ------------------------------------------------------------------------------------------
def benchmark(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, list[float]]]:
    run = uuid.uuid4().hex[:6]
    prefix = f"bench-{run}"
    namespace = f"startup-{run}"
    count = max(1, int(round(args.rate * args.seconds)))
    nodes = [f"bench-{run}-{i}" for i in range(2)]
    log_path = Path(args.log or RESULTS / "startup-processes.log")
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        log = stack.enter_context(open(log_path, "wb"))  # noqa: SIM115
        data = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="kubeq-bench-startup-")))
        redis_url, redis_desc = stack.enter_context(redis_server(args.redis_url))
        admin = redis.Redis.from_url(redis_url, decode_responses=True)
        stack.callback(admin.close)
        if args.redis_url:
            stack.callback(_drop_prefix, admin, prefix)
        base_url, api_pid = stack.enter_context(apiserver(redis_url, prefix, args.workers))
        env = dict(
            os.environ,
            PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
            KUBEQ_REDIS_URL=redis_url,
            KUBEQ_STATE_PREFIX=prefix,
            KUBEQ_SERVER=base_url,
            KUBEQ_BROKER_PREFIX=f"{prefix}-broker:",
            KUBEQ_DATA_DIR=str(data),
            KUBEQ_PROXY_MODE="userspace",
            KUBEQ_TRACE="1",
        )
        print(f"  process output: {log_path}", file=sys.stderr, flush=True)
        began = time.monotonic()
        pids = stack.enter_context(components(env, data, nodes, count + 10, log))
        client = Client(base_url, user_agent="kubeq-bench")
        _wait_nodes_ready(client, nodes)
        print(f"  2 nodes Ready in {time.monotonic() - began:.1f} s", file=sys.stderr, flush=True)
        ceiling = celery_round_trips(env, args.ceiling_seconds, log)
        client.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
        watch = RunningWatch(base_url, namespace)
        stack.callback(watch.stop.set)
        meter = CpuMeter(
            {
                "apiserver": lambda: children_of(api_pid),
                "controller-manager": lambda: [pids["controller-manager"]],
                "scheduler": lambda: [pids["scheduler"]],
                "nodes": lambda: [pid for name, pid in pids.items() if name.startswith("node ")],
            },
            {"redis": _redis_cpu(admin)},
        )
        print(f"  creating {count} pods at {args.rate:g}/s", file=sys.stderr, flush=True)
        meter.start()
        t0 = time.time()
        churn = Churn(base_url, namespace, watch, args.lifetime)
        stack.callback(churn.stop.set)
        made = create_paced(base_url, namespace, args.rate, count)
        deadline = time.monotonic() + args.timeout
        while watch.count() < len(made) and time.monotonic() < deadline:
            time.sleep(0.05)
        cpu = meter.stop(max(time.time() - t0, 1e-6))
        churn.stop.set()
        print(f"  {watch.count()}/{len(made)} Running {time.time() - t0:.1f} s after the first create",
              file=sys.stderr, flush=True)  # fmt: skip
        time.sleep(0.3)  # the last trace marks are written by background threads
        with watch.lock:
            for name, pod in made.items():
                pod.update(
                    {
                        k: v[name]
                        for k, v in (("running", watch.running), ("bound_seen", watch.bound))
                        if name in v
                    }
                )
        traces = {
            name: trace.read(admin, prefix, pod["uid"]) + trace.read(admin, prefix, f"{namespace}/{name}")
            for name, pod in made.items()
        }
        lines = [timeline(made[name], marks) for name, marks in traces.items()]
        t_delete = time.monotonic()
        left = delete_all(base_url, namespace, list(made), timeout=args.delete_timeout)
        print(f"  deleted ({left} left) in {time.monotonic() - t_delete:.1f} s", file=sys.stderr, flush=True)
        figures = summarize(args, count, made, lines, ceiling, cpu, left)
        figures["marks_per_pod"] = marks_per_pod(traces)
        figures["context"] = {
            **machine_facts(),
            "redis": f"{redis_desc}, version {admin.info('server').get('redis_version', '?')}",
            "nodes": nodes,
            "apiserver_workers": args.workers,
        }
    startup = [(p["running"] - p["sent"]) * 1000 for p in made.values() if "running" in p]
    return figures, {"create -> Running (watch)": startup, "Celery round trip (no-op task)": ceiling}


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
            f"machine: {facts['cpus']} CPUs ({facts['machine']}, {facts['system']}), {facts['python']}, "
            f"load average at start {facts['load_average_at_start']}",
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
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.ceiling_worker:
        run_ceiling_worker(args.ceiling_worker)
        return 0
    previous = signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the processes on the way out
    print(header(args, machine_facts()), flush=True)
    try:
        figures, latencies = benchmark(args)
    finally:
        signal.signal(signal.SIGTERM, previous)
    print(render(figures), flush=True)
    report.save(
        "startup", figures, latencies, args.output, "pod startup: create -> Running vs Celery round trip"
    )
    return 0 if figures["pods_running"] else 1  # a shortfall is reported above; none Running is a failure


if __name__ == "__main__":
    sys.exit(main())
