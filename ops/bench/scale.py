"""Scale benchmark: ``python -m ops.bench.scale [--nodes N] [--pods M] [--burst K] [--redis-url URL]``.

Fills the store with ``N`` nodes and ``M`` running pods (owned by ReplicaSets of ``--pods-per-rs``,
in namespaces of ``--pods-per-namespace``), then measures, against real processes:

- Redis memory: ``INFO memory`` used_memory before and after, per node and per pod;
- LIST of every pod through a real ``kubeq apiserver``, paginated as kubectl and client-go do
  (``limit=500`` and continue tokens), and one unpaginated LIST; each page parsed by the client
  (orjson, with Python's cyclic collector paused while it parses) and the server's share (request to
  last byte) shown apart; beside the ceiling: the same pages read through ``Registry.list`` as the
  API reads them for JSON (raw stored JSON, not parsed) in this process, no HTTP, no encode;
- a full resync: ``kubeq.resync`` for every pod-watching controller of a real ``kubeq
  controller-manager``, timed until its work queue holds no queued, running or dirty key of them;
- the dispatcher's events/s: ``--burst`` pod updates written straight to the store, timed until
  the controller-manager's dispatcher group has read and acknowledged all of them; beside the
  ceiling: the same entries read and acknowledged through ``Store.consume`` with no mapping.

Objects are what the API would store: namespaces and ReplicaSets are created through
``cluster.registry.Registry``; one pod and one node are admitted there as dry runs (defaulted,
validated), given the status a kubelet writes, and copied (name, uid, labels, owner, node, IPs
changed) with ``Store.create`` from ``--loaders`` processes (the registry admits ~1,300 pods/s per
process, the store's Lua create ~6,000). Nodes have no Leases or heartbeats; the node lifecycle
grace period is set to a day so that nothing is evicted. The dispatcher's consumer group is created
at the end of the loaded streams, as in a cluster that has been running, so it does not replay the
load. The controller-manager's own start-up resync is let drain before anything is timed.
``--profile`` adds py-spy profiles (collapsed stacks under ``ops/bench/results/``, shares printed)
of the API server during one more paginated LIST and of the controller-manager during a second
burst. Everything started is stopped at the end; with ``--redis-url`` the run's keys are removed.
"""

from __future__ import annotations

import argparse
import copy
import gc
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import redis

from cluster import jsoncodec
from cluster.api.resources import lookup
from cluster.client import Client as KubeqClient
from cluster.registry.admission import WriteOptions
from cluster.registry.registry import ListQuery, Registry
from cluster.store import Store
from ops.bench import report
from ops.bench.api import ROOT, _drop_prefix, apiserver, redis_server
from ops.bench.controlplane import WorkQueueProbe, celery_app, settle
from ops.bench.harness import machine_facts, percentile
from ops.bench.workload import Client as HttpClient
from workers import gctuning
from workers.local_cluster import stop_process

RESULTS = Path(__file__).resolve().parent / "results"
PODS = lookup("", "v1", "pods")
NODES = lookup("", "v1", "nodes")
NAMESPACES = lookup("", "v1", "namespaces")
REPLICASETS = lookup("apps", "v1", "replicasets")
GROUP = "kubeq-dispatch"  # workers.dispatcher.GROUP (not imported: it pulls in the worker stack)
LIST_TARGET_S = 3.0
QUICK: tuple[str, ...] = ("--nodes", "100", "--pods", "1500", "--burst", "1500", "--list-repeats", "1")
FULL: tuple[str, ...] = ("--nodes", "5000", "--pods", "150000", "--burst", "20000")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m ops.bench.scale", description=__doc__.split("\n")[0])
    p.add_argument("--nodes", type=int, default=5000, help="nodes in the store (default 5000)")
    p.add_argument("--pods", type=int, default=150000, help="running pods in the store (default 150000)")
    p.add_argument("--pods-per-rs", type=int, default=100, help="pods per ReplicaSet (default 100)")
    p.add_argument("--pods-per-namespace", type=int, default=1000, help="pods per namespace (1000)")
    p.add_argument("--burst", type=int, default=20000, help="pod updates for the dispatcher (20000)")
    p.add_argument("--page-limit", type=int, default=500, help="LIST page size (default 500)")
    p.add_argument("--list-repeats", type=int, default=3, help="paginated LISTs to time (default 3)")
    p.add_argument("--loaders", type=int, default=max(2, os.cpu_count() or 2), help="writer processes")
    p.add_argument("--workers", type=int, default=2, help="API server worker processes (default 2)")
    p.add_argument(
        "--list-only",
        action="store_true",
        help="load and time the LISTs only (no "
        "controller-manager: skips the full resync and the dispatcher burst)",
    )
    p.add_argument("--profile", action="store_true", help="py-spy the API server during one more "
                   "paginated LIST; writes the collapsed stacks and prints where the time goes")  # fmt: skip
    p.add_argument("--timeout", type=float, default=600.0, help="give up waiting for a drain after (s)")
    p.add_argument("--redis-url", help="benchmark on this Redis instead of an embedded one")
    p.add_argument("--log", help="controller-manager output (default ops/bench/results/scale-processes.log)")
    p.add_argument("--output", help="JSON file to write (default ops/bench/results/scale-<time>.json)")
    return p


