"""Watch-fed read-only views of one resource, shared by the controllers of a worker process.

client-go's controllers answer "which owners care about this change?" from informer caches, not
from a LIST per change. ``informer(ctx, resource)`` is that cache here: the first call starts a
thread that lists and then watches the resource through the API (re-listing after a 410 or a lost
connection), later calls get the same view. It lags the store by one watch delivery, so it only
answers fan-out questions whose misses repair themselves: an owner the view does not show yet was
just created, and its own change queues its own sync, which reads consistently. A sync that acts on
what it reads still lists from the API.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from tasks.runtime.controller import Context

log = logging.getLogger("kubeq.informer")
Obj = dict[str, Any]
SYNC_TIMEOUT = 10.0  # a view not filled by then answers through a plain LIST until it is
_lock = threading.Lock()


class Informer:
    """Objects of one resource by ``(namespace, name)``, kept current by a list-and-watch thread."""

    def __init__(self, client: Any, resource: Any) -> None:
        self.client, self.resource = client, resource
        self._objects: dict[tuple[str, str], Obj] = {}
        self._guard = threading.Lock()
        self.synced = threading.Event()

    def start(self) -> Informer:
        name = f"informer-{self.resource.plural}"
        threading.Thread(target=self._follow, daemon=True, name=name).start()
        return self

    def list(self, namespace: str | None = None) -> list[Obj]:
        """The objects of ``namespace`` (all when None) as last seen; callers must not change them."""
        with self._guard:
            return [o for (ns, _), o in self._objects.items() if namespace is None or ns == namespace]

    def _follow(self) -> None:
        while True:
            try:
                for event in self.client.list_and_watch(self.resource, synced_marker=True):
                    self._apply(event)
            except Exception:  # the API server restarted or the watch broke: list and watch again
                log.warning("informer on %s lost its watch; re-listing", self.resource.plural, exc_info=True)
                time.sleep(0.5)

    def _apply(self, event: Obj) -> None:
        if event["type"] == "SYNCED":
            self.synced.set()
            return
        md = event["object"]["metadata"]
        key = (md.get("namespace") or "", md["name"])
        with self._guard:
            if event["type"] == "DELETED":
                self._objects.pop(key, None)
            else:
                self._objects[key] = event["object"]


def informer(ctx: Context, resource: Any) -> Informer:
    """This worker's view of ``resource`` (started on first use, shared afterwards)."""
    key = f"informer:{resource.qualified}"
    with _lock:
        view = ctx.caches.get(key)
        if view is None:
            view = ctx.caches[key] = Informer(ctx.client, resource).start()
    return view


def cached_list(ctx: Context, resource: Any, namespace: str | None = None) -> list[Obj]:
    """``resource``'s objects in ``namespace`` from the worker's view; a plain LIST while the view
    is still filling (its first list waits up to ``SYNC_TIMEOUT``)."""
    view = informer(ctx, resource)
    if view.synced.wait(SYNC_TIMEOUT):
        return view.list(namespace)
    return ctx.client.list(resource, namespace)["items"]
