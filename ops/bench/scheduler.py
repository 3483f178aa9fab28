"""Scheduler benchmark: ``python -m ops.bench.scheduler [--nodes N] [--pods M] [--variant V] [--schedulers K]``.

Starts Redis (embedded, in a temp dir, unless ``--redis-url``), a ``kubeq apiserver`` (2 workers),
``kubeq controller-manager`` (dispatcher + controllers), ``K`` ``kubeq scheduler`` workers and
``kubeq hollow-nodes --count N`` (registration is waited for and not counted). Then ``M`` pods are
created through the API as fast as ``--creators`` threads can, while one watch records when each
pod first shows ``spec.nodeName``. Reported: pods/s from the first create request to the last
binding seen, create->bound latency percentiles, and placement quality (pods per node, per zone,
over-committed nodes, constraint violations). Prints a table; writes JSON under ``ops/bench/results/``.

Sizes: the default is a quick 1,000 nodes / 2,000 pods. The issue's figure is
``python -m ops.bench.scheduler --nodes 5000 --pods 10000`` (about 2 minutes, most of it node
registration); 10,000 nodes works the same way (``--nodes 10000 --pods 10000``), given the memory.

Variants: ``plain`` (requests only), ``spread`` (a hard zone topology spread, maxSkew 1),
``anti-affinity`` (required pod anti-affinity on hostname within groups of at most N/2 pods).
Hollow nodes renew Leases (and node heartbeats) every ``--lease-seconds``: the default 300 keeps
5,000 nodes' renewals (2 writes per node per period) from being the benchmark; Kubernetes'
scheduler_perf runs no kubelets at all. They move bound pods to Running, as kwok does.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import redis

from cluster.api.resources import lookup
from cluster.client import Client
from ops.bench import report
from ops.bench.controlplane import settle
from ops.bench.harness import CpuMeter, children_of, machine_facts, machine_line, percentile
from ops.bench.podwatch import PodWatch
from ops.bench.servers import ROOT, apiserver, component_env, open_redis, redis_cpu
from ops.bench.workload import Client as HttpClient
from tasks.scheduler.framework import resources as res
from workers.local_cluster import stop_process

RESULTS = Path(__file__).resolve().parent / "results"
PODS = lookup("", "v1", "pods")
NODES = lookup("", "v1", "nodes")
NAMESPACE = "bench-sched"
ZONE = "topology.kubernetes.io/zone"
HOST = "kubernetes.io/hostname"
CPU_REQUEST, MEMORY_REQUEST = "100m", "128Mi"
NO_START_MS = 3_600_000  # --no-pod-start: pods start an hour after binding, long after the run
# kube-scheduler's own integration benchmark (scheduler_perf, SchedulingBasic at 5,000 nodes):
# cited, not run here (no Go toolchain or kube-scheduler binary on this machine).
KUBE_SCHEDULER_PODS_PER_S = 680.0
QUICK = ("--nodes", "200", "--pods", "500", "--no-pod-start")
FULL = ("--nodes", "5000", "--pods", "10000", "--no-pod-start")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m ops.bench.scheduler", description=__doc__.split("\n")[0])
    p.add_argument("--nodes", type=int, default=1000, help="hollow nodes (default 1000)")
    p.add_argument("--pods", type=int, default=2000, help="pods to create (default 2000)")
    p.add_argument("--variant", choices=("plain", "spread", "anti-affinity"), default="plain")
    p.add_argument("--schedulers", type=int, default=1, help="scheduler worker processes (default 1)")
    p.add_argument("--creators", type=int, default=8, help="threads creating pods (default 8)")
    p.add_argument("--workers", type=int, default=2, help="API server worker processes (default 2)")
    p.add_argument("--lease-seconds", type=float, default=300.0, help="hollow Lease renewal period (300)")
    p.add_argument(
        "--no-pod-start",
        action="store_true",
        help="hollow nodes leave bound pods Pending during the run (as scheduler_perf, which runs no kubelets)",
    )
    p.add_argument(
        "--backlog",
        action="store_true",
        help="create every pod first, then start the scheduler(s) and time how fast they drain the "
        "pending pods (a scheduler taking over a backlog: pod creation is not part of the rate)",
    )
    p.add_argument("--timeout", type=float, default=600.0, help="give up waiting for bindings after (600 s)")
    p.add_argument("--redis-url", help="benchmark on this Redis instead of an embedded one")
    p.add_argument("--log", help="control-plane output (default ops/bench/results/scheduler-processes.log)")
    p.add_argument("--output", help="JSON file to write (default ops/bench/results/scheduler-<time>.json)")
    return p


# ---- workload ---------------------------------------------------------------------------------
def pod_object(i: int, variant: str, nodes: int, pods: int) -> dict[str, Any]:
    """Pod ``i`` of the run: one container with small requests, plus the variant's constraint."""
    labels = {"app": "bench"}
    spec: dict[str, Any] = {
        "containers": [
            {
                "name": "c",
                "image": "registry.k8s.io/pause:3.9",
                "resources": {"requests": {"cpu": CPU_REQUEST, "memory": MEMORY_REQUEST}},
            }
        ],
    }
    if variant == "spread":
        spec["topologySpreadConstraints"] = [
            {
                "maxSkew": 1,
                "topologyKey": ZONE,
                "whenUnsatisfiable": "DoNotSchedule",
                "labelSelector": {"matchLabels": {"app": "bench"}},
            }
        ]
    elif variant == "anti-affinity":
        groups = _groups(nodes, pods)
        labels["group"] = f"g{i % groups}"
        spec["affinity"] = {
            "podAntiAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": [
                    {"labelSelector": {"matchLabels": {"group": labels["group"]}}, "topologyKey": HOST}
                ]
            }
        }
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": f"p-{i}", "namespace": NAMESPACE, "labels": labels},
        "spec": spec,
    }


