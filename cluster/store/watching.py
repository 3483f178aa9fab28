"""Watches: every change after a revision, replayed from the stream and then followed.

The watcher keeps a position (a global revision). Each poll atomically reads the compacted
revision and the stream entries after the position, so nothing is skipped silently: if the
changes after the position were compacted away, the watch fails with Gone.

Once caught up, the watches of one process on one resource share a ``_Hub``: a single reader
that blocks on ``XREAD`` (as a wake-up signal only), polls the changes once and keeps the most
recent ones in memory, so a write costs one poll per process rather than one per watcher, and
an idle watch holds no Redis connection. A watcher the hub cannot serve (its position is older
than the hub's memory, or the hub's reader failed) polls Redis itself as before.
"""

from __future__ import annotations

import bisect
import os
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from cluster import errors, jsoncodec
from cluster.store import codec

if TYPE_CHECKING:
    from cluster.store.store import Keys, Store

BATCH = 500
HUB_KEEP = 500  # recent changes a hub keeps (up to twice as many) for watchers a little behind


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


class _Hub:
    """The changes of one stream, read once for every watcher of this process (see the module doc).

    Invariant: ``changes`` holds every change with ``base < revision <= position``, in order.
    """

    _lock = threading.Lock()
    _hubs: dict[tuple[int, int, str], _Hub] = {}  # (pid, id(client), stream key): a fork starts afresh

    def __init__(self, store: Store, keys: Keys, position: int, block_ms: int) -> None:
        self.store, self.keys, self.block_ms = store, keys, block_ms
        self.base = self.position = position
        self.changes: list[codec.Change] = []
        self.revisions: list[int] = []
        self.subscribers = 0
        self.failed = False
        self.ready = threading.Condition()

    @classmethod
    def join(cls, store: Store, keys: Keys, position: int, block_ms: int) -> _Hub:
        """The hub of ``keys.stream`` on ``store``'s client, started at ``position`` if new."""
        key = (os.getpid(), id(store.client), keys.stream)
        with cls._lock:  # held for dict work only: it may be a real lock in a gevent process
            hub = cls._hubs.get(key)
            new = hub is None
            if hub is None:
                hub = cls._hubs[key] = _Hub(store, keys, position, block_ms)
            hub.subscribers += 1
        if new:
            threading.Thread(target=hub._read, args=(key,), name="watch-hub", daemon=True).start()
        return hub

    @classmethod
    def _forget_all(cls) -> None:
        """In a forked child: the parent's readers do not exist here (nor may its lock be free)."""
        cls._lock = threading.Lock()
        cls._hubs = {}

    def leave(self) -> None:
        with self._lock:
            self.subscribers -= 1

    def _drop(self, key: tuple[int, int, str]) -> None:
        if self._hubs.get(key) is self:
            del self._hubs[key]

    def _read(self, key: tuple[int, int, str]) -> None:
        """Follow the stream until no watcher is left; on any error mark the hub failed and end."""
        try:
            while True:
                with self._lock:
                    if self.subscribers <= 0:
                        self._drop(key)
                        return
                stream = {self.keys.stream: f"{self.position}-0"}
                self.store.client.xread(stream, count=1, block=self.block_ms)
                changes, position = _poll(self.store, self.keys, self.position)
                while len(changes) % BATCH == 0 and changes:
                    more, position = _poll(self.store, self.keys, position)
                    changes += more
                    if not more:
                        break
                with self.ready:
                    self.position = position
                    if changes:
                        self.changes += changes
                        self.revisions += [c.revision for c in changes]
                        if len(self.changes) > 2 * HUB_KEEP:
                            self.base = self.revisions[-HUB_KEEP - 1]
                            del self.changes[:-HUB_KEEP], self.revisions[:-HUB_KEEP]
                        self.ready.notify_all()
        except Exception:  # noqa: BLE001 - the watchers fall back to polling Redis themselves
            with self._lock:
                self._drop(key)
            with self.ready:
                self.failed = True
                self.ready.notify_all()

    def after(self, position: int, timeout: float) -> tuple[list[codec.Change], int] | None:
        """Changes after ``position`` (waiting up to ``timeout`` for one) and the new position;
        None when this hub cannot answer for ``position``."""
        with self.ready:
            if not self.failed and self.base <= position and self.position <= position:
                self.ready.wait_for(
                    lambda: self.failed or (bool(self.revisions) and self.revisions[-1] > position), timeout
                )
            if self.failed or position < self.base:
                return None
            start = bisect.bisect_right(self.revisions, position)
            return self.changes[start:], max(position, self.position)


os.register_at_fork(after_in_child=_Hub._forget_all)


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
        polled = True  # the changes came from our own poll (a full batch may mean more wait in Redis)
        hub = _Hub.join(store, keys, position, block_ms)
        try:
            while True:
                events = [e for e in (_event(c, prefix, predicate) for c in changes) if e is not None]
                for event in events[:-1]:
                    event.more = True
                yield from events
                if stop is not None and stop.is_set():
                    return
                if polled and len(changes) >= BATCH:
                    changes, position = _poll(store, keys, position)
                    continue
                shared = hub.after(position, heartbeat)
                polled = shared is None
                if shared is not None:
                    changes, position = shared
                    if stop is not None and stop.is_set():
                        return
                    if not changes:
                        yield None
                    continue
                woke = store.client.xread({keys.stream: f"{position}-0"}, count=1, block=block_ms)
                if stop is not None and stop.is_set():
                    return
                if not woke:
                    yield None
                    if stop is not None and stop.is_set():
                        return
                changes, position = _poll(store, keys, position)
        finally:
            hub.leave()

    return follow()
