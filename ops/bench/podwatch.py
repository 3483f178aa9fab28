"""``PodWatch``: one pod watch on a namespace in a daemon thread, for the benchmarks that time pods.

It starts from the namespace's current list resourceVersion, asks for bookmarks, and resumes a dropped
watch from the last version seen; a subclass says what each event means in ``seen(type, obj, at)``
(``at``: ``time.time()`` on receipt), holding ``lock`` while it records. ``stop.set()`` ends it.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from cluster.api.resources import lookup
from cluster.client import Client

PODS = lookup("", "v1", "pods")


class PodWatch:
    """A watch on ``namespace``'s pods through ``server``, read by a thread called ``name``.

    Subclasses set up what ``seen`` records before calling ``__init__``: the thread starts in it.
    """

    def __init__(self, server: str, namespace: str, name: str) -> None:
        self.client = Client(server, user_agent="kubeq-bench")
        self.namespace = namespace
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.rv = self.client.list(PODS, namespace)["metadata"]["resourceVersion"]
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.thread.start()

    def seen(self, kind: str, obj: dict[str, Any], at: float) -> None:
        """One event of type ``kind`` (ADDED, MODIFIED, DELETED, BOOKMARK) received at ``at``."""
        raise NotImplementedError

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                for event in self.client.watch(
                    PODS, self.namespace, resource_version=self.rv, bookmarks=True
                ):
                    at = time.time()
                    obj = event["object"]
                    self.rv = obj["metadata"].get("resourceVersion") or self.rv
                    self.seen(event["type"], obj, at)
                    if self.stop.is_set():
                        return
            except Exception:  # a dropped watch resumes from the last version seen
                time.sleep(0.2)
