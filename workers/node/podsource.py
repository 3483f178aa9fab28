"""The node's own view of its pods, as the kubelet's pod watch: changes become kubelet keys.

Only this node's pods concern this node, so the node agent watches them itself (field selector
``spec.nodeName=<node>``) and queues ``<node>/<namespace>/<pod>`` keys on the kubelet work queue,
which routes them to ``node.<node>``. The central dispatcher maps no pod to the kubelet: nodes
without an agent (hollow ones) never get messages nobody would consume. Every ``resync_seconds``
(and at start) the node also queues every pod it has and every sandbox its runtime still holds,
so pods deleted while the agent was away are cleaned up and lost messages are repaired.

A change of a pod's status alone (the kubelet's own status writes, mostly) queues nothing: as in the
kubelet's pod config source, only what the kubelet acts on (``kubelet_view``: uid, generation, labels,
annotations, deletion, node) makes a sync. Nor does the removal of a pod already seen terminating:
the sync its deletion queued stops its containers whether the pod is still there or gone. Container
exits and probe results come from the runtime daemon (``workers.runtime.notify``), not from the pod.
Every watched pod also goes into ``cache`` (``tasks.kubelet.podcache``), where the syncs read it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from cluster.api.resources import lookup
from cluster.client.client import Client
from tasks.kubelet.controller import NODE_RESYNC_SECONDS
from tasks.kubelet.podcache import PodCache

PODS = lookup("", "v1", "pods")
KUBELET = "kubelet"  # the kubelet controller's name in the registry
RESYNC_SECONDS = NODE_RESYNC_SECONDS
log = logging.getLogger(__name__)
Obj = dict[str, Any]


def kubelet_view(pod: Obj) -> tuple[Any, ...]:
    """What of ``pod`` the kubelet acts on; two versions with the same view need no second sync.
    Spec changes bump ``metadata.generation``; labels and annotations feed the downward API."""
    md = pod.get("metadata") or {}
    return (
        md.get("uid"),
        md.get("generation"),
        md.get("deletionTimestamp"),
        md.get("deletionGracePeriodSeconds"),
        md.get("labels"),
        md.get("annotations"),
        (pod.get("spec") or {}).get("nodeName"),
    )


class PodSource:
    """Watches ``node``'s pods and adds their keys with ``add(controller, keys)``."""

    def __init__(
        self,
        client: Client,
        node: str,
        add: Callable[[str, list[str]], Any],
        runtime: Callable[[], Any] | None = None,
        resync_seconds: float = RESYNC_SECONDS,
        cache: PodCache | None = None,
    ) -> None:
        self.client, self.node, self.add, self.runtime = client, node, add, runtime
        self.cache = cache if cache is not None else PodCache()
        self.resync_seconds = resync_seconds
        self.selector = f"spec.nodeName={node}"
        self.stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._seen: dict[str, tuple[Any, ...]] = {}  # key -> kubelet_view of the last event queued

    def key(self, namespace: str, name: str) -> str:
        return f"{self.node}/{namespace}/{name}"

    def start(self) -> PodSource:
        for target, label in ((self._watch, "watch"), (self._resync_loop, "resync")):
            thread = threading.Thread(target=target, name=f"pods-{label}-{self.node}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def close(self) -> None:
        self.stop.set()

    def resync(self) -> list[str]:
        """Queue every pod of this node and every pod the runtime still has a sandbox for."""
        keys = [
            self.key(p["metadata"]["namespace"], p["metadata"]["name"])
            for p in self.client.list(PODS, field_selector=self.selector)["items"]
        ]
        if self.runtime is not None:
            for sandbox in self.runtime().list_pod_sandboxes():
                keys.append(self.key(sandbox.config.namespace, sandbox.config.name))
        keys = list(dict.fromkeys(keys))
        if keys:
            self.add(KUBELET, keys)
        return keys

    def _resync_loop(self) -> None:
        while not self.stop.is_set():
            try:
                self.resync()
            except Exception:  # the API or the daemon away for a moment: the next round repairs
                log.warning("node %s: pod resync failed", self.node, exc_info=True)
            self.stop.wait(self.resync_seconds)

    def changed(self, event: Obj) -> str | None:
        """The kubelet key ``event`` concerns, or None when only the pod's status changed or a pod
        already seen terminating (same uid) is removed."""
        pod = event["object"]
        md = pod["metadata"]
        key = self.key(md["namespace"], md["name"])
        view = kubelet_view(pod)
        if event.get("type") == "DELETED":
            self.cache.drop(md["namespace"], md["name"])
            seen = self._seen.pop(key, None)
            return None if seen is not None and seen[0] == view[0] and seen[2] else key
        self.cache.put(pod)
        if self._seen.get(key) == view:
            return None
        self._seen[key] = view
        return key

    def _watch(self) -> None:
        while not self.stop.is_set():
            try:
                for event in self.client.list_and_watch(PODS, field_selector=self.selector):
                    if self.stop.is_set():
                        return
                    key = self.changed(event)
                    if key is not None:
                        self.add(KUBELET, [key])
            except Exception:  # the API server restarted: list and watch again
                log.warning("node %s: pod watch failed; watching again", self.node, exc_info=True)
                self.stop.wait(0.5)
