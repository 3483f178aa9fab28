"""The node's copy of its own pods (the kubelet's pod manager), fed by the node's pod watch.

A sync reads its pod with ``pod(client, namespace, name)``: the watched copy when the node agent
installed a cache (``install``) and holds the pod, else a GET (a pod not seen yet, or no agent:
tests, other processes), None when it does not exist. The copy is at least as new as the watch
event that queued the sync; the kubelet's own status writes are put back too, so a sync that runs
before the watch delivers them does not work from an older status. Copies only move forward in
``resourceVersion``.
"""

from __future__ import annotations

import threading
from typing import Any

from cluster import errors
from cluster.api.resources import lookup
from tasks.runtime.hooks import Hook

Obj = dict[str, Any]
PODS = lookup("", "v1", "pods")


def _version(pod: Obj) -> int:
    try:
        return int((pod.get("metadata") or {}).get("resourceVersion") or 0)
    except ValueError:
        return 0


class PodCache:
    """Latest known object per ``(namespace, name)``; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pods: dict[tuple[str, str], Obj] = {}

    def put(self, pod: Obj) -> None:
        """Keep ``pod`` unless a newer version of the same pod (same uid) is held."""
        md = pod["metadata"]
        key = (md.get("namespace", "default"), md["name"])
        with self._lock:
            held = self._pods.get(key)
            same = held is not None and held["metadata"].get("uid") == md.get("uid")
            if not same or _version(pod) >= _version(held or {}):
                self._pods[key] = pod

    def drop(self, namespace: str, name: str) -> None:
        with self._lock:
            self._pods.pop((namespace, name), None)

    def get(self, namespace: str, name: str) -> Obj | None:
        with self._lock:
            return self._pods.get((namespace, name))


_hook: Hook[PodCache] = Hook("pod cache")
install = _hook.install
uninstall = _hook.uninstall


def cache() -> PodCache | None:
    """This process's cache, or None when no node agent installed one."""
    return _hook.current() if _hook.installed() else None


def pod(client: Any, namespace: str, name: str) -> Obj | None:
    """The pod from this node's cache, else from the API; None when it does not exist."""
    held = cache()
    found = held.get(namespace, name) if held is not None else None
    if found is not None:
        return found
    try:
        return client.get(PODS, name, namespace)
    except errors.NotFound:
        return None


def wrote(pod: Obj) -> None:
    """Put the pod an API write returned (the kubelet's status patch) into the cache, if any."""
    held = cache()
    if held is not None:
        held.put(pod)
