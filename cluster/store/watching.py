"""Watches: every change after a revision, replayed from the stream and then followed.

The watcher keeps a position (a global revision). Each poll atomically reads the compacted
revision and the stream entries after the position, so nothing is skipped silently: if the
changes after the position were compacted away, the watch fails with Gone. Between polls the
watcher blocks on ``XREAD`` only as a wake-up signal.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from cluster import errors, jsoncodec
from cluster.store import codec

if TYPE_CHECKING:
    from cluster.store.store import Keys, Store

BATCH = 500


class WatchEvent:
    """``type`` is ADDED, MODIFIED or DELETED; ``object`` carries resourceVersion = ``revision``.

    ``raw``, when set, is the object's stored JSON text (``object`` is decoded from it on first
    use), so a watch can send it on without decoding and encoding again. ``more`` is True when
    another event follows at once (from the same read), so a stream may hold this one back and
    send both together.
    """

    __slots__ = ("type", "revision", "raw", "more", "_object")

    def __init__(
        self,
        type: str,
        object: dict[str, Any] | None,
        revision: int,
        *,
        raw: str | None = None,
        more: bool = False,
    ) -> None:
        if object is None and raw is None:
            raise ValueError("a WatchEvent needs an object or its JSON text")
        self.type, self.revision, self.raw, self.more = type, revision, raw, more
        self._object = object

    @property
    def object(self) -> dict[str, Any]:
        if self._object is None:
            assert self.raw is not None
            self._object = jsoncodec.loads(self.raw)
        return self._object

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, WatchEvent):
            return NotImplemented
        return (self.type, self.object, self.revision) == (other.type, other.object, other.revision)

    def __repr__(self) -> str:
        return f"WatchEvent(type={self.type!r}, object={self.object!r}, revision={self.revision!r})"


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
    if predicate is None:
        return WatchEvent(change.type, None, change.revision, raw=change.obj)
    obj = change.object()
    now = predicate(obj)
    if change.type != "MODIFIED":
        return WatchEvent(change.type, obj, change.revision, raw=change.obj) if now else None
    previous = change.previous()
    before = previous is not None and predicate(previous)
    if before and now:
        return WatchEvent("MODIFIED", obj, change.revision, raw=change.obj)
    if before:
        return WatchEvent("DELETED", obj, change.revision, raw=change.obj)
    if now:
        return WatchEvent("ADDED", obj, change.revision, raw=change.obj)
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
            events = [e for e in (_event(c, prefix, predicate) for c in changes) if e is not None]
            for event in events[:-1]:
                event.more = True
            yield from events
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
