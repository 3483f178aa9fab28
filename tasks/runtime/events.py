"""One Event recorder for every component: ``record(client, obj, type, reason, message)``.

Repeats are aggregated as Kubernetes' recorder does: an Event's name is derived from what it is
about (involved object, reason, message, source), so recording the same thing again finds the
existing Event and raises its ``count`` and ``lastTimestamp`` instead of writing a new object.
Recording is best effort: an API error is logged and swallowed, never raised into a reconcile.
Events expire after ``EVENT_TTL`` seconds (``tasks/controllers/events.py`` deletes old ones).
"""

from __future__ import annotations

import hashlib
import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from cluster import errors
from cluster.api.resources import lookup

EVENTS = lookup("", "v1", "events")
EVENT_TTL = 3600.0  # seconds, as the kube-apiserver's --event-ttl default
log = logging.getLogger("kubeq.events")
Obj = dict[str, Any]


def now_rfc3339() -> str:
    """The current time as Kubernetes writes timestamps (second precision, ``Z``)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def involved(obj: Obj) -> Obj:
    """The ``involvedObject`` reference for ``obj``."""
    md = obj.get("metadata") or {}
    ref = {
        "apiVersion": obj.get("apiVersion", "v1"),
        "kind": obj.get("kind", ""),
        "name": md.get("name", ""),
        "uid": md.get("uid", ""),
        "resourceVersion": md.get("resourceVersion", ""),
    }
    if md.get("namespace"):
        ref["namespace"] = md["namespace"]
    return ref


def event_name(obj: Obj, reason: str, message: str, component: str) -> str:
    """A stable name: the object's name plus a digest of what the Event says."""
    md = obj.get("metadata") or {}
    digest = hashlib.sha1(f"{md.get('uid', '')}|{reason}|{message}|{component}".encode()).hexdigest()
    return f"{md.get('name', 'object')}.{digest[:16]}"


def record(client: Any, obj: Obj, type_: str, reason: str, message: str, component: str) -> Obj | None:
    """Record (or count once more) an Event about ``obj``; returns the Event written, None on failure."""
    namespace = (obj.get("metadata") or {}).get("namespace") or "default"
    name = event_name(obj, reason, message, component)
    stamp = now_rfc3339()
    event = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": name, "namespace": namespace},
        "involvedObject": involved(obj),
        "reason": reason,
        "message": message,
        "type": type_,
        "count": 1,
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "source": {"component": component},
        "reportingComponent": component,
        "reportingInstance": component,
    }
    try:
        return client.create(event, namespace)
    except errors.AlreadyExists:
        return _count_again(client, namespace, name, stamp)
    except Exception:  # best effort: an Event never fails the reconcile that records it
        log.warning("recording event %s/%s failed", namespace, name, exc_info=True)
        return None


_background: ThreadPoolExecutor | None = None


def record_async(client: Any, obj: Obj, type_: str, reason: str, message: str, component: str) -> None:
    """``record`` on a shared background thread: the caller does not wait for the API (client-go's
    event broadcaster does the same). Events of one process keep their order only roughly."""
    global _background
    if _background is None:
        _background = ThreadPoolExecutor(max_workers=2, thread_name_prefix="events")
    _background.submit(record, client, obj, type_, reason, message, component)


def _count_again(client: Any, namespace: str, name: str, stamp: str) -> Obj | None:
    """Bump ``count`` and ``lastTimestamp`` of an existing Event (compare-and-swap, a few tries)."""
    for _ in range(5):
        try:
            current = client.get(EVENTS, name, namespace)
            current["count"] = int(current.get("count") or 1) + 1
            current["lastTimestamp"] = stamp
            series = current.get("series")
            if series is not None:
                series["count"] = int(series.get("count") or 0) + 1
            return client.update(current)
        except errors.Conflict:
            continue
        except Exception:
            log.warning("counting event %s/%s failed", namespace, name, exc_info=True)
            return None
    return None
