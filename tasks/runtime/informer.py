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
from collections.abc import Callable
from typing import Any

from tasks.runtime.controller import Context

log = logging.getLogger("kubeq.informer")
Obj = dict[str, Any]
MAX_PAUSE = 5.0  # seconds between attempts to list and watch again while the API stays unreachable
SYNC_TIMEOUT = 10.0  # a view not filled by then answers through a plain LIST until it is
_lock = threading.Lock()


class Informer:
    """Objects of one resource by namespace and name, kept current by a list-and-watch thread.

    ``keep`` says what to hold of each object (the object itself by default; None holds nothing
    for it), so a view that needs one field of many objects stays small."""

    def __init__(self, client: Any, resource: Any, keep: Callable[[Obj], Any] | None = None) -> None:
        self.client, self.resource, self.keep = client, resource, keep
        self._objects: dict[str, dict[str, Any]] = {}  # namespace ("" when cluster-scoped) -> name -> kept
        self._guard = threading.Lock()
        self.synced = threading.Event()

    def start(self) -> Informer:
        name = f"informer-{self.resource.plural}"
        threading.Thread(target=self._follow, daemon=True, name=name).start()
        return self

    def list(self, namespace: str | None = None) -> list[Any]:
        """What is held for the objects of ``namespace`` (every namespace when None), as last seen;
        callers must not change it."""
        with self._guard:
            if namespace is not None:
                return list(self._objects.get(namespace, {}).values())
            return [kept for names in self._objects.values() for kept in names.values()]

    def items(self, namespace: str | None = None) -> list[tuple[str, str, Any]]:
        """(namespace, name, held) for the objects of ``namespace`` (every namespace when None)."""
        with self._guard:
            spaces = [namespace] if namespace is not None else list(self._objects)
            return [(ns, n, kept) for ns in spaces for n, kept in self._objects.get(ns, {}).items()]

    def _follow(self) -> None:
        pause = 0.5
        while True:
            try:
                for event in self.client.list_and_watch(self.resource, synced_marker=True):
                    self._apply(event)
                    pause = 0.5
            except Exception as exc:  # the API server restarted or the watch broke: list and watch again
                log.warning("informer on %s lost its watch (%s); re-listing", self.resource.plural, exc)
                time.sleep(pause)
                pause = min(pause * 2, MAX_PAUSE)  # an API server that stays down is not hammered

    def _apply(self, event: Obj) -> None:
        if event["type"] == "SYNCED":
            self.synced.set()
            return
        obj = event["object"]
        md = obj["metadata"]
        namespace, name = md.get("namespace") or "", md["name"]
        kept = None if event["type"] == "DELETED" else (obj if self.keep is None else self.keep(obj))
        with self._guard:
            names = self._objects.setdefault(namespace, {})
            if kept is None:
                names.pop(name, None)
            else:
                names[name] = kept


def informer(
    ctx: Context, resource: Any, keep: Callable[[Obj], Any] | None = None, tag: str = ""
) -> Informer:
    """This worker's view of ``resource`` (started on first use, shared afterwards); views holding
    something else than whole objects (``keep``) are told apart by ``tag``."""
    key = f"informer:{resource.qualified}:{tag}"
    with _lock:
        view = ctx.caches.get(key)
        if view is None:
            view = ctx.caches[key] = Informer(ctx.client, resource, keep).start()
    return view


def cached_list(ctx: Context, resource: Any, namespace: str | None = None) -> list[Obj]:
    """``resource``'s objects in ``namespace`` from the worker's view; a plain LIST while the view
    is still filling (its first list waits up to ``SYNC_TIMEOUT``)."""
    view = informer(ctx, resource)
    if view.synced.wait(SYNC_TIMEOUT):
        return view.list(namespace)
    return ctx.client.list(resource, namespace)["items"]
