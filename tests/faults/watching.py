"""What the harness fault tests watch and wait for: live pods of a selector, a finished rollout."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from ops.hosts.faults import Api

T = TypeVar("T")
Obj = dict[str, Any]


def wait(check: Callable[[], T], timeout: float, what: str, every: float = 0.5) -> T:
    """Poll ``check()`` until it returns something true; AssertionError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"{what}: not within {timeout:.0f} s")


def live(pod: Obj) -> bool:
    """A pod that counts against replicas + maxSurge: not terminating, not finished."""
    return not pod["metadata"].get("deletionTimestamp") and (pod.get("status") or {}).get("phase") not in (
        "Succeeded",
        "Failed",
    )


class PodWatch:
    """Watches the pods of ``selector`` in ``namespace`` in a thread (resuming after breaks, relisting
    after 410) and keeps the largest number of live pods seen at once in ``peak``."""

    def __init__(self, api: Api, namespace: str, selector: str) -> None:
        self.api, self.base = api, f"/api/v1/namespaces/{namespace}/pods?labelSelector={selector}"
        self.pods: dict[str, Obj] = {}
        self.peak = 0
        self.breaks = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="pod-watch", daemon=True)

    def start(self) -> PodWatch:
        self.thread.start()
        return self

    def close(self) -> None:
        self.stop.set()
        self.thread.join(70)

    def count(self) -> int:
        return sum(1 for p in list(self.pods.values()) if live(p))

    def _note(self) -> None:
        self.peak = max(self.peak, self.count())

    def _run(self) -> None:
        rv = ""
        while not self.stop.is_set():
            if not rv:
                status, listed = self.api.call("GET", self.base, timeout=30)
                if status != 200:
                    time.sleep(0.5)
                    continue
                self.pods = {p["metadata"]["name"]: p for p in listed["items"]}
                rv = listed["metadata"]["resourceVersion"]
                self._note()
            try:
                path = f"{self.base}&watch=1&allowWatchBookmarks=true&resourceVersion={rv}&timeoutSeconds=30"
                for event in self.api.stream(path, timeout=45):
                    obj = event["object"]
                    if event["type"] == "ERROR":
                        rv = ""  # 410 Expired: list again
                        break
                    rv = obj["metadata"]["resourceVersion"]
                    if event["type"] == "DELETED":
                        self.pods.pop(obj["metadata"]["name"], None)
                    elif event["type"] in ("ADDED", "MODIFIED"):
                        self.pods[obj["metadata"]["name"]] = obj
                    self._note()
                    if self.stop.is_set():
                        return
            except (OSError, ValueError, KeyError):
                self.breaks += 1
                time.sleep(0.5)


def rolled_out(api: Api, namespace: str, name: str) -> Obj | None:
    """The Deployment once its latest generation is fully rolled out (every replica updated and
    available, no old one left), else None."""
    status, d = api.call("GET", f"/apis/apps/v1/namespaces/{namespace}/deployments/{name}")
    if status != 200:
        return None
    want, st = d["spec"]["replicas"], d.get("status") or {}
    done = (
        st.get("observedGeneration", 0) >= d["metadata"]["generation"]
        and st.get("updatedReplicas") == want
        and st.get("availableReplicas") == want
        and st.get("replicas") == want
    )
    return d if done else None