def _groups(nodes: int, pods: int) -> int:
    """Anti-affinity groups so that each holds at most half as many pods as there are nodes."""
    return max(1, -(-pods * 2 // max(nodes, 1)))


class BindWatch(PodWatch):
    """One watch on the namespace's pods: when each pod was first seen with a node."""

    def __init__(self, server: str) -> None:
        self.bound: dict[str, tuple[float, str]] = {}
        super().__init__(server, NAMESPACE, "bind-watch")

    def seen(self, kind: str, obj: dict[str, Any], at: float) -> None:
        node = (obj.get("spec") or {}).get("nodeName")
        if node and kind != "BOOKMARK":
            name = obj["metadata"]["name"]
            with self.lock:
                if name not in self.bound:
                    self.bound[name] = (at, node)

    def count(self) -> int:
        with self.lock:
            return len(self.bound)


def create_pods(
    server: str, variant: str, nodes: int, pods: int, threads: int
) -> tuple[dict[str, float], int]:
    """Create the pods from ``threads`` threads; (send time per pod name, errors)."""
    created: dict[str, float] = {}
    errors = [0]
    lock = threading.Lock()
    counter = iter(range(pods))
    path = f"/api/v1/namespaces/{NAMESPACE}/pods"

    def worker() -> None:
        http = HttpClient(server)
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                return
            body = pod_object(i, variant, nodes, pods)
            for _attempt in range(5):
                t0 = time.time()
                status, _ = http.call("POST", path, body)
                if status == 201:
                    with lock:
                        created[body["metadata"]["name"]] = t0
                    break
                if status == 409:  # a retry after a lost reply; the first send stands
                    with lock:
                        created.setdefault(body["metadata"]["name"], t0)
                    break
                time.sleep(0.05)
            else:
                with lock:
                    errors[0] += 1

    pool = [threading.Thread(target=worker, daemon=True) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return created, errors[0]


# ---- placement quality ------------------------------------------------------------------------
def quality(client: Client, variant: str) -> dict[str, Any]:
    """Pods per node and zone, over-committed nodes and constraint violations, from the API."""
    nodes = {n["metadata"]["name"]: n for n in client.list(NODES)["items"]}
    pods = [p for p in client.list(PODS, NAMESPACE)["items"] if p["spec"].get("nodeName")]
    per_node: Counter[str] = Counter({name: 0 for name in nodes})
    used: dict[str, list[int]] = {name: [0, 0] for name in nodes}
    per_zone: Counter[str] = Counter()
    groups: Counter[tuple[str, str]] = Counter()
    for p in pods:
        node = p["spec"]["nodeName"]
        per_node[node] += 1
        req = res.resource_list(p["spec"]["containers"][0].get("resources", {}).get("requests"))
        used.setdefault(node, [0, 0])
        used[node][0] += req.get(res.CPU, 0)
        used[node][1] += req.get(res.MEMORY, 0)
        labels = nodes.get(node, {}).get("metadata", {}).get("labels") or {}
        per_zone[labels.get(ZONE, "?")] += 1
        if variant == "anti-affinity":
            groups[(p["metadata"]["labels"].get("group", ""), node)] += 1
    over = []
    for name, node in nodes.items():
        alloc = res.resource_list(node.get("status", {}).get("allocatable"))
        cpu, mem = used.get(name, [0, 0])
        if (
            cpu > alloc.get(res.CPU, 0)
            or mem > alloc.get(res.MEMORY, 0)
            or per_node[name] > alloc.get(res.PODS, 0)
        ):
            over.append(name)
    over += [n for n in used if n not in nodes]  # bound to a node that does not exist
    counts = list(per_node.values()) or [0]
    zones = dict(sorted(per_zone.items()))
    return {
        "bound": len(pods),
        "max_pods_per_node": max(counts),
        "min_pods_per_node": min(counts),
        "nodes_used": sum(1 for c in counts if c),
        "pods_per_zone": zones,
        "zone_skew": (max(zones.values()) - min(zones.values())) if zones else 0,
        "overcommitted_nodes": over,
        "anti_affinity_violations": sum(c - 1 for c in groups.values() if c > 1),
    }


# ---- processes --------------------------------------------------------------------------------
class Plane:
    """The benchmark's component processes, started with their output going to one log."""

    def __init__(self, env: dict[str, str], log: Any) -> None:
        self.env, self.log = env, log
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, *args: str, module: str = "workers.cli", **kw: Any) -> subprocess.Popen[bytes]:
        cmd = [sys.executable, "-m", module, *args]
        kw.setdefault("stdout", self.log)
        self.procs[name] = subprocess.Popen(
            cmd, env=self.env, cwd=ROOT, stdin=subprocess.DEVNULL, stderr=self.log, **kw
        )
        return self.procs[name]

    def start_schedulers(self, count: int) -> None:
        for i in range(count):
            self.start(f"scheduler-{i}", "scheduler")

    def pids(self, prefix: str) -> list[int]:
        return [p.pid for n, p in self.procs.items() if n.startswith(prefix)]


@contextmanager
def control_plane(
    env: dict[str, str],
    schedulers: int,
    nodes: int,
    lease_seconds: float,
    log_path: Path,
    start_pods: bool = True,
) -> Iterator[Plane]:
    """controller-manager, ``schedulers`` scheduler worker(s) and the hollow nodes (output to
    ``log_path``); waits for the nodes' registration. Stops every process it started on the way out."""
    log = open(log_path, "ab")  # noqa: SIM115 - closed below, after the processes stop
    plane = Plane(env, log)
    try:
        plane.start("controller-manager", "controller-manager")
        plane.start_schedulers(schedulers)
        hollow = plane.start(  # the module's own main: it takes --lease-renew-seconds
            "hollow-nodes",
            "--count",
            str(nodes),
            "--prefix",
            "bench",
            "--lease-renew-seconds",
            str(lease_seconds),
            *(() if start_pods else ("--startup-ms", str(NO_START_MS))),
            module="workers.hollow",
            stdout=subprocess.PIPE,
        )
        assert hollow.stdout is not None
        for line in hollow.stdout:
            print(f"  hollow-nodes: {line.decode().strip()}", file=sys.stderr, flush=True)
            if line.startswith(b"registered"):
                break
        else:
            raise RuntimeError("hollow-nodes exited before registering its nodes")
        threading.Thread(target=lambda: [None for _ in hollow.stdout], daemon=True).start()  # type: ignore[union-attr]
        yield plane
    finally:
        for proc in reversed(list(plane.procs.values())):
            stop_process(proc)
        log.close()


def _wait_nodes_seen(client: Client, nodes: int, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(client.list(NODES)["items"]) >= nodes:
            return
        time.sleep(0.5)
    raise RuntimeError(f"{nodes} nodes did not appear within {timeout:.0f} s")


def benchmark(args: argparse.Namespace) -> dict[str, Any]:
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    with ExitStack() as stack:
        redis_url, redis_desc, admin = open_redis(stack, args.redis_url, None)  # keys left in place
        base_url, api_pid = stack.enter_context(apiserver(redis_url, prefix, args.workers))
        env = component_env(
            redis_url,
            prefix,
            base_url,
            # hollow Leases renew every --lease-seconds: the node lifecycle controller must not
            # call them unreachable in between (Kubernetes' 40 s grace assumes 10 s renewals)
            KUBEQ_NODE_MONITOR_GRACE_PERIOD=str(max(40.0, 4 * args.lease_seconds)),
        )
        client = Client(base_url, user_agent="kubeq-bench")
        client.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
        began = time.monotonic()
        log_path = Path(args.log or RESULTS / "scheduler-processes.log")
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log_path.write_bytes(b"")
        print(f"  process output: {log_path}", file=sys.stderr, flush=True)
        plane = stack.enter_context(
            control_plane(
                env,
                0 if args.backlog else args.schedulers,
                args.nodes,
                args.lease_seconds,
                log_path,
                not args.no_pod_start,
            )
        )
        _wait_nodes_seen(client, args.nodes)
        startup = time.monotonic() - began
        # as scheduler_perf times a scheduler with no controller-manager beside it: the controller-manager's
        # start-up resync (5,000 node syncs among others) is not timed
        settled = settle(admin, plane.env, plane.procs["controller-manager"], args.timeout)
        time.sleep(2.0)  # let the scheduler's cache take in the node burst
        print(f"  {args.nodes} nodes up in {startup:.1f} s; creating {args.pods} pods", file=sys.stderr)
        meter = CpuMeter(
            {
                "apiserver": lambda: children_of(api_pid),
                "scheduler": lambda: plane.pids("scheduler"),
                "controller-manager": lambda: [
                    c for p in plane.pids("controller-manager") for c in children_of(p)
                ],
                "hollow": lambda: plane.pids("hollow"),
            },
            {"redis": redis_cpu(admin)},
        )
        watch = BindWatch(base_url)
        stack.callback(watch.stop.set)
        if not args.backlog:
            meter.start()
        t_start = time.time()
        created, errors = create_pods(base_url, args.variant, args.nodes, args.pods, args.creators)
        t_created = time.time()
        t_schedulers = t_created
        if args.backlog:
            time.sleep(2.0)  # the dispatcher queues every pending pod for the scheduler meanwhile
            print(f"  {len(created)} pods pending; starting the scheduler(s)", file=sys.stderr, flush=True)
            t_schedulers = time.time()
            plane.start_schedulers(args.schedulers)
            while watch.count() == 0 and time.time() < t_schedulers + args.timeout:
                time.sleep(0.01)
            meter.start()  # from the first binding: the schedulers' start-up is not their rate
        deadline = time.monotonic() + args.timeout
        while watch.count() < len(created) and time.monotonic() < deadline:
            time.sleep(0.05)
        with watch.lock:
            bound = dict(watch.bound)
        t_end = max((t for t, _ in bound.values()), default=time.time())
        t_first = min((t for t, _ in bound.values()), default=t_end)
        t_from = t_first if args.backlog else t_start
        cpu = meter.stop(max(t_end - t_from, 1e-6))
        latencies = [(bound[n][0] - max(t0, t_schedulers if args.backlog else t0)) * 1000
                     for n, t0 in created.items() if n in bound]  # fmt: skip
        elapsed = t_end - t_from
        figures = {
            "context": {**_context(args, redis_desc, admin, startup), "settle_seconds": round(settled, 1)},
            "created": len(created),
            "create_errors": errors,
            "create_seconds": round(t_created - t_start, 3),
            "create_per_s": round(len(created) / max(t_created - t_start, 1e-6), 1),
            "bound": len(bound),
            "seconds": round(elapsed, 3),
            "pods_per_s": round(len(bound) / elapsed, 1) if elapsed > 0 else 0.0,
            "latencies_ms": latencies,
            "p50_ms": round(percentile(latencies, 50), 1),
            "p99_ms": round(percentile(latencies, 99), 1),
            "max_ms": round(max(latencies, default=0.0), 1),
            "cpu_percent": {k: round(v, 1) for k, v in cpu.items()},
            "quality": quality(client, args.variant),
        }
        if args.backlog:
            figures["scheduler_start_to_first_bound_seconds"] = round(t_first - t_schedulers, 3)
    return figures


def _context(args: argparse.Namespace, redis_desc: str, admin: redis.Redis, startup: float) -> dict[str, Any]:
    return {
        **machine_facts(),
        "redis": f"{redis_desc}, version {admin.info('server').get('redis_version', '?')}",
        "nodes": args.nodes,
        "pods": args.pods,
        "variant": args.variant,
        "schedulers": args.schedulers,
        "creators": args.creators,
        "apiserver_workers": args.workers,
        "lease_seconds": args.lease_seconds,
        "pods_started": not args.no_pod_start,
        "backlog": args.backlog,
        "node_startup_seconds": round(startup, 1),
        "pod_requests": {"cpu": CPU_REQUEST, "memory": MEMORY_REQUEST},
    }


def render(f: dict[str, Any]) -> str:
    c, q = f["context"], f["quality"]
    cpu = f["cpu_percent"]
    cpu_line = ", ".join(f"{k} {v:.0f}" for k, v in cpu.items())
    zones = " ".join(f"{z}={n}" for z, n in q["pods_per_zone"].items())
    span, waited = "first create -> last bound", "create->bound"
    if c.get("backlog"):
        span = (
            f"every pod pending first; first -> last binding, the scheduler started "
            f"{f['scheduler_start_to_first_bound_seconds']:.1f} s before its first"
        )
        waited = "start->bound"
    rows = [
        ("pods created", f"{f['created']} in {f['create_seconds']:.1f} s ({f['create_per_s']:.0f}/s), "
         f"{f['create_errors']} errors"),
        ("pods bound", f"{f['bound']} / {f['created']}"),
        ("throughput", f"{f['pods_per_s']:.1f} pods/s ({span}, {f['seconds']:.1f} s)"),
        (waited, f"p50 {f['p50_ms']:.0f} ms, p99 {f['p99_ms']:.0f} ms, max {f['max_ms']:.0f} ms"),
        ("pods per node", f"max {q['max_pods_per_node']}, min {q['min_pods_per_node']}, "
         f"{q['nodes_used']} nodes used"),
        ("pods per zone", f"{zones} (skew {q['zone_skew']})"),
        ("over-committed", f"{len(q['overcommitted_nodes'])} nodes"
         + (" ERROR" if q["overcommitted_nodes"] else "")),
        ("anti-affinity", f"{q['anti_affinity_violations']} violations"),
        ("cpu % of a core", cpu_line),
        ("peer (cited)", f"kube-scheduler scheduler_perf at 5,000 nodes: about {KUBE_SCHEDULER_PODS_PER_S:.0f} "
         f"pods/s; kubeq/kube-scheduler = {f['pods_per_s'] / KUBE_SCHEDULER_PODS_PER_S:.2f}"),
    ]  # fmt: skip
    head = [
        f"kubeq scheduler benchmark: {c['nodes']} hollow nodes, {c['pods']} pods, variant {c['variant']}, "
        f"{c['schedulers']} scheduler worker(s)",
        machine_line(c),
        f"{c['redis']}; apiserver {c['apiserver_workers']} workers; {c['creators']} creator threads; "
        f"nodes registered in {c['node_startup_seconds']} s and the controller-manager's start-up work "
        f"drained in {c.get('settle_seconds', '?')} s (neither counted); hollow nodes "
        + ("move bound pods to Running" if c.get("pods_started", True) else "leave bound pods Pending"),
    ]
    return "\n".join(head + [f"  {k:<16} {v}" for k, v in rows])


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the processes on the way out
    figures = benchmark(args)
    print(render(figures), flush=True)
    latencies = figures.pop("latencies_ms")
    name = f"scheduler-{args.nodes}n-{args.pods}p-{args.variant}"
    report.save(name, figures, {"create -> bound": latencies}, args.output, f"{name}: create -> bound")
    q = figures["quality"]
    return 1 if q["overcommitted_nodes"] or q["anti_affinity_violations"] else 0


if __name__ == "__main__":
    sys.exit(main())
