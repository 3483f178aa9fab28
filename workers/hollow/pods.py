"""The pod side of hollow nodes: watch pods bound to any node, act on those bound to ours.

One watch (``fieldSelector=spec.nodeName!=``: every bound pod) serves the whole fleet; events for
other nodes are dropped by a dict lookup. Actions run later on the fleet's timers:
  - a Pending pod goes Running (``startup`` seconds after it is seen);
  - a Running pod with the succeed annotation finishes that many seconds after it started (Succeeded,
    or Failed when its exit-code annotation is not 0);
  - a pod with ``deletionTimestamp`` is deleted with ``gracePeriodSeconds=0`` (the kubelet's last word).
Status goes through ``pods/status`` with the resourceVersion read; on 409 the pod is re-read and the
action re-checked, so a stale event never undoes newer state.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from cluster import errors
from cluster.api.resources import lookup
from cluster.client.client import Client
from workers.hollow.objects import NodeSpec, finished_status, running_status, started_at, succeed_after
from workers.hollow.timers import Timers

Obj = dict[str, Any]
PODS = lookup("", "v1", "pods")
WATCH_TIMEOUT = 10  # seconds per watch request, so a stop is noticed
log = logging.getLogger(__name__)


def _key(pod: Obj) -> str:
    return pod["metadata"].get("uid", "")


class PodRunner:
    """Moves pods bound to ``nodes`` through their life; ``watch_forever(stop)`` feeds it."""

    def __init__(self, client: Client, nodes: dict[str, NodeSpec], timers: Timers, startup: float) -> None:
        self.client, self.nodes, self.timers, self.startup = client, nodes, timers, startup
        self._lock = threading.Lock()
        self._busy: set[tuple[str, str]] = set()  # (uid, action) already scheduled
        self.started = self.succeeded = self.deleted = 0

    # ---- events ----------------------------------------------------------------------------
    def handle(self, event_type: str, pod: Obj) -> None:
        """React to one pod event (from the list or the watch)."""
        node = self.nodes.get((pod.get("spec") or {}).get("nodeName", ""))
        if node is None:
            return
        uid = _key(pod)
        if event_type == "DELETED":
            with self._lock:
                for action in ("start", "succeed", "delete"):
                    self._busy.discard((uid, action))
            return
        phase = (pod.get("status") or {}).get("phase") or "Pending"
        if pod["metadata"].get("deletionTimestamp"):
            if self._claim(uid, "delete"):
                self.timers.submit(lambda: self._finish_delete(pod))
        elif phase == "Pending":
            if self._claim(uid, "start"):
                self.timers.after(self.startup, lambda: self._start(pod, node))
        elif phase == "Running":
            after = succeed_after(pod)
            began = started_at(pod)
            if after is not None and began is not None and self._claim(uid, "succeed"):
                delay = after - (datetime.now(UTC) - began).total_seconds()
                self.timers.after(max(0.0, delay), lambda: self._succeed(pod))

    def _claim(self, uid: str, action: str) -> bool:
        with self._lock:
            if (uid, action) in self._busy:
                return False
            self._busy.add((uid, action))
            return True

    def _release(self, uid: str, action: str) -> None:
        with self._lock:
            self._busy.discard((uid, action))

    # ---- actions ---------------------------------------------------------------------------
    def _start(self, pod: Obj, node: NodeSpec) -> None:
        def build(current: Obj) -> Obj | None:
            if current["metadata"].get("deletionTimestamp"):
                return None
            if (current.get("status") or {}).get("phase", "Pending") != "Pending":
                return None
            return running_status(current, node, datetime.now(UTC))

        if self._write_status(pod, build):
            self.started += 1
        self._release(_key(pod), "start")

    def _succeed(self, pod: Obj) -> None:
        def build(current: Obj) -> Obj | None:
            if current["metadata"].get("deletionTimestamp"):
                return None
            if (current.get("status") or {}).get("phase") != "Running":
                return None
            return finished_status(current, datetime.now(UTC))

        if self._write_status(pod, build):
            self.succeeded += 1
        self._release(_key(pod), "succeed")

    def _finish_delete(self, pod: Obj) -> None:
        md = pod["metadata"]
        body = {"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0}
        body["preconditions"] = {"uid": md.get("uid")}
        try:
            self.client.request("DELETE", self.client.path(PODS, md.get("namespace"), md["name"]), body)
            self.deleted += 1
        except (errors.NotFound, errors.Conflict):
            pass
        except (errors.StatusError, OSError):
            log.warning("deleting pod %s/%s failed; retrying", md.get("namespace"), md["name"])
            self.timers.after(1.0, lambda: self._finish_delete(pod))
            return
        self._release(md.get("uid", ""), "delete")

    def _write_status(self, pod: Obj, build: Callable[[Obj], Obj | None], attempts: int = 5) -> bool:
        """PUT ``build(pod)`` as the status; on 409 re-read and rebuild. False if nothing was written."""
        md = pod["metadata"]
        for _ in range(attempts):
            status = build(pod)
            if status is None:
                return False
            try:
                self.client.update({**pod, "status": status}, subresource="status")
                return True
            except errors.Conflict:
                pass
            except errors.NotFound:
                return False
            except (errors.StatusError, OSError) as exc:
                log.warning("status of pod %s/%s: %s", md.get("namespace"), md["name"], exc)
                time.sleep(0.2)
            try:
                pod = self.client.get(PODS, md["name"], md.get("namespace"))
            except errors.NotFound:
                return False
            except (errors.StatusError, OSError):
                time.sleep(0.2)
            if pod["metadata"].get("uid") != md.get("uid"):
                return False
        return False

    # ---- the watch -------------------------------------------------------------------------
    def watch_forever(self, stop: threading.Event) -> None:
        """List bound pods, then watch them (re-listing after 410) until ``stop`` is set."""
        rv = ""
        while not stop.is_set():
            try:
                if not rv:
                    listing = self.client.list(PODS, field_selector="spec.nodeName!=")
                    for pod in listing["items"]:
                        self.handle("ADDED", pod)
                    rv = listing["metadata"]["resourceVersion"]
                events = self.client.watch(
                    PODS,
                    resource_version=rv,
                    field_selector="spec.nodeName!=",
                    timeout_seconds=WATCH_TIMEOUT,
                    bookmarks=True,
                )
                for event in events:
                    rv = event["object"]["metadata"].get("resourceVersion") or rv
                    if event["type"] != "BOOKMARK":
                        self.handle(event["type"], event["object"])
                    if stop.is_set():
                        break
                events.close()
            except (errors.Gone, errors.ResourceExpired):
                rv = ""
            except (errors.StatusError, OSError, ValueError) as exc:
                log.warning("pod watch: %s; retrying", exc)
                stop.wait(1.0)
