"""Watches: replay then follow, no gaps or duplicates, compaction, predicate semantics."""

from __future__ import annotations

import threading
import time

import pytest

from cluster import errors
from cluster.store import Store, WatchEvent


def make(store: Store, name: str, ns: str = "ns", **labels: str) -> dict:
    return store.create(
        "pods", f"{ns}/{name}", {"metadata": {"name": name, "namespace": ns, "labels": labels}}
    )


def collect(events, count: int, timeout: float = 5.0) -> list[WatchEvent]:
    out: list[WatchEvent] = []
    deadline = time.monotonic() + timeout
    for event in events:
        if event is not None:
            out.append(event)
        if len(out) >= count or time.monotonic() > deadline:
            break
    return out


def test_replay_then_follow(store: Store) -> None:
    a = make(store, "a")
    start = int(a["metadata"]["resourceVersion"]) - 1
    store.update("pods", "ns/a", dict(a, spec={"v": 1}), None)
    stop = threading.Event()
    events = store.watch("pods", from_revision=start, heartbeat=0.05, stop=stop)
    threading.Timer(0.1, lambda: store.delete("pods", "ns/a")).start()
    got = collect(events, 3)
    assert [e.type for e in got] == ["ADDED", "MODIFIED", "DELETED"]
    assert [e.revision for e in got] == [start + 1, start + 2, start + 3]
    assert all(e.object["metadata"]["resourceVersion"] == str(e.revision) for e in got)
    stop.set()
    assert list(events) in ([], [None])  # ends once stop is set


def test_concurrent_writes_arrive_once_in_order(store: Store) -> None:
    start = store.current_revision()
    events = store.watch("pods", "ns", from_revision=start, heartbeat=0.05)
    writers = []
    for w in range(4):

        def write(w: int = w) -> None:
            for i in range(150):
                make(store, f"w{w}-{i}")
                store.create("services", f"ns/w{w}-{i}", {"metadata": {"name": "s"}})  # other resource

        writers.append(threading.Thread(target=write))
    # half the writes happen before the watch starts reading, half during
    for t in writers:
        t.start()
    got = collect(events, 600, timeout=20)
    for t in writers:
        t.join()
    events.close()
    assert len(got) == 600
    assert len({e.object["metadata"]["name"] for e in got}) == 600
    revisions = [e.revision for e in got]
    assert revisions == sorted(revisions)


def test_heartbeats_while_idle_and_namespace_filter(store: Store) -> None:
    events = store.watch("pods", "ns", from_revision=store.current_revision(), heartbeat=0.05)
    assert next(events) is None  # nothing happened: a heartbeat
    make(store, "other", ns="elsewhere")
    make(store, "mine")
    got = collect(events, 1)
    assert [e.object["metadata"]["name"] for e in got] == ["mine"]
    events.close()


def test_watch_from_compacted_revision_is_gone_immediately(store: Store) -> None:
    for i in range(5):
        make(store, f"p{i}")
    compacted = store.compact(keep=2)
    assert compacted == store.current_revision() - 2 == store.compacted_revision()
    with pytest.raises(errors.Gone) as info:
        store.watch("pods", from_revision=1)  # raised by the call, before any iteration
    assert info.value.code == 410
    assert info.value.message == f"too old resource version: 1 ({compacted})"
    events = store.watch("pods", from_revision=compacted, heartbeat=0.05)
    assert [e.object["metadata"]["name"] for e in collect(events, 2)] == ["p3", "p4"]
    events.close()


def test_predicate_turns_transitions_into_added_and_deleted(store: Store) -> None:
    start = store.current_revision()
    a = make(store, "a", app="web")
    make(store, "b", app="db")
    a = store.update("pods", "ns/a", dict(a, spec={"x": 1}), None)  # web -> web: MODIFIED
    a["metadata"]["labels"] = {"app": "db"}
    a = store.update("pods", "ns/a", a, None)  # web -> db: DELETED (object is the new one)
    a["metadata"]["labels"] = {"app": "web"}
    a = store.update("pods", "ns/a", a, None)  # db -> web: ADDED
    b = store.get("pods", "ns/b")
    store.update("pods", "ns/b", dict(b, spec={"y": 1}), None)  # db -> db: skipped
    store.delete("pods", "ns/b")  # db deleted: skipped
    store.delete("pods", "ns/a")  # web deleted: DELETED
    web = lambda obj: (obj["metadata"].get("labels") or {}).get("app") == "web"  # noqa: E731
    events = store.watch("pods", from_revision=start, predicate=web, heartbeat=0.05)
    got = collect(events, 5, timeout=1)
    events.close()
    assert [e.type for e in got] == ["ADDED", "MODIFIED", "DELETED", "ADDED", "DELETED"]
    assert got[2].object["metadata"]["labels"] == {"app": "db"}


def test_compact_keeps_recent_history_and_is_monotonic(store: Store) -> None:
    for i in range(4):
        make(store, f"p{i}")
    assert store.compact(keep=1) == store.current_revision() - 1
    before = store.compacted_revision()
    assert store.compact(keep=100) == before  # never goes backwards


def test_long_replay_crosses_batches_without_gaps(store: Store) -> None:
    start = store.current_revision()
    for i in range(1100):
        make(store, f"p{i:04d}")
    events = store.watch("pods", from_revision=start, heartbeat=0.05)
    got = collect(events, 1100)
    events.close()
    assert [e.revision for e in got] == list(range(start + 1, start + 1101))
