"""Consumer groups: restart re-delivery, shared work without duplicates, takeover, new streams, compaction."""

from __future__ import annotations

import threading
import time

from cluster.store import Store, StreamChange

GROUP = "g"


def make(store: Store, name: str, resource: str = "pods") -> dict:
    return store.create(resource, f"ns/{name}", {"metadata": {"name": name, "namespace": "ns"}})


def restarted(store: Store) -> Store:
    """A new Store on the same Redis keys: what a restarted process has (no in-memory state)."""
    return Store(store.client, store.prefix)


def names(changes: list[StreamChange]) -> list[str]:
    return [c.object["metadata"]["name"] for c in changes]


def drain(store: Store, consumer: str, resources: list[str], **kw: int) -> list[StreamChange]:
    """Consume and acknowledge until a call returns nothing."""
    out: list[StreamChange] = []
    while batch := store.consume(GROUP, consumer, resources, block_ms=kw.pop("block_ms", 10), **kw):
        store.ack(GROUP, batch)
        out += batch
    return out


def pending_count(store: Store, resource: str = "pods") -> int:
    return int(store.client.xpending(store.keys(resource).stream, GROUP)["pending"])


def test_changes_arrive_decoded_in_revision_order_and_acked_ones_never_return(store: Store) -> None:
    a = make(store, "a")
    make(store, "s", "services")
    store.update("pods", "ns/a", dict(a, spec={"x": 1}), None)
    store.delete("pods", "ns/a")
    got = store.consume(GROUP, "c1", ["pods", "services"], block_ms=10)
    assert [(c.resource, c.type) for c in got] == [
        ("pods", "ADDED"),
        ("services", "ADDED"),
        ("pods", "MODIFIED"),
        ("pods", "DELETED"),
    ]
    assert [c.revision for c in got] == sorted(c.revision for c in got)
    assert all(c.id == f"{c.revision}-0" for c in got)
    assert got[0].prev is None and got[2].prev == got[0].object and got[2].object["spec"] == {"x": 1}
    assert got[3].object["metadata"]["resourceVersion"] == str(got[3].revision)
    assert store.ack(GROUP, got) == 4
    assert store.consume(GROUP, "c1", ["pods", "services"], block_ms=10) == []
    # not after a restart, nor when another consumer claims everything idle
    assert restarted(store).consume(GROUP, "c1", ["pods", "services"], block_ms=10) == []
    assert store.consume(GROUP, "c2", ["pods", "services"], block_ms=10, claim_idle_ms=0) == []


def test_unacked_entries_return_first_after_a_restart(store: Store) -> None:
    for i in range(5):
        make(store, f"p{i}")
    got = store.consume(GROUP, "c1", ["pods"], block_ms=10)
    assert names(got) == [f"p{i}" for i in range(5)]
    store.ack(GROUP, got[:2])  # then the consumer "crashes" before acknowledging the rest
    make(store, "p5")
    again = restarted(store)
    first = again.consume(GROUP, "c1", ["pods"], block_ms=10)
    assert names(first) == ["p2", "p3", "p4"]  # own pending entries, before anything new
    again.ack(GROUP, first)
    assert names(drain(again, "c1", ["pods"])) == ["p5"]
    assert pending_count(store) == 0


def test_pending_entries_are_handed_out_once_in_pages(store: Store) -> None:
    for i in range(7):
        make(store, f"p{i}")
    store.consume(GROUP, "c1", ["pods"], block_ms=10)  # delivered, never acked
    again = restarted(store)
    pages = [again.consume(GROUP, "c1", ["pods"], count=3, block_ms=10) for _ in range(4)]
    assert [names(p) for p in pages] == [["p0", "p1", "p2"], ["p3", "p4", "p5"], ["p6"], []]


