"""Reservation tables: which Service holds which ClusterIP or NodePort, kept in the store.

A reservation is a small object in an internal (not served) store resource, keyed by the value
it reserves (``10.96.4.7``, ``30080``), naming its owner Service by key and uid. Taking a value is
the store's create-if-absent, so two Services can never hold one value, whatever the timing. The
Services themselves are the truth: ``repair`` compares the table with them and frees what no
Service uses (a crash between reserving and writing the Service), once it is older than a grace
period so that a write still in flight keeps its reservation.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cluster import errors
from cluster.store import Store

SERVICE_IPS = "serviceipallocations.kubeq.io"
NODE_PORTS = "nodeportallocations.kubeq.io"


@dataclass(frozen=True)
class Owner:
    """The Service holding a reservation: its store key (``ns/name``) and uid."""

    key: str
    uid: str


class Reservations:
    """The reservations of one table (``SERVICE_IPS`` or ``NODE_PORTS``) in ``store``."""

    def __init__(self, store: Store, resource: str) -> None:
        self.store = store
        self.resource = resource

    def reserve(self, value: str, owner: Owner) -> str:
        """Reserve ``value`` for ``owner``: ``"new"``, ``"held"`` (theirs already) or ``"taken"``."""
        record = {
            "metadata": {"name": value},
            "owner": {"key": owner.key, "uid": owner.uid},
            "reservedAt": time.time(),
        }
        try:
            self.store.create(self.resource, value, record)
            return "new"
        except errors.AlreadyExists:
            return "held" if self.holder(value) == owner else "taken"

    def take(self, value: str, owner: Owner) -> bool:
        """Reserve ``value`` for ``owner``; True if it is now (or already was) theirs, False if taken."""
        return self.reserve(value, owner) != "taken"

    def holder(self, value: str) -> Owner | None:
        """Who holds ``value`` (None when free)."""
        try:
            record = self.store.get(self.resource, value)
        except errors.NotFound:
            return None
        return _owner(record)

    def release(self, value: str, owner: Owner) -> bool:
        """Free ``value`` if ``owner`` holds it; True if it was freed."""
        try:
            record = self.store.get(self.resource, value)
        except errors.NotFound:
            return False
        if _owner(record) != owner:
            return False
        return self._delete(record)

    def records(self) -> list[dict[str, Any]]:
        """Every reservation record."""
        return self.store.list(self.resource).items

    def taken(self) -> set[str]:
        """The reserved values."""
        return {r["metadata"]["name"] for r in self.records()}

    def _delete(self, record: dict[str, Any]) -> bool:
        md = record["metadata"]
        try:
            self.store.delete(self.resource, md["name"], int(md["resourceVersion"]))
        except (errors.NotFound, errors.Conflict):  # freed or re-taken meanwhile: not ours to free
            return False
        return True

    def repair(self, in_use: dict[str, Owner], grace: float) -> dict[str, list[str]]:
        """Make the table match ``in_use`` (value -> owner, from the stored Services).

        Frees reservations no Service uses once older than ``grace`` seconds, records values a
        Service uses without a reservation, and reports values reserved by one Service but used by
        another (``conflicts``; left alone). Returns ``{"freed", "recorded", "conflicts"}`` lists.
        """
        report: dict[str, list[str]] = {"freed": [], "recorded": [], "conflicts": []}
        now = time.time()
        seen: set[str] = set()
        for record in self.records():
            value = record["metadata"]["name"]
            seen.add(value)
            user = in_use.get(value)
            if user is not None:
                if _owner(record) != user:
                    report["conflicts"].append(value)
                continue
            if now - float(record.get("reservedAt") or 0) >= grace and self._delete(record):
                report["freed"].append(value)
        for value, user in in_use.items():
            if value not in seen and self.take(value, user):
                report["recorded"].append(value)
        return report


def _owner(record: dict[str, Any]) -> Owner:
    owner = record.get("owner") or {}
    return Owner(str(owner.get("key", "")), str(owner.get("uid", "")))


@dataclass
class Allocation:
    """What one Service write reserved and what it gives back once the write is stored.

    ``commit()`` after the store write frees the values the Service no longer uses; ``abort()``
    after a failed write frees what this write reserved. With ``dry_run`` nothing is reserved.
    """

    owner: Owner
    dry_run: bool = False
    taken: list[tuple[Reservations, str]] = field(default_factory=list)
    released: list[tuple[Reservations, str]] = field(default_factory=list)

    def take(self, table: Reservations, value: str) -> bool:
        """Reserve ``value`` (only check it is free under dry run); False if another Service holds it."""
        if self.dry_run:
            return table.holder(value) in (None, self.owner)
        outcome = table.reserve(value, self.owner)
        if outcome == "new":
            self.taken.append((table, value))
        return outcome != "taken"

    def release_later(self, table: Reservations, value: str) -> None:
        self.released.append((table, value))

    def commit(self) -> None:
        if not self.dry_run:
            for table, value in self.released:
                table.release(value, self.owner)

    def abort(self) -> None:
        for table, value in self.taken:
            table.release(value, self.owner)
        self.taken.clear()


def pick_offset(size: int, band: int, free: Callable[[int], bool]) -> int | None:
    """A random offset in ``[0, size)`` for which ``free(offset)``: above the static ``band`` first
    (left for explicit requests while the rest has room), then inside it; None when all are taken."""
    band = band if size > band else 0
    for low, high in ((band, size), (0, band)):
        span = high - low
        if span <= 0:
            continue
        start = random.randrange(span)
        for step in range(span):
            offset = low + (start + step) % span
            if free(offset):
                return offset
    return None
