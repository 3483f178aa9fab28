"""Watches: every change after a revision, replayed from the stream and then followed.

The watcher keeps a position (a global revision). Each poll atomically reads the compacted
revision and the stream entries after the position, so nothing is skipped silently: if the
changes after the position were compacted away, the watch fails with Gone. Between polls the
watcher blocks on ``XREAD`` only as a wake-up signal.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cluster import errors
from cluster.store import codec

if TYPE_CHECKING:
    from cluster.store.store import Keys, Store

BATCH = 500


@dataclass
class WatchEvent:
    """``type`` is ADDED, MODIFIED or DELETED; ``object`` carries resourceVersion = ``revision``."""

    type: str
    object: dict[str, Any]
    revision: int


def _poll(store: Store, keys: Keys, position: int) -> tuple[list[codec.Change], int]:
    """Changes after ``position`` (at most BATCH) and the position after them. Raises Gone."""
    reply = store._poll(keys=keys.all(), args=[position, BATCH])
    current, compacted = int(reply[0]), int(reply[1])
    if position < compacted:
        raise errors.Gone(f"too old resource version: {position} ({compacted})")
    changes = codec.decode_changes(reply[2])
    if len(changes) == BATCH:
        return changes, changes[-1].revision
    return changes, max(position, current)  # every change up to `current` was read


def _event(
    change: codec.Change, prefix: str, predicate: Callable[[dict[str, Any]], bool] | None
) -> WatchEvent | None:
    """The event a watcher sees for ``change``, or None when it does not concern the watcher."""
    if prefix and not change.key.startswith(prefix):
        return None
    obj = change.object()
    if predicate is None:
        return WatchEvent(change.type, obj, change.revision)
    now = predicate(obj)
    if change.type != "MODIFIED":
        return WatchEvent(change.type, obj, change.revision) if now else None
    previous = change.previous()
    before = previous is not None and predicate(previous)
    if before and now:
        return WatchEvent("MODIFIED", obj, change.revision)
    if before:
        return WatchEvent("DELETED", obj, change.revision)
    if now:
        return WatchEvent("ADDED", obj, change.revision)
    return None


def watch_changes(
    store: Store,
    resource: str,
    namespace: str | None,
    from_revision: int,
    *,
    predicate: Callable[[dict[str, Any]], bool] | None = None,
    heartbeat: float = 1.0,
    stop: threading.Event | None = None,
) -> Iterator[WatchEvent | None]:
    """See ``Store.watch``. The first poll happens here, so Gone is raised by this call itself."""
    keys = store.keys(resource)
    prefix = f"{namespace}/" if namespace else ""
    first = _poll(store, keys, max(int(from_revision), 0))
    block_ms = max(int(heartbeat * 1000), 1)

    def follow() -> Iterator[WatchEvent | None]:
        changes, position = first
        while True:
            for change in changes:
                event = _event(change, prefix, predicate)
                if event is not None:
                    yield event
            if stop is not None and stop.is_set():
                return
            if len(changes) < BATCH:
                woke = store.client.xread({keys.stream: f"{position}-0"}, count=1, block=block_ms)
                if stop is not None and stop.is_set():
                    return
                if not woke:
                    yield None
                    if stop is not None and stop.is_set():
                        return
            changes, position = _poll(store, keys, position)

    return follow()
