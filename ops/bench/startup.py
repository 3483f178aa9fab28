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
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from cluster import trace
from cluster.api.resources import lookup
from cluster.client import Client
from cluster.store.embedded import free_port
from ops.bench import report
from ops.bench.ceiling import celery_round_trips, run_ceiling_worker
from ops.bench.controlplane import settle
from ops.bench.harness import CpuMeter, children_of, machine_facts
from ops.bench.servers import ROOT, apiserver, component_env, open_redis, redis_cpu
from ops.bench.startup_pods import Churn, RunningWatch, create_paced, delete_all
from ops.bench.startup_report import header, marks_per_pod, render, requests_per_pod, summarize, timeline
from ops.bench.workload import request_totals
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
NODES = lookup("", "v1", "nodes")


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


# ---- the cluster ---------------------------------------------------------------------------------
@contextmanager
def components(
    env: dict[str, str], data: Path, nodes: list[str], max_pods: int, log: Any
) -> Iterator[dict[str, subprocess.Popen[bytes]]]:
    """controller-manager, scheduler and the real nodes; yields {name: process}; stops them, their runtime
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
        yield procs


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
        redis_url, redis_desc, admin = open_redis(stack, args.redis_url, prefix)
        base_url, api_pid = stack.enter_context(apiserver(redis_url, prefix, args.workers))
        env = component_env(
            redis_url,
            prefix,
            base_url,
            KUBEQ_DATA_DIR=str(data),
            KUBEQ_PROXY_MODE="userspace",
            KUBEQ_TRACE="1",
        )
        print(f"  process output: {log_path}", file=sys.stderr, flush=True)
        began = time.monotonic()
        procs = stack.enter_context(components(env, data, nodes, count + 10, log))
        client = Client(base_url, user_agent="kubeq-bench")
        _wait_nodes_ready(client, nodes)
        print(f"  2 nodes Ready in {time.monotonic() - began:.1f} s", file=sys.stderr, flush=True)
        # steady state, as Kubernetes' startup SLO is measured: the controller-manager's start-up
        # resync is not part of the run
        settled = settle(admin, env, procs["controller-manager"], 120.0)
        print(f"  controller-manager start-up work drained in {settled:.1f} s", file=sys.stderr, flush=True)
        ceiling = celery_round_trips(env, args.ceiling_seconds, log)
        client.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
        watch = RunningWatch(base_url, namespace)
        stack.callback(watch.stop.set)
        meter = CpuMeter(
            {
                "apiserver": lambda: children_of(api_pid),
                "controller-manager": lambda: children_of(procs["controller-manager"].pid),
                "scheduler": lambda: [procs["scheduler"].pid],
                "nodes": lambda: [p.pid for name, p in procs.items() if name.startswith("node ")],
            },
            {"redis": redis_cpu(admin)},
        )
        print(f"  creating {count} pods at {args.rate:g}/s", file=sys.stderr, flush=True)
        requests_before = request_totals(base_url)
        meter.start()
        t0 = time.time()
        churn = Churn(base_url, namespace, watch, args.lifetime)
        stack.callback(churn.stop.set)
        made = create_paced(base_url, namespace, args.rate, count)
        deadline = time.monotonic() + args.timeout
        while watch.count() < len(made) and time.monotonic() < deadline:
            time.sleep(0.05)
        cpu = meter.stop(max(time.time() - t0, 1e-6))
        requests_after = request_totals(base_url)
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
        figures["requests_per_pod"] = requests_per_pod(requests_before, requests_after, len(made))
        figures["context"] = {
            **machine_facts(),
            "redis": f"{redis_desc}, version {admin.info('server').get('redis_version', '?')}",
            "nodes": nodes,
            "apiserver_workers": args.workers,
            "controller_manager_settle_seconds": round(settled, 1),
        }
    startup = [(p["running"] - p["sent"]) * 1000 for p in made.values() if "running" in p]
    return figures, {"create -> Running (watch)": startup, "Celery round trip (no-op task)": ceiling}


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
