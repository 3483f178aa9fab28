"""The node's Service watch, as kube-proxy's informers: any Service or EndpointSlice change queues the
node's own key on the ``proxy`` work queue (which routes it to ``node.<node>``).

Two watch threads (Services, EndpointSlices; all namespaces) mark a change; a pump thread turns marks
into ``add("proxy", [node])`` calls at once, so a burst of changes costs one message (the work queue
also coalesces). Every ``resync_seconds`` (and at start) the key is queued anyway, so a lost message
or a restarted daemon is repaired.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from cluster.api.resources import lookup
from cluster.client.client import Client

SERVICES = lookup("", "v1", "services")
SLICES = lookup("discovery.k8s.io", "v1", "endpointslices")
PROXY = "proxy"  # the proxy controller's name in the registry
RESYNC_SECONDS = 30.0
log = logging.getLogger(__name__)


class ProxySource:
    """Watches Services and EndpointSlices and queues ``node`` with ``add(controller, keys)``."""

    def __init__(
        self,
        client: Client,
        node: str,
        add: Callable[[str, list[str]], Any],
        resync_seconds: float = RESYNC_SECONDS,
    ) -> None:
        self.client, self.node, self.add = client, node, add
        self.resync_seconds = resync_seconds
        self.stop = threading.Event()
        self.changed = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> ProxySource:
        jobs = [(self._watch, SERVICES), (self._watch, SLICES), (self._pump, None), (self._resync_loop, None)]
        for target, resource in jobs:
            args = (resource,) if resource is not None else ()
            label = resource.plural if resource is not None else target.__name__.strip("_")
            thread = threading.Thread(
                target=target, args=args, name=f"proxy-{label}-{self.node}", daemon=True
            )
            thread.start()
            self._threads.append(thread)
        return self

    def close(self) -> None:
        self.stop.set()
        self.changed.set()

    def _pump(self) -> None:
        while not self.stop.is_set():
            self.changed.wait()
            if self.stop.is_set():
                return
            self.changed.clear()
            try:
                self.add(PROXY, [self.node])
            except Exception:  # the broker away for a moment: try again shortly
                log.warning("node %s: cannot queue a proxy sync", self.node, exc_info=True)
                self.stop.wait(0.5)
                self.changed.set()

    def _resync_loop(self) -> None:
        while not self.stop.is_set():
            self.changed.set()
            self.stop.wait(self.resync_seconds)

    def _watch(self, resource: Any) -> None:
        while not self.stop.is_set():
            try:
                for event in self.client.list_and_watch(resource):
                    if self.stop.is_set():
                        return
                    if event.get("type") in ("ADDED", "MODIFIED", "DELETED"):
                        self.changed.set()
            except Exception:  # the API server restarted: list and watch again
                log.warning(
                    "node %s: %s watch failed; watching again", self.node, resource.plural, exc_info=True
                )
                self.stop.wait(0.5)
