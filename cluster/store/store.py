"""``Store``: a revisioned, watchable key-value store on Redis (kubeq's etcd).

Every write takes the next value of one global revision counter and is published on the
resource's change stream in the same atomic step, so lists at a revision and watches from a
revision see exactly the committed history.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import redis

from cluster import errors, jsoncodec
from cluster.store import codec, connection, scripts
from cluster.store.consumer import CLAIM_IDLE_MS, Consumer, StreamChange
from cluster.store.listing import ListResult, list_at
from cluster.store.watching import WatchEvent, watch_changes

Predicate = Callable[[dict[str, Any]], bool]


class NamespaceTerminating(Exception):
    """A create into a namespace that is being deleted (the registry words the Kubernetes error)."""

    def __init__(self, namespace: str) -> None:
        super().__init__(namespace)
        self.namespace = namespace


@dataclass(frozen=True)
class Keys:
    """The Redis keys of one resource under a store prefix."""

    revision: str
    compacted: str
    objects: str
    index: str
    stream: str
    resources: str

    def all(self) -> list[str]:
        return [self.revision, self.compacted, self.objects, self.index, self.stream, self.resources]


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Store:
    """Objects of every resource, keyed ``ns/name`` (namespaced) or ``name`` (cluster-scoped).

    ``resource`` arguments are qualified plurals (``pods``, ``deployments.apps``). Errors are
    those of ``cluster.errors``: NotFound, AlreadyExists, Conflict (with ``current``), Gone,
    ResourceExpired, BadRequest.
    """

    def __init__(self, client: redis.Redis, prefix: str = "kubeq") -> None:
        self.client = client
        self.prefix = prefix
        self._create = client.register_script(scripts.CREATE)
        self._update = client.register_script(scripts.UPDATE)
        self._delete = client.register_script(scripts.DELETE)
        self._poll = client.register_script(scripts.POLL)
        self._compact = client.register_script(scripts.COMPACT)
        self._consumers: dict[tuple[str, str], Consumer] = {}
        self._consumers_lock = threading.Lock()

    @classmethod
    def from_url(cls, url: str, prefix: str = "kubeq") -> Store:
        """A store on a new client for ``url`` (responses decoded as UTF-8); ``url`` may be a
        ``redis+sentinel://`` URL (``cluster.store.connection``)."""
        return cls(connection.redis_client(url, decode_responses=True), prefix)

    def keys(self, resource: str) -> Keys:
        p = self.prefix
        return Keys(
            revision=f"{p}:revision",
            compacted=f"{p}:compacted",
            objects=f"{p}:obj:{resource}",
            index=f"{p}:idx:{resource}",
            stream=f"{p}:stream:{resource}",
            resources=f"{p}:resources",
        )

    # -- revisions ---------------------------------------------------------------------------

    def current_revision(self) -> int:
        """The revision of the last write (0 before any)."""
        return int(self.client.get(f"{self.prefix}:revision") or 0)

    def compacted_revision(self) -> int:
        """Changes up to and including this revision are no longer kept."""
        return int(self.client.get(f"{self.prefix}:compacted") or 0)

    def compact(self, keep: int) -> int:
        """Forget changes older than the last ``keep`` revisions; returns the compacted revision."""
        k = self.keys("")
        stream_prefix = k.stream
        return int(
            self._compact(keys=[k.revision, k.compacted, k.resources], args=[max(keep, 0), stream_prefix])
        )

    # -- writes ------------------------------------------------------------------------------

    def create(
        self, resource: str, key: str, obj: dict[str, Any], namespace: str | None = None
    ) -> dict[str, Any]:
        """Store a new object; returns it with uid, creationTimestamp, generation and resourceVersion.

        ``obj`` is not changed. With ``namespace``, the write happens only if that namespace exists
        and is not being deleted, checked in the same atomic step: NotFound (of the namespace) or
        ``NamespaceTerminating`` otherwise. Raises AlreadyExists if ``key`` is taken.
        """
        metadata = dict(obj.get("metadata") or {})
        metadata.setdefault("uid", str(uuid.uuid4()))
        metadata.setdefault("creationTimestamp", now_rfc3339())
        metadata.setdefault("generation", 1)
        keys = self.keys(resource)
        reply = self._create(
            keys=[*keys.all(), self.keys("namespaces").objects],
            args=[
                key,
                codec.template({**obj, "metadata": metadata}),
                codec.RV_PLACEHOLDER,
                resource,
                namespace or "",
            ],
        )
        status = int(reply[0])
        if status == 2:
            raise errors.not_found("namespaces", namespace or "")
        if status == 3:
            raise NamespaceTerminating(namespace or "")
        if status == 0:
            raise errors.already_exists(resource, codec.name_of(key))
        return codec.Change(0, "", key, codec.text(reply[1]), None).object()

    def update(self, resource: str, key: str, obj: dict[str, Any], expected_rv: int | None) -> dict[str, Any]:
        """Replace the object at ``key`` if its revision is ``expected_rv`` (None: any revision).

        Returns the stored object with its new resourceVersion. Raises NotFound, or Conflict
        carrying the current object.
        """
        reply = self._update(
            keys=self.keys(resource).all(),
            args=[key, codec.template(obj), codec.RV_PLACEHOLDER, resource, _expected(expected_rv)],
        )
        return self._write_result(resource, key, reply)

    def delete(self, resource: str, key: str, expected_rv: int | None = None) -> dict[str, Any]:
        """Remove the object at ``key``; returns it with resourceVersion = the deletion revision.

        Raises NotFound, or Conflict (with the current object) when ``expected_rv`` does not match.
        """
        reply = self._delete(
            keys=self.keys(resource).all(),
            args=[key, codec.RV_PLACEHOLDER, resource, _expected(expected_rv)],
        )
        return self._write_result(resource, key, reply)

    def guaranteed_update(
        self,
        resource: str,
        key: str,
        mutate: Callable[[dict[str, Any]], dict[str, Any] | None],
        retries: int = 20,
    ) -> dict[str, Any]:
        """Read, ``mutate(copy)``, write back with compare-and-swap; retry on Conflict.

        ``mutate`` returns the new object, or None for "no change" (the current object is returned
        without a write). Errors raised by ``mutate`` propagate. After ``retries`` conflicts in a
        row the last Conflict is raised.
        """
        last: errors.Conflict | None = None
        current = self.get(resource, key)
        for _ in range(max(retries, 1)):
            changed = mutate(jsoncodec.clone(current))
            if changed is None:
                return current
            try:
                return self.update(resource, key, changed, int(current["metadata"]["resourceVersion"]))
            except errors.Conflict as err:
                last = err
                current = err.current if err.current is not None else self.get(resource, key)
        assert last is not None
        raise last

    def _write_result(self, resource: str, key: str, reply: list[Any]) -> dict[str, Any]:
        status = int(reply[0])
        if status == 0:
            raise errors.not_found(resource, codec.name_of(key))
        if status == -1:
            _, current = codec.decode_stored(reply[1])
            raise errors.conflict(resource, codec.name_of(key), current=current)
        return codec.Change(0, "", key, codec.text(reply[1]), None).object()

    # -- reads -------------------------------------------------------------------------------

    def get(self, resource: str, key: str) -> dict[str, Any]:
        """The current object at ``key``. Raises NotFound."""
        value = self.client.hget(self.keys(resource).objects, key)
        if value is None:
            raise errors.not_found(resource, codec.name_of(key))
        return codec.decode_stored(value)[1]

    def get_many(
        self, keys: Sequence[tuple[str, str]], everything: Sequence[str] = ()
    ) -> tuple[list[dict[str, Any] | None], list[list[dict[str, Any]]]]:
        """In one round trip: the current object at each ``(resource, key)`` (None where missing), and
        every current object of each resource in ``everything`` (unordered, for small resources only).
        The reads are not one snapshot: each is current when Redis answers it."""
        pipe = self.client.pipeline(transaction=False)
        for resource, key in keys:
            pipe.hget(self.keys(resource).objects, key)
        for resource in everything:
            pipe.hvals(self.keys(resource).objects)
        replies = pipe.execute()
        found = [None if v is None else codec.decode_stored(v)[1] for v in replies[: len(keys)]]
        return found, [[codec.decode_stored(v)[1] for v in vs] for vs in replies[len(keys) :]]

    def list(
        self,
        resource: str,
        namespace: str | None = None,
        *,
        limit: int = 0,
        continue_token: str | None = None,
        revision: int | None = None,
        predicate: Predicate | None = None,
        raw: bool = False,
    ) -> ListResult:
        """Objects (of ``namespace`` if given) as of one revision, sorted by key.

        ``limit`` counts objects that pass ``predicate``; ``continue_token`` resumes a paged list at
        its revision (ResourceExpired when compacted since); ``revision`` lists the state at that
        revision (Gone when compacted). Without either, lists the current state. ``raw`` (only
        without a predicate): the items are encoded-JSON fragments for ``jsoncodec.dumpb``, not dicts.
        """
        return list_at(
            self,
            resource,
            namespace,
            limit=limit,
            continue_token=continue_token,
            revision=revision,
            predicate=predicate,
            raw=raw,
        )

    def watch(
        self,
        resource: str,
        namespace: str | None = None,
        from_revision: int = 0,
        *,
        predicate: Predicate | None = None,
        heartbeat: float = 1.0,
        stop: threading.Event | None = None,
    ) -> Iterator[WatchEvent | None]:
        """Every change with revision > ``from_revision``, in order, then follow new ones.

        Raises Gone at once (before anything is yielded) if ``from_revision`` is compacted. The
        iterator yields None every ``heartbeat`` seconds while idle and ends when ``stop`` is set.
        """
        return watch_changes(
            self,
            resource,
            namespace,
            from_revision,
            predicate=predicate,
            heartbeat=heartbeat,
            stop=stop,
        )

    # -- consumer groups ---------------------------------------------------------------------

    def consume(
        self,
        group: str,
        consumer: str,
        resources: list[str],
        count: int = 500,
        block_ms: int = 1000,
        claim_idle_ms: int = CLAIM_IDLE_MS,
    ) -> list[StreamChange]:
        """Changes of ``resources`` for ``consumer`` of ``group``; each change goes to one consumer.

        Own unacknowledged entries first (after a restart), then entries idle on other consumers
        longer than ``claim_idle_ms``, then new ones (blocking up to ``block_ms``); at most
        ``count`` per stream. Acknowledge with ``ack``. See ``cluster.store.consumer``.
        """
        with self._consumers_lock:
            state = self._consumers.get((group, consumer))
            if state is None:
                state = self._consumers[(group, consumer)] = Consumer(self, group, consumer)
        state.claim_idle_ms = claim_idle_ms
        return state.consume(resources, count, block_ms)

    def ack(self, group: str, entries: list[StreamChange]) -> int:
        """Acknowledge ``entries`` for ``group``; returns how many were still pending."""
        return Consumer(self, group, "").ack(entries)


def _expected(expected_rv: int | None) -> str:
    return "" if expected_rv is None else str(int(expected_rv))