# ---- objects ----------------------------------------------------------------------------------
def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def templates(registry: Registry, namespace: str) -> dict[str, dict[str, Any]]:
    """One admitted (defaulted, validated; dry-run) pod and node, with the status a kubelet writes."""
    dry = WriteOptions(dry_run=True)
    pod = registry.create(
        PODS,
        namespace,
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "t", "namespace": namespace, "labels": {"app": "t"}},
            "spec": {
                "nodeName": "t",
                "containers": [
                    {
                        "name": "app",
                        "image": "registry.k8s.io/pause:3.9",
                        "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
                    }
                ],
            },
        },
        dry,
    )
    now = _now()
    ready = [{"type": t, "status": "True", "lastTransitionTime": now} for t in
             ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled")]  # fmt: skip
    pod["status"] = {
        "phase": "Running",
        "conditions": ready,
        "hostIP": "10.0.0.1",
        "podIP": "10.244.0.1",
        "podIPs": [{"ip": "10.244.0.1"}],
        "startTime": now,
        "qosClass": pod.get("status", {}).get("qosClass", "Burstable"),
        "containerStatuses": [
            {
                "name": "app",
                "ready": True,
                "started": True,
                "restartCount": 0,
                "image": "registry.k8s.io/pause:3.9",
                "imageID": "registry.k8s.io/pause@sha256:" + "0" * 64,
                "containerID": "kubeq://" + "0" * 32,
                "state": {"running": {"startedAt": now}},
            }
        ],
    }
    node = registry.create(
        NODES,
        None,
        {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": "t", "labels": {"kubernetes.io/os": "linux"}},
            "spec": {"podCIDR": "10.244.0.0/24"},
        },
        dry,
    )
    node["status"] = {
        "capacity": {"cpu": "32", "memory": "256Gi", "pods": "110"},
        "allocatable": {"cpu": "32", "memory": "256Gi", "pods": "110"},
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "reason": "KubeletReady",
                "lastHeartbeatTime": now,
                "lastTransitionTime": now,
            }
        ],  # fmt: skip
        "addresses": [{"type": "InternalIP", "address": "10.0.0.1"}],
        "nodeInfo": {"kubeletVersion": "v1.32.0-kubeq", "operatingSystem": "linux", "architecture": "amd64"},
    }
    return {"pod": pod, "node": node}


def _node(template: dict[str, Any], i: int) -> tuple[str, dict[str, Any]]:
    obj = copy.deepcopy(template)
    name = f"scale-node-{i}"
    md = obj["metadata"]
    md.update(name=name, uid=str(uuid.uuid4()), creationTimestamp=_now())
    md["labels"] = {**md.get("labels", {}), "kubernetes.io/hostname": name,
                    "topology.kubernetes.io/zone": f"zone-{i % 3}"}  # fmt: skip
    obj["spec"]["podCIDR"] = f"10.{64 + i // 256}.{i % 256}.0/24"
    obj["status"]["addresses"] = [{"type": "InternalIP", "address": f"10.1.{i // 256}.{i % 256}"}]
    return name, obj


def _pod(template: dict[str, Any], i: int, layout: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Pod ``i``: ReplicaSet ``i // pods_per_rs``, its namespace, node ``i % nodes``."""
    obj = copy.deepcopy(template)
    rs = i // layout["pods_per_rs"]
    namespace = f"scale-{i // layout['pods_per_namespace']}"
    name = f"web-{rs}-{i % layout['pods_per_rs']}"
    md = obj["metadata"]
    md.update(name=name, namespace=namespace, uid=str(uuid.uuid4()), creationTimestamp=_now())
    md["labels"] = {"app": f"web-{rs}"}
    owner = layout["owners"][rs]
    md["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": f"web-{rs}",
                              "uid": owner, "controller": True, "blockOwnerDeletion": True}]  # fmt: skip
    obj["spec"]["nodeName"] = f"scale-node-{i % layout['nodes']}"
    ip = f"10.{128 + i // 65536}.{i // 256 % 256}.{i % 256}"
    obj["status"].update(podIP=ip, podIPs=[{"ip": ip}])
    return f"{namespace}/{name}", obj


def _load_range(
    redis_url: str, prefix: str, kind: str, start: int, stop: int, template: dict[str, Any], layout: dict
) -> int:
    """Write objects ``start..stop`` of ``kind`` (a loader process's share); returns how many."""
    store = Store.from_url(redis_url, prefix)
    for i in range(start, stop):
        if kind == "nodes":
            key, obj = _node(template, i)
        else:
            key, obj = _pod(template, i, layout)
        store.create(kind, key, obj)
    store.client.close()
    return stop - start


