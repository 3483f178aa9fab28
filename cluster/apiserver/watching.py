"""Watch streams: one JSON event per line, bookmarks, timeouts, 410 as an ERROR event."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from typing import Any

from cluster import errors
from cluster.api.resources import Resource
from cluster.apiserver import codecs
from cluster.registry import ListQuery, Registry

Obj = dict[str, Any]
BOOKMARK_EVERY = 10.0  # seconds between bookmarks on an idle stream
DEFAULT_TIMEOUT = 1800  # kube-apiserver's --min-request-timeout; each watch gets up to twice that


def _line(event_type: str, obj: Obj) -> bytes:
    return codecs.encode_json({"type": event_type, "object": obj}) + b"\n"


def _raw_line(event_type: str, raw: str) -> bytes:
    """The same line as ``_line`` from the object's stored JSON text (compact, kind included)."""
    return b'{"type":"' + event_type.encode() + b'","object":' + raw.encode("utf-8") + b"}\n"


def stream(
    registry: Registry,
    resource: Resource,
    namespace: str | None,
    query: ListQuery,
    timeout_seconds: float | None,
    bookmarks: bool,
    heartbeat: float,
    render: Callable[[Obj, bool], Obj] | None = None,
) -> Iterator[bytes]:
    """The body of a watch response.

    ``render(obj, first)`` may turn objects into Tables. A compacted start revision ends the
    stream with an ERROR event holding a 410 ``Expired`` Status, which makes clients re-list.
    """
    timeout = (
        timeout_seconds
        if timeout_seconds and timeout_seconds > 0
        else DEFAULT_TIMEOUT * (1 + random.random())
    )
    deadline = time.monotonic() + timeout
    last_rv = query.resource_version or "0"
    last_sent = time.monotonic()
    first = True
    events = registry.watch(resource, namespace, query, heartbeat=heartbeat)
    yield b""  # sends the response headers now: clients wait for them before the first event
    pending: list[bytes] = []  # lines held back while more events follow at once: one write for all
    try:
        while True:
            try:
                event = next(events)
            except StopIteration:
                if pending:
                    yield b"".join(pending)
                return
            except (errors.Gone, errors.ResourceExpired) as exc:
                pending.append(_line("ERROR", errors.Gone(str(exc)).to_status()))
                yield b"".join(pending)
                return
            now = time.monotonic()
            if event is not None:
                if render is not None:
                    pending.append(_line(event.type, render(event.object, first)))
                elif event.raw is not None:
                    pending.append(_raw_line(event.type, event.raw))
                else:
                    pending.append(_line(event.type, event.object))
                first = False
                last_rv = str(event.revision)
                last_sent = now
                if not event.more or now >= deadline:
                    yield b"".join(pending)
                    pending = []
            elif bookmarks and now - last_sent >= BOOKMARK_EVERY and last_rv != "0":
                last_sent = now
                yield _line(
                    "BOOKMARK",
                    {
                        "kind": resource.kind,
                        "apiVersion": resource.api_version,
                        "metadata": {"resourceVersion": last_rv},
                    },
                )
            if now >= deadline:
                return
    finally:
        events.close()
