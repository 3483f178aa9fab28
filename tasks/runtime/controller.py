"""What a controller is: the changes it watches, the keys they map to, and ``sync``.

Controllers are plain classes in ``tasks/<component>/``; the dispatcher (``workers/dispatcher.py``)
reads every change once and asks each controller's watches which keys it concerns; the work queue
(``tasks/runtime/workqueue.py``) coalesces keys and runs ``sync`` through one Celery task per
controller (``kubeq.<controller>.sync``) on the controller's queue.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

Obj = dict[str, Any]


@dataclass(frozen=True)
class Change:
    """One change read from a resource's stream (what a watch mapper sees)."""

    resource: str  # qualified plural: "pods", "deployments.apps"
    type: str  # ADDED | MODIFIED | DELETED
    object: Obj
    prev: Obj | None  # the object before a MODIFIED/DELETED change, when known
    revision: int


KeyMapper = Callable[[Change], Iterable[str]]


@dataclass(frozen=True)
class Watch:
    """``resource`` changes concern the keys ``keys(change)`` returns (may be none).

    With ``delay`` (seconds) the keys run that long after the first change that maps to them, and
    further changes meanwhile join that run (a debounce for keys many changes map to).
    """

    resource: str
    keys: KeyMapper
    delay: float = 0.0


def own_key(change: Change) -> list[str]:
    """The changed object's own key: ``namespace/name`` or ``name``."""
    md = change.object.get("metadata", {})
    ns = md.get("namespace")
    return [f"{ns}/{md['name']}" if ns else md["name"]]


class Requeue(Exception):
    """Raised by ``sync`` to run the key again after ``after`` seconds (not a failure, no backoff)."""

    def __init__(self, after: float) -> None:
        super().__init__(f"requeue after {after}s")
        self.after = after


@dataclass
class Context:
    """What ``sync`` gets to work with: the API client and the worker's shared caches."""

    client: Any  # cluster.client.Client
    caches: dict[str, Any] = field(default_factory=dict)
    # enqueue(controller, keys): add keys to a controller's work queue (e.g. retry waiting pods)
    enqueue: Callable[[str, list[str]], None] | None = None
    redis: Any = None  # a client for coordination keys under the broker prefix (not cluster state)
    broker_prefix: str = "kubeq-broker:"


class Controller(Protocol):
    """A level-triggered reconciler. ``sync_batch`` may take several keys at once."""

    name: str  # also the Celery task name prefix: kubeq.<name>.sync
    queue: str  # "controllers" or "scheduler"
    watches: tuple[Watch, ...]
    batch_size: int  # keys per Celery task (1 for most controllers)

    def sync_batch(self, keys: list[str], ctx: Context) -> dict[str, BaseException | float | None]:
        """Reconcile each key; per key: None (done), a float (requeue after s) or an error (backoff)."""
        ...

    def resync_keys(self, ctx: Context) -> Iterable[str]:
        """Every key, for the periodic resync that repairs lost messages."""
        ...
