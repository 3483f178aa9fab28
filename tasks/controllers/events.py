"""Event expiry: Events older than ``EVENT_TTL`` (one hour, as kube-apiserver's ``--event-ttl``) go.

Kubernetes gives each Event an etcd lease; here the periodic resync offers the keys of the Events
whose last occurrence is older than the TTL and ``sync`` deletes each one that is still that old.
So an Event lives between TTL and TTL + the resync interval. Nothing watches Events: an Event
write never costs a work-queue key.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from cluster import errors
from tasks.controllers.base import KeyedController, key_of, split_key
from tasks.controllers.pods import parse_time
from tasks.runtime.controller import Context
from tasks.runtime.events import EVENT_TTL, EVENTS

Obj = dict[str, Any]


def ttl() -> float:
    """The Event TTL in seconds (``$KUBEQ_EVENT_TTL`` overrides the one-hour default)."""
    return float(os.environ.get("KUBEQ_EVENT_TTL", EVENT_TTL))


def last_seen(event: Obj) -> datetime:
    """When the Event last happened (lastTimestamp, eventTime, series or creation time)."""
    series = event.get("series") or {}
    for stamp in (
        series.get("lastObservedTime"),
        event.get("lastTimestamp"),
        event.get("eventTime"),
        event["metadata"].get("creationTimestamp"),
    ):
        if stamp:
            return parse_time(stamp)
    return datetime.now(UTC)


def expired(event: Obj, now: datetime | None = None) -> bool:
    return ((now or datetime.now(UTC)) - last_seen(event)).total_seconds() >= ttl()


class EventTTLController(KeyedController):
    """Deletes expired Events, offered by the periodic resync."""

    name = "eventttl"
    resource = EVENTS

    def resync_keys(self, ctx: Context) -> Iterable[str]:
        now = datetime.now(UTC)
        return [key_of(ev) for ev in ctx.client.list(EVENTS).get("items", []) if expired(ev, now)]

    def sync(self, key: str, ctx: Context) -> float | None:
        event = self.get(ctx, key)
        if event is None or not expired(event):
            return None
        namespace, name = split_key(key)
        try:
            ctx.client.delete(
                EVENTS,
                name,
                namespace,
                preconditions={"resourceVersion": event["metadata"]["resourceVersion"]},
            )
        except (errors.NotFound, errors.Conflict):  # gone already, or counted again meanwhile
            pass
        return None