def test_two_consumers_share_the_work_without_duplicates(store: Store) -> None:
    seen: dict[str, list[str]] = {"c1": [], "c2": []}
    stop = threading.Event()

    def run(name: str) -> None:
        mine = restarted(store)  # each consumer its own Store, as in its own process
        while not stop.is_set():
            batch = mine.consume(GROUP, name, ["pods", "services"], count=20, block_ms=20)
            seen[name] += [f"{c.resource}/{c.object['metadata']['name']}" for c in batch]
            mine.ack(GROUP, batch)

    make(store, "early")  # before the group exists: replayed from the stream's start
    threads = [threading.Thread(target=run, args=(n,)) for n in seen]
    for t in threads:
        t.start()
    for i in range(300):
        make(store, f"p{i}", "pods" if i % 3 else "services")
    deadline = time.monotonic() + 10
    while len(seen["c1"]) + len(seen["c2"]) < 301 and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.1)
    stop.set()
    for t in threads:
        t.join()
    everything = seen["c1"] + seen["c2"]
    assert len(everything) == 301 and len(set(everything)) == 301
    assert seen["c1"] and seen["c2"]  # both took part
    assert pending_count(store) == 0 and pending_count(store, "services") == 0


def test_a_dead_consumers_entries_are_taken_over_once_idle(store: Store) -> None:
    for i in range(4):
        make(store, f"p{i}")
    assert len(store.consume(GROUP, "dead", ["pods"], block_ms=10)) == 4  # and it dies: no ack
    make(store, "p4")
    other = restarted(store)
    # not idle long enough yet: only the new entry
    fresh = other.consume(GROUP, "alive", ["pods"], block_ms=10, claim_idle_ms=60_000)
    assert names(fresh) == ["p4"]
    other.ack(GROUP, fresh)
    time.sleep(0.15)
    claimer = restarted(store)
    taken = claimer.consume(GROUP, "alive2", ["pods"], block_ms=10, claim_idle_ms=100)
    assert names(taken) == ["p0", "p1", "p2", "p3"]
    rows = store.client.xpending_range(store.keys("pods").stream, GROUP, "-", "+", 10)
    assert [r["consumer"] for r in rows] == ["alive2"] * 4  # now the claimer's to acknowledge
    claimer.ack(GROUP, taken)
    assert pending_count(store) == 0


def test_streams_written_for_the_first_time_later_are_picked_up(store: Store) -> None:
    make(store, "a")
    assert names(drain(store, "c1", ["pods", "configmaps"])) == ["a"]  # no configmaps stream yet
    assert not store.client.exists(store.keys("configmaps").stream)  # consuming did not create it
    make(store, "cm", "configmaps")
    assert [(c.resource, c.type) for c in drain(store, "c1", ["pods", "configmaps"])] == [
        ("configmaps", "ADDED")
    ]


def test_a_blocked_consume_wakes_on_a_write(store: Store) -> None:
    make(store, "a")
    drain(store, "c1", ["pods"])
    threading.Timer(0.1, lambda: make(store, "b")).start()
    start = time.monotonic()
    got = store.consume(GROUP, "c1", ["pods"], block_ms=3000)
    assert names(got) == ["b"] and time.monotonic() - start < 2
    start = time.monotonic()
    store.ack(GROUP, got)
    assert store.consume(GROUP, "c1", ["pods"], block_ms=200) == []
    assert time.monotonic() - start >= 0.15


def test_compaction_of_unread_and_pending_entries_does_not_break_consumers(store: Store) -> None:
    for i in range(6):
        make(store, f"p{i}")
    store.consume(GROUP, "c1", ["pods"], count=2, block_ms=10)  # p0, p1 pending; p2.. unread
    store.compact(keep=2)  # removes p0..p3, both pending and unread ones
    again = restarted(store)
    assert names(drain(again, "c1", ["pods"])) == ["p4", "p5"]
    assert pending_count(store) == 0  # the vanished pending entries were acknowledged away
    # the same through a takeover by another consumer
    for i in range(6, 10):
        make(store, f"p{i}")
    store.consume(GROUP, "c1", ["pods"], block_ms=10)  # p6..p9 pending on c1
    store.compact(keep=1)
    taken = restarted(store).consume(GROUP, "c2", ["pods"], block_ms=10, claim_idle_ms=0)
    assert names(taken) == ["p9"]
    store.ack(GROUP, taken)
    assert pending_count(store) == 0
