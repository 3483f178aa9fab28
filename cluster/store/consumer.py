"""Consumer groups over the resource change streams: every change handed to one consumer of a group.

A group (``XGROUP``) is created on a resource's stream the first time a consumer asks for that
resource and the stream exists; resources written for the first time later are picked up by a
later call (so the first change of a new resource may wait out one ``block_ms``). New groups start at the beginning of what the stream still holds (ID ``0``), not at
its end: a dispatcher of a fresh group replays the retained history once, which is harmless
because controllers are level-triggered, and it means a change written between "the cluster
started" and "the dispatcher joined" is never skipped.

``Consumer.consume`` returns, in this order of preference:

1. after a restart, this consumer's own pending entries (delivered earlier, never acknowledged),
   until they are all handed out once;
2. entries pending on any consumer of the group for longer than ``claim_idle_ms``
   (``XAUTOCLAIM``), so the work of a dead consumer is taken over (and an entry this consumer
   left unacknowledged is retried);
3. new entries (``XREADGROUP >``), blocking up to ``block_ms`` when there is nothing else.

Entries compaction removed before they were acknowledged are acknowledged silently and never
returned (the periodic resync repairs what they would have triggered).
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import redis

from cluster import jsoncodec
from cluster.store import codec

if TYPE_CHECKING:
    from cluster.store.store import Store

CLAIM_IDLE_MS = 30_000  # an entry pending this long belongs to a dead (or stuck) consumer


@dataclass(frozen=True)
class StreamChange:
    """One stream entry handed to a consumer; acknowledge it with ``Store.ack`` once handled."""

    resource: str  # qualified plural: "pods", "deployments.apps"
    id: str  # the entry ID, "<revision>-0"
    revision: int
    type: str  # ADDED | MODIFIED | DELETED
    object: dict[str, Any]
    prev: dict[str, Any] | None  # the object before a MODIFIED/DELETED change
    redelivered: bool = False  # handed out before without an ack (its consumer died or failed)


@dataclass
class _StreamState:
    pending_cursor: str | None = "0"  # None once this consumer's old pending entries were handed out
    claim_cursor: str = "0-0"


@dataclass
class Consumer:
    """One named consumer of one group; keep one per process (``Store.consume`` does)."""

    store: Store
    group: str
    name: str
    claim_idle_ms: int = CLAIM_IDLE_MS
    _streams: dict[str, _StreamState] = field(default_factory=dict)  # resource -> state, group ensured
    _last_claim: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def consume(self, resources: Iterable[str], count: int = 500, block_ms: int = 1000) -> list[StreamChange]:
        """Up to ``count`` entries per stream of ``resources`` (see the module text for the order).

        Returns [] after ``block_ms`` with nothing to hand out. Entries come sorted by revision.
        """
        with self._lock:
            resources = list(dict.fromkeys(resources))
            self._ensure_groups([r for r in resources if r not in self._streams])
            known = [r for r in resources if r in self._streams]
            if not known:
                if block_ms > 0:
                    time.sleep(block_ms / 1000)
                return []
            try:
                out = self._own_pending(known, count)
                if out is None:
                    out = self._claim(known, count) if self._claim_due() else []
                    out = [dataclasses.replace(c, redelivered=True) for c in out]
                    out += self._new(known, count, block_ms if not out else 0)
                else:
                    out = [dataclasses.replace(c, redelivered=True) for c in out]
            except redis.ResponseError as err:
                if "NOGROUP" not in str(err):
                    raise
                self._streams.clear()  # a stream was removed under us: recreate groups next time
                return []
            return sorted(out, key=lambda c: c.revision)

    def ack(self, entries: Iterable[StreamChange]) -> int:
        """Acknowledge ``entries``; returns how many were still pending."""
        by_resource: dict[str, list[str]] = {}
        for entry in entries:
            by_resource.setdefault(entry.resource, []).append(entry.id)
        if not by_resource:
            return 0
        pipe = self.store.client.pipeline(transaction=False)
        for resource, ids in by_resource.items():
            pipe.xack(self._stream(resource), self.group, *ids)
        return sum(int(n) for n in pipe.execute())

    # -- steps -------------------------------------------------------------------------------

    def _stream(self, resource: str) -> str:
        return self.store.keys(resource).stream

    def _ensure_groups(self, resources: list[str]) -> None:
        """Create the group on every existing stream of ``resources``; skip streams not written yet."""
        if not resources:
            return
        pipe = self.store.client.pipeline(transaction=False)
        for resource in resources:
            pipe.xgroup_create(self._stream(resource), self.group, id="0")
        for resource, reply in zip(resources, pipe.execute(raise_on_error=False), strict=True):
            if not isinstance(reply, Exception) or "BUSYGROUP" in str(reply):
                self._streams[resource] = _StreamState()
            elif "requires the key to exist" not in str(reply):
                raise reply

    def _own_pending(self, resources: list[str], count: int) -> list[StreamChange] | None:
        """This consumer's entries delivered before and never acknowledged; None once all handed out."""
        reading = {r: self._streams[r].pending_cursor for r in resources}
        reading = {r: cursor for r, cursor in reading.items() if cursor is not None}
        if not reading:
            return None
        reply = self.store.client.xreadgroup(
            self.group, self.name, {self._stream(r): c for r, c in reading.items()}, count=count
        )
        got = self._decode(reply)
        for resource in reading:
            entries = got.get(resource, [])
            # fewer than asked for: that was the last of them
            self._streams[resource].pending_cursor = entries[-1][0] if len(entries) == count else None
        out = self._changes(got)
        if not out and all(self._streams[r].pending_cursor is None for r in reading):
            return None
        return out

    def _claim_due(self) -> bool:
        every = min(self.claim_idle_ms / 2000, 5.0)
        now = time.monotonic()
        if now - self._last_claim < every:
            return False
        self._last_claim = now
        return True

    def _claim(self, resources: list[str], count: int) -> list[StreamChange]:
        """Take over entries idle longer than ``claim_idle_ms`` on any consumer of the group."""
        self._ack_compacted(resources)
        got: dict[str, list[tuple[str, dict[str, str] | None]]] = {}
        for resource in resources:
            state = self._streams[resource]
            reply = self.store.client.xautoclaim(
                self._stream(resource),
                self.group,
                self.name,
                min_idle_time=self.claim_idle_ms,
                start_id=state.claim_cursor,
                count=count,
            )
            state.claim_cursor = codec.text(reply[0])
            # Redis 6.2 answers (None, None) for claimed IDs that compaction removed; the next
            # _ack_compacted acknowledges those.
            got[resource] = [(codec.text(i), _fields(f)) for i, f in reply[1] if i is not None]
        return self._changes(got)

    def _ack_compacted(self, resources: list[str]) -> None:
        """Acknowledge pending entries at or below the compacted revision: they no longer exist."""
        compacted = self.store.compacted_revision()
        if compacted <= 0:
            return
        for resource in resources:
            stream = self._stream(resource)
            while True:
                rows = self.store.client.xpending_range(stream, self.group, "-", f"{compacted}-0", 1000)
                if not rows:
                    break
                self.store.client.xack(stream, self.group, *[r["message_id"] for r in rows])
                if len(rows) < 1000:
                    break

    def _new(self, resources: list[str], count: int, block_ms: int) -> list[StreamChange]:
        reply = self.store.client.xreadgroup(
            self.group,
            self.name,
            {self._stream(r): ">" for r in resources},
            count=count,
            block=block_ms if block_ms > 0 else None,
        )
        return self._changes(self._decode(reply))

    # -- decoding ----------------------------------------------------------------------------

    def _decode(self, reply: Any) -> dict[str, list[tuple[str, dict[str, str] | None]]]:
        """XREADGROUP reply -> {resource: [(id, fields or None when the entry is gone)]}."""
        prefix = self.store.keys("").stream
        out: dict[str, list[tuple[str, dict[str, str] | None]]] = {}
        for stream, entries in reply or []:
            resource = codec.text(stream)[len(prefix) :]
            out[resource] = [(codec.text(i), _fields(f)) for i, f in entries]
        return out

    def _changes(self, got: dict[str, list[tuple[str, dict[str, str] | None]]]) -> list[StreamChange]:
        """Decode entries; acknowledge the ones compaction removed (no fields) and drop them."""
        out: list[StreamChange] = []
        gone: list[StreamChange] = []
        for resource, entries in got.items():
            for entry_id, fields in entries:
                revision = int(entry_id.partition("-")[0])
                if not fields:
                    gone.append(StreamChange(resource, entry_id, revision, "", {}, None))
                    continue
                prev = fields.get("prev")
                out.append(
                    StreamChange(
                        resource=resource,
                        id=entry_id,
                        revision=revision,
                        type=fields["type"],
                        object=jsoncodec.loads(fields["obj"]),
                        prev=jsoncodec.loads(prev) if prev is not None else None,
                    )
                )
        if gone:
            self.ack(gone)
        return out


def _fields(raw: Any) -> dict[str, str] | None:
    if not raw:
        return None
    return {codec.text(k): codec.text(v) for k, v in raw.items()}
