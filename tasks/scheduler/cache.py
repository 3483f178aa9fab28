"""The scheduler's view of the cluster: nodes and pods kept current by watches (an informer).

One cache per worker process, fed by two background threads (``list_and_watch`` on nodes and
pods). Bindings the scheduler makes are *assumed* at once, so the next pod of a batch sees them
before the watch confirms them.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from cluster import jsoncodec
from cluster.api.resources import lookup
from cluster.client import Client
from tasks.scheduler.framework import Snapshot

log = logging.getLogger("kubeq.scheduler.cache")
Obj = dict[str, Any]
NODES = lookup("", "v1", "nodes")
PODS = lookup("", "v1", "pods")


def pod_key(pod: Obj) -> str:
    md = pod["metadata"]
    return f"{md.get('namespace')}/{md['name']}"


class ClusterCache:
    """Nodes by name and pods by ``namespace/name``; ``revision`` is the newest change seen."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.nodes: dict[str, Obj] = {}
        self.pods: dict[str, Obj] = {}
        self.revision = 0
        self.lock = threading.Lock()
        self.generation = 0  # bumps on every change: lets users rebuild derived views lazily
        self._synced = {"nodes": threading.Event(), "pods": threading.Event()}
        # the scheduling Snapshot, kept between passes and brought up to date from these changes
        self._snapshot: Snapshot | None = None
        self._dirty: dict[str, set[str]] = {"nodes": set(), "pods": set()}
        self.pass_lock = threading.Lock()  # held by whoever uses the snapshot (one pass at a time)
        self._threads: list[threading.Thread] = []
        self._remote: dict[str, float] = {}  # other workers' bindings assumed here, until when

    def start(self) -> ClusterCache:
        for resource, store in ((NODES, self.nodes), (PODS, self.pods)):
            thread = threading.Thread(
                target=self._run, args=(resource, store), daemon=True, name=f"cache-{resource.plural}"
            )
            thread.start()
            self._threads.append(thread)
        return self

    def wait_synced(self, timeout: float = 30.0) -> bool:
        """True once both initial lists are in."""
        deadline = time.monotonic() + timeout
        return all(ev.wait(max(0.0, deadline - time.monotonic())) for ev in self._synced.values())

    def wait_for_revision(self, revision: int, timeout: float = 2.0) -> bool:
        """Wait until the cache has seen a change at or after ``revision``."""
        deadline = time.monotonic() + timeout
        while self.revision < revision:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.005)
        return True

    def _run(self, resource: Any, store: dict[str, Obj]) -> None:
        while True:
            try:
                self._consume(resource, store)
            except Exception:  # the API server restarted: list and watch again
                log.warning("watch on %s failed; re-listing", resource.plural, exc_info=True)
                time.sleep(0.5)

    def _consume(self, resource: Any, store: dict[str, Obj]) -> None:
        synced = self._synced[resource.plural]
        for event in self.client.list_and_watch(resource, synced_marker=True):
            obj = event["object"]
            rv = int(obj["metadata"].get("resourceVersion") or 0)
            if event["type"] == "SYNCED":
                with self.lock:
                    self.revision = max(self.revision, rv)
                synced.set()
                continue
            key = pod_key(obj) if resource is PODS else obj["metadata"]["name"]
            with self.lock:
                if event["type"] == "DELETED":
                    store.pop(key, None)
                else:
                    current = store.get(key)
                    # an assumed binding stays until the watch shows the pod bound
                    if current is not None and current.get("_assumed") and not obj["spec"].get("nodeName"):
                        obj = dict(
                            obj,
                            spec=dict(obj["spec"], nodeName=current["spec"]["nodeName"]),
                            _assumed=current["_assumed"],
                        )
                    store[key] = obj
                self._dirty[resource.plural].add(key)
                self.revision = max(self.revision, rv)
                self.generation += 1

    def assume(self, key: str, node: str, until: float | None = None) -> None:
        """Record a binding before the watch reports it: one this worker is making (kept until the
        watch shows it or ``forget``), or, with ``until`` (a ``time.time()``), another worker's,
        dropped by ``expire`` after that time unless the watch has shown it by then."""
        with self.lock:
            pod = self.pods.get(key)
            if pod is not None:
                self.pods[key] = dict(pod, spec=dict(pod["spec"], nodeName=node), _assumed=True)
                self._dirty["pods"].add(key)
                self.generation += 1
                if until is not None:
                    self._remote[key] = until

    def expire(self, now: float) -> list[str]:
        """Forget other workers' assumptions past their ``until`` that the watch has not confirmed;
        returns the pods that are unbound again (their binder died or failed)."""
        with self.lock:
            stale = [k for k, until in self._remote.items() if until <= now]
            for key in stale:
                del self._remote[key]
        for key in stale:
            self.forget(key)
        return [key for key in stale if self.unbound(key)]

    def forget(self, key: str) -> None:
        """Drop an assumption (the binding failed)."""
        with self.lock:
            pod = self.pods.get(key)
            if pod is not None and pod.get("_assumed"):
                spec = dict(pod["spec"])
                spec.pop("nodeName", None)
                self.pods[key] = {k: v for k, v in dict(pod, spec=spec).items() if k != "_assumed"}
                self._dirty["pods"].add(key)
                self.generation += 1

    def copy(self) -> tuple[list[Obj], list[Obj]]:
        """Nodes and pods as they are now (shallow copies of the maps; objects are shared, read-only)."""
        with self.lock:
            return list(self.nodes.values()), list(self.pods.values())

    def pod(self, key: str) -> Obj | None:
        with self.lock:
            pod = self.pods.get(key)
            return jsoncodec.clone(pod) if pod is not None else None

    def unbound(self, key: str) -> bool:
        """True when the cache holds pod ``key`` and it has no node (bound or assumed)."""
        with self.lock:
            pod = self.pods.get(key)
            return pod is not None and not (pod.get("spec") or {}).get("nodeName")

    def settled(self, key: str) -> bool:
        """True when the cache holds pod ``key`` and it needs no node: bound (or assumed), finished
        or being deleted."""
        with self.lock:
            pod = self.pods.get(key)
            return pod is not None and not _unbound(pod)

    def pending(self) -> list[Obj]:
        """Pods still waiting for a node (shared objects, read-only)."""
        with self.lock:
            return [p for p in self.pods.values() if _unbound(p)]

    def touch(self, keys: list[str]) -> None:
        """Make the next ``snapshot()`` re-read these pods (after a pass assumed them in it)."""
        with self.lock:
            self._dirty["pods"].update(keys)

    def snapshot(self) -> Snapshot:
        """The scheduling Snapshot, as of now: built from the whole cache once, then kept up to date
        with only the nodes and pods that changed since the previous call. Callers hold ``pass_lock``
        while they use it; placements they assume in it must be ``touch``-ed (or assumed/forgotten
        here) so the next call puts those pods back to what the cache says."""
        with self.lock:
            dirty_nodes = {name: self.nodes.get(name) for name in self._dirty["nodes"]}
            dirty_pods = {key: self.pods.get(key) for key in self._dirty["pods"]}
            self._dirty = {"nodes": set(), "pods": set()}
            if self._snapshot is None:
                nodes, pods = list(self.nodes.values()), list(self.pods.values())
        if self._snapshot is None:
            self._snapshot = Snapshot.from_objects(nodes, pods)
            return self._snapshot
        snap = self._snapshot
        added: set[str] = set()
        for name, node in dirty_nodes.items():
            if node is None:
                snap.remove_node(name, reindex=False)
            else:
                if name not in snap.by_name:
                    added.add(name)
                snap.set_node(node, reindex=False)
        if dirty_nodes:
            snap.reindex()
        if added:  # pods bound to a node before the snapshot knew it
            with self.lock:
                dirty_pods.update(
                    (k, p) for k, p in self.pods.items() if (p.get("spec") or {}).get("nodeName") in added
                )
        for key, pod in dirty_pods.items():
            node = (pod.get("spec") or {}).get("nodeName") if pod is not None else None
            phase = (pod.get("status") or {}).get("phase") if pod is not None else None
            if node in snap.by_name and phase not in ("Succeeded", "Failed"):
                snap.add_pod(node, pod)  # type: ignore[arg-type]
            else:
                snap.remove_pod(key)
        return snap


def _unbound(pod: Obj) -> bool:
    spec, md = pod.get("spec") or {}, pod.get("metadata") or {}
    return (
        not spec.get("nodeName")
        and not md.get("deletionTimestamp")
        and (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
    )
