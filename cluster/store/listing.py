"""Consistent lists at one revision, with paging.

A list reads the resource in key-ordered chunks. Each chunk takes the current keys of a key
range, then atomically their current objects plus every change after the list's revision R, and
rolls those changes back (newest first, using each change's ``prev``) so that the chunk shows the
range as it was at R. Chunks after the first are pinned to the same R, as are pages resumed with a continue token.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cluster import errors, jsoncodec
from cluster.store import codec

if TYPE_CHECKING:
    from cluster.store.store import Store

CHUNK = 1000
CONTINUE_TOO_OLD = (
    "The provided continue parameter is too old to display a consistent list result. "
    "You can start a new list without the continue parameter."
)


@dataclass
class ListResult:
    """One page: ``items`` as of ``revision``; ``continue_token`` when more follow; ``remaining``
    counts the objects after this page when known (lists without a predicate)."""

    items: list[dict[str, Any]]
    revision: int
    continue_token: str | None
    remaining: int | None


@dataclass
class _Entry:
    key: str
    raw: str
    stored: bool  # raw is "<rev>\n<template>" (True) or plain JSON from a change's prev (False)

    def object(self) -> dict[str, Any]:
        return codec.decode_stored(self.raw)[1] if self.stored else jsoncodec.loads(self.raw)

    def fragment(self) -> Any:
        """The object as encoded JSON, never parsed (see ``list_at``'s ``raw``)."""
        return jsoncodec.fragment(codec.stored_json(self.raw) if self.stored else self.raw)


class _Pager:
    """Walks the keys of one resource range in order, as they were at one revision."""

    def __init__(self, store: Store, resource: str, namespace: str | None, revision: str, chunk: int):
        self.store = store
        self.keys = store.keys(resource)
        self.prefix = f"{namespace}/" if namespace else ""
        self.revision = revision  # "" until the first chunk pins it
        self.chunk = chunk
        self.from_token = False

    def _bounds(self, after: str | None) -> tuple[str, str]:
        upper = "(" + self.prefix[:-1] + "0" if self.prefix else "+"
        if after is not None and after >= self.prefix:
            return "(" + after, upper
        return ("[" + self.prefix if self.prefix else "-"), upper

    def _in_range(self, key: str, after: str | None, upto: str | None) -> bool:
        return (
            key.startswith(self.prefix) and (after is None or key > after) and (upto is None or key <= upto)
        )

    def _pin(self, current: int, compacted: int) -> int:
        """Pin and return the list's revision R (``current`` on the first read): ``Timeout`` when R is
        not reached yet, ``ResourceExpired`` (continue tokens) or ``Gone`` when changes after R are
        compacted away."""
        rev = int(self.revision) if self.revision else current
        if rev > current:
            raise errors.Timeout(f"Too large resource version: {rev}, current: {current}")
        if rev < compacted:
            if self.from_token:
                raise errors.ResourceExpired(CONTINUE_TOO_OLD)
            raise errors.Gone(f"too old resource version: {rev} ({compacted})")
        self.revision = str(rev)
        return rev

    def _read(self, low: str, high: str) -> tuple[list[str], list[Any], list[Any], int]:
        """(up to ``chunk`` current keys of [low, high], their stored values, the changes after R,
        the number of current keys in [low, high]); pins R.

        Two transactions: the keys, then their values with the changes after R. Values and changes
        are read atomically together, so rolling the changes back gives each key's value at R; a key
        created or deleted between the two shows up among the changes. Plain commands rather than
        one Lua script: Redis hands bulk values to a client several times faster than to Lua.
        """
        k = self.keys
        pipe = self.store.client.pipeline(transaction=True)
        pipe.get(k.revision).get(k.compacted).zrangebylex(k.index, low, high, start=0, num=self.chunk)
        current, compacted, keys = pipe.execute()
        rev = self._pin(int(current or 0), int(compacted or 0))
        pipe.get(k.compacted)
        if keys:
            pipe.hmget(k.objects, keys)
        pipe.xrange(k.stream, f"{rev + 1}-0", "+").zlexcount(k.index, low, high)
        reply = pipe.execute()
        self._pin(rev, int(reply[0] or 0))  # not compacted past R since the keys were read
        values = reply[1] if keys else []
        return keys, values, reply[-2], int(reply[-1])

    def _fetch(self, after: str | None) -> tuple[list[_Entry], bool, int]:
        """Entries at R in (after, ...]: the sorted entries, whether more may follow, and the count
        of every key at R after ``after`` (to the end of the range)."""
        low, high = self._bounds(after)
        raw_keys, values, raw_changes, count = self._read(low, high)
        keys = [codec.text(k) for k in raw_keys]
        state = {
            k: _Entry(k, codec.text(v), True) for k, v in zip(keys, values, strict=True) if v is not None
        }
        full = len(keys) == self.chunk
        upto = keys[-1] if full else None
        changes = [c for c in codec.decode_changes(raw_changes) if self._in_range(c.key, after, None)]
        # Existence at R vs now for every changed key after `after`, to count the range at R.
        delta: dict[str, int] = {}
        for change in changes:
            if change.key not in delta:
                delta[change.key] = 0 if change.type == "ADDED" else 1
        for change in reversed(changes):
            if upto is not None and change.key > upto:
                continue
            if change.prev is None:
                state.pop(change.key, None)
            else:
                state[change.key] = _Entry(change.key, change.prev, False)
        now_present = {c.key: c.type != "DELETED" for c in changes}
        total = count + sum(delta[k] - int(now_present[k]) for k in delta)
        return [state[k] for k in sorted(state)], full, total

    def walk(self, after: str | None) -> Iterator[tuple[_Entry, int]]:
        """Yield (entry, number of keys at R after this entry) from just after ``after`` on."""
        while True:
            entries, full, total = self._fetch(after)
            for position, entry in enumerate(entries):
                yield entry, total - position - 1
            if not full or not entries:
                return
            after = entries[-1].key


def list_at(
    store: Store,
    resource: str,
    namespace: str | None,
    *,
    limit: int = 0,
    continue_token: str | None = None,
    revision: int | None = None,
    predicate: Callable[[dict[str, Any]], bool] | None = None,
    raw: bool = False,
) -> ListResult:
    """See ``Store.list``."""
    if continue_token and revision:
        raise errors.BadRequest("specifying resource version is not allowed when using continue")
    after: str | None = None
    pinned = ""
    if continue_token:
        rev, after = codec.decode_continue(continue_token)
        pinned = str(rev)
    elif revision:
        pinned = str(int(revision))
    limit = max(int(limit or 0), 0)
    chunk = min(max(limit + 1, 50), CHUNK) if limit and predicate is None else CHUNK
    pager = _Pager(store, resource, namespace, pinned, chunk)
    pager.from_token = bool(continue_token)
    items: list[dict[str, Any]] = []
    last_key: str | None = None
    more = False
    remaining: int | None = None
    for entry, after_this in pager.walk(after):
        if limit and len(items) == limit:
            if predicate is None:
                more, remaining = True, after_this + 1
                break
            if predicate(entry.object()):
                more = True
                break
            continue
        if raw and predicate is None:
            items.append(entry.fragment())
            last_key = entry.key
            continue
        obj = entry.object()
        if predicate is not None and not predicate(obj):
            continue
        items.append(obj)
        last_key = entry.key
    token = codec.encode_continue(int(pager.revision), last_key) if more and last_key is not None else None
    return ListResult(items, int(pager.revision), token, remaining if token else None)
