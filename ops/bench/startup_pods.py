"""The pod traffic of ``ops.bench.startup``: pods created at a steady rate (open loop), one watch that
notes when each is first seen bound and Running, the churn that deletes each a while after it runs,
and the final clean-up."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from cluster.client import Client
from ops.bench.podwatch import PODS, PodWatch
from ops.bench.workload import Client as HttpClient


class RunningWatch(PodWatch):
    """One watch on a namespace's pods: when each pod was first seen bound to a node, and Running."""

    def __init__(self, server: str, namespace: str) -> None:
        self.running: dict[str, float] = {}
        self.bound: dict[str, float] = {}
        super().__init__(server, namespace, "running-watch")

    def seen(self, kind: str, obj: dict[str, Any], at: float) -> None:
        if kind not in ("ADDED", "MODIFIED"):
            return
        name = obj["metadata"]["name"]
        with self.lock:
            if (obj.get("spec") or {}).get("nodeName"):
                self.bound.setdefault(name, at)
            if (obj.get("status") or {}).get("phase") == "Running":
                self.running.setdefault(name, at)

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
