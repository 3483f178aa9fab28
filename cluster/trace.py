"""Per-object hop traces: ``mark(trace_id, hop)`` records when an object (a pod, by uid) passed a hop.

Off unless ``KUBEQ_TRACE=1`` in the process's environment (read once, on the first call): then every
call returns at once and nothing else happens. On, ``mark`` takes the wall-clock time at the call
and hands ``(id, hop, time)`` to a background thread, which appends ``"<hop> <time>"`` to the Redis
list ``<state prefix>:trace:<id>`` (expiring after ``TTL_SECONDS``) on the Redis of
``Settings.from_env()``. The traced code never waits for Redis and never sees a tracing error (a
failed write is dropped). ``read`` returns one id's marks; ``marks_of`` parses a list's entries.

These keys are benchmark instrumentation, not cluster state: nothing in kubeq reads them.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Iterable
from typing import Any

ENV = "KUBEQ_TRACE"
TTL_SECONDS = 3600
log = logging.getLogger("kubeq.trace")

_enabled: bool | None = None
_lock = threading.Lock()
_queue: queue.SimpleQueue[tuple[str, str, float]] | None = None
_owner_pid = 0  # the process whose writer thread serves _queue (a forked child starts its own)


def enabled() -> bool:
    """Whether this process traces (``KUBEQ_TRACE=1``; read once)."""
    global _enabled
    if _enabled is None:
        _enabled = os.environ.get(ENV, "") == "1"
    return _enabled


def key(prefix: str, trace_id: str) -> str:
    """The Redis list holding ``trace_id``'s marks under the state prefix ``prefix``."""
    return f"{prefix}:trace:{trace_id}"


def mark(trace_id: str | None, hop: str, at: float | None = None) -> None:
    """Record that ``trace_id`` passed ``hop`` now (or at ``at``, seconds since the epoch); no-op when
    tracing is off or the id is empty."""
    if _enabled is False or (_enabled is None and not enabled()) or not trace_id:
        return
    _writer().put((str(trace_id), hop, time.time() if at is None else at))


def mark_pod(pod: dict[str, Any] | None, hop: str) -> None:
    """``mark`` keyed by the object's ``metadata.uid``."""
    if _enabled is False or (_enabled is None and not enabled()) or not pod:
        return
    mark((pod.get("metadata") or {}).get("uid"), hop)


def mark_pods(pods: Iterable[dict[str, Any]], hop: str) -> None:
    """``mark_pod`` for each object, at one time (the iterable is not consumed when tracing is off)."""
    if _enabled is False or (_enabled is None and not enabled()):
        return
    now = time.time()
    for pod in pods:
        mark((pod.get("metadata") or {}).get("uid"), hop, now)


def marks_of(entries: Iterable[str | bytes]) -> list[tuple[str, float]]:
    """``(hop, time)`` pairs of a trace list's entries, in the order they were written."""
    out = []
    for raw in entries:
        text = raw.decode() if isinstance(raw, bytes) else raw
        hop, _, at = text.rpartition(" ")
        try:
            out.append((hop, float(at)))
        except ValueError:
            continue
    return out


def read(client: Any, prefix: str, trace_id: str) -> list[tuple[str, float]]:
    """The marks of ``trace_id`` (``client``: a redis-py client of the traced Redis)."""
    return marks_of(client.lrange(key(prefix, trace_id), 0, -1))


def _writer() -> queue.SimpleQueue[tuple[str, str, float]]:
    """This process's mark queue, starting its writer thread on first use."""
    global _queue, _owner_pid
    pid = os.getpid()
    if _queue is not None and _owner_pid == pid:
        return _queue
    with _lock:
        if _queue is None or _owner_pid != pid:
            _queue, _owner_pid = queue.SimpleQueue(), pid
            threading.Thread(target=_drain, args=(_queue,), name="kubeq-trace", daemon=True).start()
    return _queue


def _drain(marks: queue.SimpleQueue[tuple[str, str, float]]) -> None:
    """Write queued marks in batches: block for one, take whatever else is waiting, one pipeline."""
    import redis

    from cluster.settings import Settings

    settings = Settings.from_env()
    client = redis.Redis.from_url(settings.redis_url or "redis://127.0.0.1:6379/0")
    while True:
        batch = [marks.get()]
        while True:
            try:
                batch.append(marks.get_nowait())
            except queue.Empty:
                break
        try:
            pipe = client.pipeline(transaction=False)
            for trace_id, hop, at in batch:
                name = key(settings.state_prefix, trace_id)
                pipe.rpush(name, f"{hop} {at:.6f}")
                pipe.expire(name, TTL_SECONDS)
            pipe.execute()
        except Exception as exc:  # tracing must never hurt the traced: drop the batch
            log.debug("dropped %d trace marks: %s", len(batch), exc)