def _update_range(redis_url: str, prefix: str, keys: list[str], tag: str) -> int:
    """One annotation changed on each pod of ``keys`` (CAS on the stored version); returns count."""
    store = Store.from_url(redis_url, prefix)
    for key in keys:
        obj = store.get("pods", key)
        obj["metadata"].setdefault("annotations", {})["kubeq.bench/burst"] = tag
        store.update("pods", key, obj, int(obj["metadata"]["resourceVersion"]))
    store.client.close()
    return len(keys)


def _parallel(pool: ProcessPoolExecutor, loaders: int, total: int, fn: Any, *args: Any) -> float:
    """Run ``fn(*args, start, stop, ...)`` over ``total`` items in ``loaders`` shares; seconds taken."""
    t0 = time.perf_counter()
    step = -(-total // loaders)
    futures = [pool.submit(fn, *args[:3], s, min(s + step, total), *args[3:]) for s in range(0, total, step)]
    for f in futures:
        f.result()
    return time.perf_counter() - t0


def load(args: argparse.Namespace, redis_url: str, prefix: str, pool: ProcessPoolExecutor) -> dict[str, Any]:
    """Namespaces and ReplicaSets through the registry; nodes and pods by the loader processes."""
    store = Store.from_url(redis_url, prefix)
    registry = Registry(store)
    namespaces = -(-args.pods // args.pods_per_namespace)
    for n in range(max(namespaces, 1)):
        registry.create(NAMESPACES, None, {"metadata": {"name": f"scale-{n}"}}, WriteOptions())
    owners = []
    for r in range(-(-args.pods // args.pods_per_rs)):
        ns = f"scale-{r * args.pods_per_rs // args.pods_per_namespace}"
        replicas = min(args.pods_per_rs, args.pods - r * args.pods_per_rs)
        labels = {"app": f"web-{r}"}
        rs = {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {"name": f"web-{r}", "namespace": ns, "labels": labels},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {"containers": [{"name": "app", "image": "registry.k8s.io/pause:3.9"}]},
                },  # fmt: skip
            },
        }
        owners.append(registry.create(REPLICASETS, ns, rs, WriteOptions())["metadata"]["uid"])
    t = templates(registry, "scale-0")
    layout = {"nodes": args.nodes, "pods_per_rs": args.pods_per_rs,
              "pods_per_namespace": args.pods_per_namespace, "owners": owners}  # fmt: skip
    mem0 = _used_memory(store.client)
    node_s = _parallel(
        pool, args.loaders, args.nodes, _load_range, redis_url, prefix, "nodes", t["node"], layout
    )
    mem1 = _used_memory(store.client)
    pod_s = _parallel(pool, args.loaders, args.pods, _load_range, redis_url, prefix, "pods", t["pod"], layout)
    mem2 = _used_memory(store.client)
    one = store.get("pods", "scale-0/web-0-0")
    keys = store.keys("pods")
    stream_bytes = store.client.memory_usage(keys.stream) or 0
    hash_bytes = store.client.memory_usage(keys.objects) or 0
    store.client.close()
    return {
        "namespaces": namespaces,
        "replicasets": len(owners),
        "node_load_seconds": round(node_s, 2),
        "nodes_per_s": round(args.nodes / node_s, 1) if node_s else 0.0,
        "pod_load_seconds": round(pod_s, 2),
        "pods_per_s": round(args.pods / pod_s, 1) if pod_s else 0.0,
        "pod_json_bytes": len(json.dumps(one, separators=(",", ":"))),
        "memory": {
            "used_before_bytes": mem0,
            "used_after_nodes_bytes": mem1,
            "used_after_pods_bytes": mem2,
            "per_node_bytes": round((mem1 - mem0) / max(args.nodes, 1)),
            "per_pod_bytes": round((mem2 - mem1) / max(args.pods, 1)),
            "pods_hash_bytes_sampled": hash_bytes,
            "pods_stream_bytes_sampled": stream_bytes,
        },
    }


def _used_memory(client: redis.Redis) -> int:
    return int(client.info("memory")["used_memory"])


# ---- LIST --------------------------------------------------------------------------------------
@contextmanager
def gc_paused() -> Iterator[None]:
    """Python's cyclic collector off while a client parses a page it just received.

    Parsing a 1.3 MB page allocates ~100k containers, which runs the collector over everything the
    client holds many times per page: 17 ms a page with it, 6 ms without (orjson, 500 pods). The
    objects of a page hold no cycles, so a careful Python client parses them this way; the server's
    work is the same either way.
    """
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def list_pages(base_url: str, limit: int) -> tuple[float, list[float], int, int, float]:
    """Every pod through the API in pages of ``limit``: (seconds, page ms, items, bytes, seconds spent
    waiting on the server). A page's time runs from its request to its parsed body; the server's part
    ends when the body's last byte has arrived."""
    http = HttpClient(base_url, timeout=300)
    pages: list[float] = []
    items = size = 0
    served = 0.0
    token = ""
    t0 = time.perf_counter()
    while True:
        path = f"/api/v1/pods?limit={limit}" + (f"&continue={token}" if token else "")
        t = time.perf_counter()
        status, body = http.call("GET", path)
        served += time.perf_counter() - t
        if status != 200:
            raise RuntimeError(f"GET {path}: {status} {body[:300]!r}")
        with gc_paused():
            page = jsoncodec.loads(body)  # orjson, as a fast client would
        pages.append((time.perf_counter() - t) * 1000)
        items += len(page["items"])
        size += len(body)
        token = page["metadata"].get("continue") or ""
        if not token:
            break
    http.close()
    return time.perf_counter() - t0, pages, items, size, served


def list_client(base_url: str, limit: int) -> tuple[float, int]:
    """Every pod through kubeq's own client (``Client.list_pages``: the next page is requested before
    this one is decoded), with the collector set as every kubeq process sets it: (seconds, items)."""
    client = KubeqClient(base_url, timeout=300)
    before = gc.get_threshold()
    gctuning.tune()
    try:
        t0 = time.perf_counter()
        items = sum(len(page["items"]) for page in client.list_pages(PODS, page_size=limit))
        return time.perf_counter() - t0, items
    finally:
        gc.set_threshold(*before)


def list_whole(base_url: str) -> tuple[float, int, int]:
    """One unpaginated LIST of every pod: (seconds, items, bytes)."""
    http = HttpClient(base_url, timeout=300)
    t0 = time.perf_counter()
    status, body = http.call("GET", "/api/v1/pods")
    if status != 200:
        raise RuntimeError(f"GET /api/v1/pods: {status} {body[:300]!r}")
    with gc_paused():
        items = len(jsoncodec.loads(body)["items"])
    seconds = time.perf_counter() - t0
    http.close()
    return seconds, items, len(body)


def list_store(redis_url: str, prefix: str, limit: int) -> tuple[float, int]:
    """The ceiling: every pod in pages of ``limit`` through the registry's store list, no HTTP."""
    registry = Registry(Store.from_url(redis_url, prefix))
    items = 0
    token: str | None = None
    t0 = time.perf_counter()
    while True:
        page = registry.list(PODS, None, ListQuery(limit=limit, continue_token=token or ""), raw=True)
        items += len(page["items"])
        token = page["metadata"].get("continue") or None
        if not token:
            break
    seconds = time.perf_counter() - t0
    registry.store.client.close()
    return seconds, items


# ---- controller-manager ----------------------------------------------------------------------
def start_dispatch_at_end(store: Store) -> list[str]:
    """Create the dispatcher's group at the end of every existing stream (a cluster already running)."""
    made = []
    for stream in store.client.scan_iter(match=f"{store.prefix}:stream:*", count=1000):
        try:
            store.client.xgroup_create(stream, GROUP, id="$")
            made.append(stream)
        except redis.ResponseError as err:
            if "BUSYGROUP" not in str(err):
                raise
    return made


@contextmanager
def controller_manager(env: dict[str, str], log_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A ``kubeq controller-manager`` process (dispatcher + controllers worker), output to ``log_path``."""
    with open(log_path, "ab") as log:
        cmd = [sys.executable, "-m", "workers.cli", "controller-manager"]
        proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        try:
            yield proc
        finally:
            stop_process(proc)


def pod_controllers() -> list[str]:
    """The controllers-queue controllers that watch pods (what a pod resync concerns)."""
    from tasks.runtime.registry import controllers

    return sorted(
        name
        for name, ctl in controllers().items()
        if ctl.queue == "controllers" and any(w.resource == "pods" for w in ctl.watches)
    )


_RESYNC_LINE = re.compile(rb"resync (\S+): (\d+) keys, (\d+) queued")


def resync(
    env: dict[str, str], probe: WorkQueueProbe, log_path: Path, proc: subprocess.Popen[bytes], timeout: float
) -> dict[str, Any]:
    """Send ``kubeq.resync`` for each pod controller; time until each reported and the queue drained."""
    app = celery_app(env)
    offset = log_path.stat().st_size
    t0 = time.perf_counter()
    for name in probe.controllers:
        app.send_task("kubeq.resync", kwargs={"controller": name})
    keys: dict[str, int] = {}
    deadline = time.monotonic() + timeout
    while len(keys) < len(probe.controllers):
        if time.monotonic() > deadline or proc.poll() is not None:
            raise RuntimeError(f"resync did not report for {set(probe.controllers) - set(keys)}")
        with open(log_path, "rb") as handle:
            handle.seek(offset)
            for m in _RESYNC_LINE.finditer(handle.read()):
                if m.group(1).decode() in probe.controllers:
                    keys[m.group(1).decode()] = int(m.group(2))
        time.sleep(0.05)
    queued_at = time.perf_counter()
    drained_at = probe.wait_drained(timeout, proc)
    app.close()
    total = max(drained_at - t0, 1e-6)
    return {
        "controllers": probe.controllers,
        "keys": keys,
        "keys_total": sum(keys.values()),
        "queued_seconds": round(queued_at - t0, 3),
        "seconds": round(total, 3),
        "keys_per_s": round(sum(keys.values()) / total, 1),
    }


# ---- dispatcher --------------------------------------------------------------------------------
def _group_position(client: redis.Redis, stream: str, group: str) -> tuple[int, int]:
    """(revision of the last entry handed out, entries pending) of ``group`` on ``stream``."""
    for g in client.xinfo_groups(stream):
        if g["name"] == group:
            return int(str(g["last-delivered-id"]).split("-")[0]), int(g["pending"])
    return 0, 0


def dispatch_burst(
    args: argparse.Namespace, redis_url: str, prefix: str, pool: ProcessPoolExecutor, probe: WorkQueueProbe,
    proc: subprocess.Popen[bytes],
) -> dict[str, Any]:  # fmt: skip
    """``--burst`` pod updates; time until the dispatcher read and acknowledged them, and the ceiling."""
    store = Store.from_url(redis_url, prefix)
    stream = store.keys("pods").stream
    start_rev = store.current_revision()
    ceiling_group = f"bench-ceiling-{uuid.uuid4().hex[:6]}"
    store.client.xgroup_create(stream, ceiling_group, id=f"{start_rev}-0")
    tag = uuid.uuid4().hex[:8]
    keys = [_pod_key(i % args.pods, args) for i in range(args.burst)]
    step = -(-len(keys) // args.loaders)
    t0 = time.perf_counter()
    futures = [pool.submit(_update_range, redis_url, prefix, keys[s : s + step], tag)
               for s in range(0, len(keys), step)]  # fmt: skip
    for f in futures:
        f.result()
    t_written = time.perf_counter()
    end_rev = store.current_revision()
    samples: list[tuple[float, int]] = []
    deadline = time.monotonic() + args.timeout
    while True:
        delivered, pending = _group_position(store.client, stream, GROUP)
        samples.append((time.perf_counter(), delivered))
        if delivered >= end_rev and pending == 0:
            break
        if time.monotonic() > deadline or proc.poll() is not None:
            raise RuntimeError(f"the dispatcher stopped at revision {delivered} of {end_rev}")
        time.sleep(0.02)
    t_done = time.perf_counter()
    drained_at = probe.wait_drained(args.timeout, proc)
    ceiling_s, ceiling_n = _consume_ceiling(store, ceiling_group, args.burst)
    store.client.xgroup_destroy(stream, ceiling_group)
    store.client.close()
    events = end_rev - start_rev
    total = t_done - t0
    return {
        "updates": events,
        "write_seconds": round(t_written - t0, 3),
        "writes_per_s": round(events / max(t_written - t0, 1e-6), 1),
        "dispatch_seconds": round(total, 3),
        "events_per_s": round(events / max(total, 1e-6), 1),
        "lag_after_writes": max(0, end_rev - _delivered_at(samples, t_written)),
        "syncs_drained_seconds": round(max(drained_at - t0, total), 3),
        "ceiling_events": ceiling_n,
        "ceiling_seconds": round(ceiling_s, 3),
        "ceiling_events_per_s": round(ceiling_n / max(ceiling_s, 1e-6), 1),
    }


def _pod_key(i: int, args: argparse.Namespace) -> str:
    rs = i // args.pods_per_rs
    return f"scale-{i // args.pods_per_namespace}/web-{rs}-{i % args.pods_per_rs}"


def _delivered_at(samples: list[tuple[float, int]], when: float) -> int:
    before = [d for t, d in samples if t <= when]
    return before[-1] if before else (samples[0][1] if samples else 0)


def _consume_ceiling(store: Store, group: str, expect: int) -> tuple[float, int]:
    """The same entries through ``Store.consume`` + ``ack`` (decode, no mapping, no enqueue)."""
    got = 0
    t0 = time.perf_counter()
    while got < expect:
        batch = store.consume(group, "ceiling", ["pods"], count=500, block_ms=0)
        if not batch:
            break
        store.ack(group, batch)
        got += len(batch)
    return time.perf_counter() - t0, got


# ---- the run -----------------------------------------------------------------------------------
def benchmark(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, list[float]]]:
    """Load, measure, stop everything; returns (figures, latencies for the chart)."""
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    broker_prefix = f"{prefix}-broker:"
    log_path = Path(args.log or RESULTS / "scale-processes.log")
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log_path.write_bytes(b"")
    with ExitStack() as stack:
        redis_url, redis_desc = stack.enter_context(redis_server(args.redis_url))
        admin = redis.Redis.from_url(redis_url, decode_responses=True)
        stack.callback(admin.close)
        if args.redis_url:
            stack.callback(_drop_prefix, admin, broker_prefix)
            stack.callback(_drop_prefix, admin, prefix + ":")
        context = _context(args, redis_desc, admin.info("server").get("redis_version", "?"))
        print(_header(context), flush=True)
        pool = stack.enter_context(ProcessPoolExecutor(args.loaders))
        loaded = load(args, redis_url, prefix, pool)
        _progress(f"loaded {args.nodes} nodes, {args.pods} pods in {loaded['pod_load_seconds']:.1f} s")
        store = Store.from_url(redis_url, prefix)
        stack.callback(store.client.close)
        start_dispatch_at_end(store)
        base_url, api_pid = stack.enter_context(apiserver(redis_url, prefix, args.workers))
        env = dict(
            os.environ,
            PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
            KUBEQ_REDIS_URL=redis_url,
            KUBEQ_STATE_PREFIX=prefix,
            KUBEQ_SERVER=base_url,
            KUBEQ_BROKER_PREFIX=broker_prefix,
            KUBEQ_NODE_MONITOR_GRACE_PERIOD="86400",  # nodes have no Leases here: never call them lost
        )
        if args.list_only:
            listing = measure_lists(args, base_url, redis_url, prefix)
            _progress(f"LIST done: {listing['paginated_seconds']} s paginated")
            context["memory_after_run_bytes"] = _used_memory(admin)
            figures = {"context": context, "load": loaded, "list": listing, "resync": None, "dispatch": None}
            pages = listing.pop("page_ms")
            return figures, {f"LIST page (limit={args.page_limit})": pages}
        cm = stack.enter_context(controller_manager(env, log_path))
        probe = WorkQueueProbe(admin, broker_prefix, pod_controllers())
        _progress(f"controller-manager output in {log_path}")
        # the start-up resync of every controller (node lifecycle's 5,000 nodes too): LIST is timed
        # on an idle cluster
        settle(admin, env, cm, args.timeout)
        listing = measure_lists(args, base_url, redis_url, prefix)
        _progress(f"LIST done: {listing['paginated_seconds']} s paginated")
        if args.profile:
            out = _profile_path("list")
            got = spy(api_pid, out, lambda: list_pages(base_url, args.page_limit))
            listing["profile"] = {**got, **stack_shares(out, API_PARTS)} if "error" not in got else got
        probe.wait_drained(args.timeout, cm)
        resynced = resync(env, probe, log_path, cm, args.timeout)
        _progress(f"resync done in {resynced['seconds']} s")
        burst = dispatch_burst(args, redis_url, prefix, pool, probe, cm)
        if args.profile:
            out = _profile_path("dispatch")
            again: dict[str, Any] = {}
            got = spy(
                cm.pid, out, lambda: again.update(dispatch_burst(args, redis_url, prefix, pool, probe, cm))
            )
            burst["profile"] = {
                **got,
                **stack_shares(out, CM_PARTS),
                "events_per_s": again.get("events_per_s"),
            }
        context["memory_after_run_bytes"] = _used_memory(admin)
    figures = {"context": context, "load": loaded, "list": listing, "resync": resynced, "dispatch": burst}
    pages = listing.pop("page_ms")
    return figures, {f"LIST page (limit={args.page_limit})": pages,
                     "unpaginated LIST": listing["unpaginated_ms"]}  # fmt: skip


def measure_lists(args: argparse.Namespace, base_url: str, redis_url: str, prefix: str) -> dict[str, Any]:
    """Paginated LISTs (``--list-repeats``), one unpaginated, and the store ceiling."""
    runs = [list_pages(base_url, args.page_limit) for _ in range(max(args.list_repeats, 1))]
    client_runs = [list_client(base_url, args.page_limit) for _ in range(max(args.list_repeats, 1))]
    whole_s, whole_items, whole_bytes = list_whole(base_url)
    store_s, store_items = list_store(redis_url, prefix, args.page_limit)
    totals = [r[0] for r in runs]
    pages = [ms for r in runs for ms in r[1]]
    best = min(totals)
    return {
        "paginated_seconds": round(best, 3),
        "paginated_served_seconds": round(runs[totals.index(best)][4], 3),
        "paginated_seconds_each": [round(t, 3) for t in totals],
        "client_seconds": round(min(t for t, _ in client_runs), 3),
        "client_seconds_each": [round(t, 3) for t, _ in client_runs],
        "client_items": client_runs[0][1],
        "pages": len(runs[0][1]),
        "items": runs[0][2],
        "bytes": runs[0][3],
        "page_p50_ms": round(percentile(pages, 50), 1),
        "page_p99_ms": round(percentile(pages, 99), 1),
        "unpaginated_seconds": round(whole_s, 3),
        "unpaginated_items": whole_items,
        "unpaginated_bytes": whole_bytes,
        "unpaginated_ms": [whole_s * 1000],
        "store_ceiling_seconds": round(store_s, 3),
        "store_ceiling_items": store_items,
        "target_seconds": LIST_TARGET_S,
        "page_ms": pages,
    }


def spy(pid: int, out: Path, during: Any) -> dict[str, Any]:
    """Run ``during()`` under py-spy (``--subprocesses``, collapsed stacks to ``out``) on ``pid``;
    returns {"stacks": out, "seconds": how long ``during`` took} or {"error": ...}."""
    exe = Path(sys.executable).with_name("py-spy")
    cmd = [str(exe), "record", "--pid", str(pid), "--subprocesses", "--format", "raw", "--rate", "200",
           "--output", str(out), "--nonblocking"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(1.0)  # py-spy attaches
    if proc.poll() is not None:
        return {"error": (proc.stderr.read() if proc.stderr else b"").decode(errors="replace")[-300:]}
    t0 = time.perf_counter()
    try:
        during()
    finally:
        seconds = time.perf_counter() - t0
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return {"stacks": str(out), "seconds": round(seconds, 3)}


def _profile_path(what: str) -> Path:
    return RESULTS / f"scale-{what}-profile-{time.strftime('%Y%m%d-%H%M%S')}.txt"


API_PARTS = (  # the first part whose pattern is in a stack gets its samples
    ("json decode (orjson/json loads)", ("loads (cluster/jsoncodec.py", "json/decoder")),
    ("json encode (orjson/json dumps)", ("dumpb (cluster/jsoncodec.py", "dumps (cluster/jsoncodec.py", "json/encoder")),
    ("redis (network, RESP parse)", ("redis/",)),
    ("store listing (rest)", ("cluster/store/",)),
    ("registry (rest)", ("cluster/registry/",)),
    ("apiserver (rest: routing, response write)", ("cluster/apiserver/",)),
    ("gunicorn/gevent (sockets, loop)", ("gunicorn/", "gevent/")),
)  # fmt: skip
CM_PARTS = (  # "dispatcher: ..." parts need all their patterns in the stack
    ("dispatcher: json decode", ("dispatcher.py", "loads (cluster/jsoncodec.py")),
    ("dispatcher: work queue add (Lua, Celery send)", ("dispatcher.py", "workqueue.py")),
    ("dispatcher: redis read/ack", ("dispatcher.py", "redis/")),
    ("dispatcher: rest (mapping keys)", ("dispatcher.py",)),
    ("controller syncs (tasks/)", ("tasks/controllers", "tasks/runtime/sync")),
    ("celery/kombu worker", ("celery/", "kombu/")),
)


def stack_shares(path: Path, table: tuple[tuple[str, tuple[str, ...]], ...]) -> dict[str, Any]:
    """Share of samples per part of ``table`` (the first part matching a stack takes its samples)
    and the ten hottest innermost frames."""
    parts: dict[str, int] = {}
    leaves: dict[str, int] = {}
    total = 0
    if not path.exists():
        return {"error": f"no stacks written to {path}"}
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = stack.split(";")
        part = "other"
        for name, patterns in table:
            if _holds(stack, patterns, name.startswith("dispatcher")):
                part = name
                break
        parts[part] = parts.get(part, 0) + n
        leaves[frames[-1]] = leaves.get(frames[-1], 0) + n
    share = {k: round(100 * v / total, 1) for k, v in sorted(parts.items(), key=lambda kv: -kv[1])}
    top = sorted(leaves.items(), key=lambda kv: -kv[1])[:10]
    return {"samples": total, "share_percent": share,
            "hottest_frames": [(f, round(100 * n / max(total, 1), 1)) for f, n in top]}  # fmt: skip


def _holds(stack: str, patterns: tuple[str, ...], all_of: bool) -> bool:
    return all(p in stack for p in patterns) if all_of else any(p in stack for p in patterns)


def _progress(text: str) -> None:
    print(f"  ... {text}", file=sys.stderr, flush=True)


def _context(args: argparse.Namespace, redis_desc: str, version: str) -> dict[str, Any]:
    return {
        **machine_facts(),
        "redis": f"{redis_desc}, version {version}",
        "nodes": args.nodes,
        "pods": args.pods,
        "pods_per_replicaset": args.pods_per_rs,
        "pods_per_namespace": args.pods_per_namespace,
        "burst_updates": args.burst,
        "page_limit": args.page_limit,
        "loaders": args.loaders,
        "apiserver_workers": args.workers,
        "peer": "target LIST <= 3 s (issue 8); ceilings measured in this run: Registry.list on the store "
        "(no HTTP) for LIST, Store.consume + ack (no mapping, no enqueue) for the dispatcher",
    }


def _header(c: dict[str, Any]) -> str:
    return "\n".join(
        [
            "kubeq scale benchmark",
            f"machine: {c['cpus']} CPUs ({c['machine']}, {c['system']}), {c['python']}, "
            f"load average at start {c['load_average_at_start']}",
            f"{c['redis']}; apiserver {c['apiserver_workers']} workers; {c['loaders']} loader processes",
            f"sizes: {c['nodes']:,} nodes, {c['pods']:,} running pods ({c['pods_per_replicaset']} per "
            f"ReplicaSet, {c['pods_per_namespace']} per namespace), LIST limit={c['page_limit']}, "
            f"dispatcher burst {c['burst_updates']:,} pod updates",
            f"peer: {c['peer']}",
        ]
    )


def render(f: dict[str, Any]) -> str:
    ld, ls, rs, d = f["load"], f["list"], f["resync"], f["dispatch"]
    m = ld["memory"]
    mib = 1024 * 1024
    out = ["", "Load and Redis memory (INFO used_memory)"]
    out.append(report.table(
        ["what", "figure"],
        [
            ("nodes written", f"{f['context']['nodes']:,} in {ld['node_load_seconds']} s ({ld['nodes_per_s']:,.0f}/s)"),
            ("pods written", f"{f['context']['pods']:,} in {ld['pod_load_seconds']} s ({ld['pods_per_s']:,.0f}/s)"),
            ("used_memory before", f"{m['used_before_bytes'] / mib:,.1f} MiB"),
            ("used_memory after nodes", f"{m['used_after_nodes_bytes'] / mib:,.1f} MiB ({m['per_node_bytes']:,} B/node)"),
            ("used_memory after pods", f"{m['used_after_pods_bytes'] / mib:,.1f} MiB ({m['per_pod_bytes']:,} B/pod)"),
            ("one pod as compact JSON", f"{ld['pod_json_bytes']:,} B"),
            ("pods hash / stream", f"{m['pods_hash_bytes_sampled'] / mib:,.1f} / "
             f"{m['pods_stream_bytes_sampled'] / mib:,.1f} MiB (MEMORY USAGE, sampled)"),
        ],
    ))  # fmt: skip
    out += ["", f"LIST of every pod through the API server ({ls['items']:,} pods)"]
    out.append(report.table(
        ["measurement", "seconds", "target s", "store ceiling s", "API/ceiling", "pages", "p50 page ms", "p99 page ms", "MiB"],
        [
            (f"paginated limit={f['context']['page_limit']} (best of {len(ls['paginated_seconds_each'])})",
             ls["paginated_seconds"], ls["target_seconds"], ls["store_ceiling_seconds"],
             report.ratio(ls["paginated_seconds"], ls["store_ceiling_seconds"]), ls["pages"],
             ls["page_p50_ms"], ls["page_p99_ms"], round(ls["bytes"] / mib, 1)),
            ("  of which the server's (request to last byte)", ls.get("paginated_served_seconds"),
             ls["target_seconds"], None, None, None, None, None, None),
            ("kubeq's client, next page asked before this one is decoded", ls.get("client_seconds"),
             ls["target_seconds"], ls["store_ceiling_seconds"],
             report.ratio(ls.get("client_seconds"), ls["store_ceiling_seconds"]), None, None, None, None),
            ("unpaginated", ls["unpaginated_seconds"], ls["target_seconds"], None, None, 1, None, None,
             round(ls["unpaginated_bytes"] / mib, 1)),
        ],
    ))  # fmt: skip
    out += _profile_lines("API server during one more paginated LIST", ls.get("profile"))
    if rs is None or d is None:
        return "\n".join([*out, "", "(--list-only: no full resync, no dispatcher burst)"])
    out += ["", "Full resync of the pod controllers (kubeq.resync -> work queue drained)"]
    out.append(report.table(
        ["controllers", "keys", "queued after s", "drained after s", "keys/s"],
        [(", ".join(f"{k}={v}" for k, v in rs["keys"].items()), rs["keys_total"], rs["queued_seconds"],
          rs["seconds"], rs["keys_per_s"])],
    ))  # fmt: skip
    out += ["", "Dispatcher (pod updates written to the store -> read and acknowledged by the group)"]
    out.append(report.table(
        ["updates", "written/s", "dispatched in s", "events/s", "ceiling events/s", "dispatcher/ceiling",
         "lag at end of writes", "syncs drained s"],
        [(d["updates"], d["writes_per_s"], d["dispatch_seconds"], d["events_per_s"], d["ceiling_events_per_s"],
          report.ratio(d["events_per_s"], d["ceiling_events_per_s"]), d["lag_after_writes"],
          d["syncs_drained_seconds"])],
    ))  # fmt: skip
    out += _profile_lines("controller-manager during a second burst", d.get("profile"))
    return "\n".join(out)


def _profile_lines(title: str, prof: dict[str, Any] | None) -> list[str]:
    if not prof:
        return []
    if "share_percent" not in prof:
        return ["", f"{title}: profile failed: {prof.get('error')}"]
    head = f"{title} ({prof['seconds']} s, {prof['samples']} py-spy samples; stacks in {prof['stacks']})"
    return [
        "",
        head,
        report.table(
            ["part (first match in this order)", "% of samples"], list(prof["share_percent"].items())
        ),
        report.table(["hottest innermost frame", "% of samples"], prof["hottest_frames"]),
    ]


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the processes on the way out
    figures, latencies = benchmark(args)
    print(render(figures), flush=True)
    report.save("scale", figures, latencies, args.output, f"LIST of {args.pods:,} pods: page latencies")
    return 0


if __name__ == "__main__":
    sys.exit(main())
