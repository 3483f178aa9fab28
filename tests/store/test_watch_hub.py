"""Shared watch reader (``_Hub``): many watches, one Redis reader; laggards and old revisions still
see every change in order; compacted revisions are Gone; the reader ends with its last watch."""

from __future__ import annotations

import gc
import threading
import time
import uuid
from collections.abc import Iterator

import pytest

from cluster import errors
from cluster.store import Store, WatchEvent, watching
from cluster.store.connection import redis_client

HEARTBEAT = 0.05


def make(store: Store, name: str) -> dict:
    return store.create("pods", f"ns/{name}", {"metadata": {"name": name, "namespace": "ns"}})


def write(store: Store, count: int, tag: str = "p") -> list[int]:
    """``count`` creates; their revisions."""
    return [int(make(store, f"{tag}{i:05d}")["metadata"]["resourceVersion"]) for i in range(count)]


def next_event(events: Iterator[WatchEvent | None]) -> WatchEvent:
    """The next event of a watch, skipping heartbeats."""
    return next(e for e in events if e is not None)


def hub_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name == "watch-hub"}


def wait_for(condition, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


def hub_of(store: Store) -> watching._Hub | None:
    """The live shared reader of ``store``'s pods stream (used only to check a test's premise)."""
    stream = store.keys("pods").stream
    for (_, client_id, key), hub in list(watching._Hub._hubs.items()):
        if key == stream and client_id == id(store.client):
            return hub
    return None


class Watcher(threading.Thread):
    """Consumes a watch in its own thread until ``want`` events arrived (or ``timeout``).

    ``ready`` is set on the first item (a heartbeat when nothing is pending), i.e. once the watch
    has joined the shared reader. ``pause`` (if given) is waited on after the first event.
    """

    def __init__(
        self,
        events: Iterator[WatchEvent | None],
        want: int,
        timeout: float = 15.0,
        pause: threading.Event | None = None,
    ) -> None:
        super().__init__(daemon=True)
        self.events, self.want, self.timeout, self.pause = events, want, timeout, pause
        self.got: list[WatchEvent] = []
        self.ready = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        deadline = time.monotonic() + self.timeout
        try:
            for event in self.events:
                self.ready.set()
                if event is not None:
                    self.got.append(event)
                    if len(self.got) == 1 and self.pause is not None:
                        self.pause.wait(self.timeout)
                if len(self.got) >= self.want or time.monotonic() > deadline:
                    break
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc
        finally:
            self.ready.set()
            self.events.close()  # type: ignore[attr-defined]


@pytest.fixture
def named(store: Store, redis_url: str) -> Iterator[Store]:
    """A Store on the same keys as ``store`` whose connections carry a unique CLIENT SETNAME."""
    name = f"hubtest-{uuid.uuid4().hex[:10]}"
    st = Store(redis_client(redis_url, decode_responses=True, client_name=name), store.prefix)
    try:
        yield st
    finally:
        st.client.close()


def connections(observer: Store, watched: Store) -> int:
    """Open Redis connections of ``watched``'s client as the server sees them (CLIENT LIST)."""
    name = watched.client.connection_pool.connection_kwargs["client_name"]
    return sum(1 for c in observer.client.client_list() if c.get("name") == name)


def test_many_watches_share_one_reader_and_see_every_write_in_order(store: Store, named: Store) -> None:
    start = named.current_revision()
    watchers = [
        Watcher(named.watch("pods", "ns", from_revision=start, heartbeat=HEARTBEAT), want=1500)
        for _ in range(20)
    ]
    for w in watchers:
        w.start()
    assert all(w.ready.wait(5) for w in watchers)
    peak = [connections(store, named)]
    sampling = threading.Event()

    def sample() -> None:
        while not sampling.is_set():
            peak.append(connections(store, named))
            time.sleep(0.005)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    revisions: list[int] = []
    for chunk in range(15):  # through the other client: only watch traffic uses `named`
        revisions += write(store, 100, f"c{chunk:02d}-")
        # keep every watch within a few hundred changes (caught up), even on a loaded machine
        behind = len(revisions) - 300
        assert wait_for(lambda behind=behind: all(len(w.got) >= behind for w in watchers))
    for w in watchers:
        w.join(15)
    sampling.set()
    sampler.join(5)
    assert revisions == list(range(start + 1, start + 1501))
    for w in watchers:
        assert w.error is None
        assert [e.revision for e in w.got] == revisions
        assert [e.object["metadata"]["name"] for e in w.got] == [
            f"c{i // 100:02d}-{i % 100:05d}" for i in range(1500)
        ]
        assert [e.type for e in w.got] == ["ADDED"] * 1500
    # One shared reader (plus the odd short poll), not one connection per watch.
    assert max(peak) <= 4, peak
    assert len(named.client.connection_pool._connections) <= 4


def test_slow_watcher_behind_the_memory_tail_reads_redis_itself(store: Store, named: Store) -> None:
    start = named.current_revision()
    count = 3 * watching.HUB_KEEP
    pause = threading.Event()
    slow = Watcher(named.watch("pods", from_revision=start, heartbeat=HEARTBEAT), want=count, pause=pause)
    fast = Watcher(named.watch("pods", from_revision=start, heartbeat=HEARTBEAT), want=count)
    slow.start(), fast.start()
    assert slow.ready.wait(5) and fast.ready.wait(5)
    revisions = write(store, 1)  # the slow watch takes this one alone, then stops to sleep
    assert wait_for(lambda: len(slow.got) == 1)
    revisions += write(store, count - 1, "q")
    fast.join(15)
    hub = hub_of(named)
    assert hub is not None and wait_for(lambda: hub.position >= revisions[-1])
    # premise: the slow watch (asleep after its first event) is older than what the hub remembers
    assert hub.base > slow.got[0].revision, (hub.base, slow.got[0].revision)
    pause.set()
    slow.join(15)
    for w in (slow, fast):
        assert w.error is None
        assert [e.revision for e in w.got] == revisions
        assert [e.object["metadata"]["name"] for e in w.got] == ["p00000"] + [
            f"q{i:05d}" for i in range(count - 1)
        ]


def test_watch_from_old_revision_gets_backlog_then_live_events(store: Store, named: Store) -> None:
    live = Watcher(named.watch("pods", from_revision=named.current_revision(), heartbeat=HEARTBEAT), 1200)
    live.start()
    assert live.ready.wait(5)
    start = named.current_revision()
    backlog = write(store, 600, "old")  # the running hub already holds these; then it trims
    backlog += write(store, 600, "mid")
    hub = hub_of(named)
    assert hub is not None and wait_for(lambda: hub.position >= backlog[-1])
    late = Watcher(named.watch("pods", from_revision=start, heartbeat=HEARTBEAT), 1500)
    middle = Watcher(named.watch("pods", from_revision=backlog[899], heartbeat=HEARTBEAT), 600)
    late.start(), middle.start()
    assert late.ready.wait(5) and middle.ready.wait(5)
    fresh = write(store, 300, "new")
    for w in (live, late, middle):
        w.join(15)
        assert w.error is None
    assert [e.revision for e in live.got] == backlog
    assert [e.revision for e in late.got] == backlog + fresh
    assert [e.revision for e in middle.got] == backlog[900:] + fresh
    names = [e.object["metadata"]["name"] for e in late.got]
    assert names[0] == "old00000" and names[600] == "mid00000" and names[1200] == "new00000"


def test_compacted_revision_is_gone_with_a_hub_running(store: Store, named: Store) -> None:
    first = write(store, 10)
    live = named.watch("pods", from_revision=first[-1], heartbeat=HEARTBEAT)
    assert next(live) is None  # caught up, on the shared reader
    compacted = store.compact(keep=3)
    with pytest.raises(errors.Gone) as info:
        named.watch("pods", from_revision=first[2])  # raised by the call, as without a hub
    assert info.value.code == 410 and info.value.reason == "Expired"
    assert info.value.message == f"too old resource version: {first[2]} ({compacted})"
    tail = named.watch("pods", from_revision=compacted, heartbeat=HEARTBEAT)
    assert [e.revision for e in (next(tail), next(tail), next(tail))] == first[-3:]
    tail.close()
    more = write(store, 1, "after")
    assert next_event(live).revision == more[0]
    live.close()


def test_watcher_behind_the_hub_gets_gone_after_compaction(store: Store, named: Store) -> None:
    events = named.watch("pods", from_revision=named.current_revision(), heartbeat=HEARTBEAT)
    assert next(events) is None
    mine = write(store, 1, "first")
    assert next_event(events).revision == mine[0]
    keep_alive = Watcher(
        named.watch("pods", from_revision=mine[0], heartbeat=HEARTBEAT), 3 * watching.HUB_KEEP
    )
    keep_alive.start()
    rest = write(store, 3 * watching.HUB_KEEP)
    hub = hub_of(named)
    assert hub is not None and wait_for(lambda: hub.position >= rest[-1])
    assert hub.base > mine[0]
    keep_alive.join(15)  # done before compaction (it too would be Gone if still behind)
    compacted = store.compact(keep=10)
    with pytest.raises(errors.Gone) as info:
        while next(events) is None:
            pass
    assert info.value.message == f"too old resource version: {mine[0]} ({compacted})"
    assert [e.revision for e in keep_alive.got] == rest


def test_reader_thread_ends_with_the_last_watch(store: Store, named: Store) -> None:
    before = hub_threads()
    stop = threading.Event()
    start = named.current_revision()
    closed = named.watch("pods", from_revision=start, heartbeat=HEARTBEAT)
    stopped = named.watch("pods", from_revision=start, heartbeat=HEARTBEAT, stop=stop)
    dropped = named.watch("pods", from_revision=start, heartbeat=HEARTBEAT)
    for events in (closed, stopped, dropped):
        assert next(events) is None
    assert len(hub_threads() - before) == 1  # one reader for the three watches
    write(store, 5)
    for events in (closed, stopped, dropped):
        assert next_event(events).revision == start + 1
    closed.close()
    stop.set()
    assert None not in list(stopped)  # the rest of its batch, then it ends
    del dropped, events  # abandoned without close: the generator's finalizer leaves the hub
    gc.collect()
    assert wait_for(lambda: not (hub_threads() - before), timeout=3), hub_threads() - before
    assert hub_of(named) is None
    # a later watch starts a fresh reader and is served
    again = Watcher(named.watch("pods", from_revision=named.current_revision(), heartbeat=HEARTBEAT), 3)
    again.start()
    assert again.ready.wait(5)
    fresh = write(store, 3, "again")
    again.join(10)
    assert [e.revision for e in again.got] == fresh
    assert wait_for(lambda: not (hub_threads() - before), timeout=3)


def test_watches_sharing_a_reader_do_not_share_objects(store: Store, named: Store) -> None:
    start = named.current_revision()
    starts_with_p = lambda obj: obj["metadata"]["name"].startswith("p")  # noqa: E731
    plain = named.watch("pods", from_revision=start, heartbeat=HEARTBEAT)
    filtered = named.watch("pods", from_revision=start, heartbeat=HEARTBEAT, predicate=starts_with_p)
    assert next(plain) is None and next(filtered) is None
    write(store, 1)
    first = next_event(plain)
    first.object["metadata"]["name"] = "changed by the first watcher"
    second = next_event(filtered)
    assert second.object["metadata"]["name"] == "p00000"
    plain.close(), filtered.close()


def test_a_burst_served_from_memory_needs_no_connection_per_watch(store: Store, named: Store) -> None:
    start = named.current_revision()
    watches = [named.watch("pods", from_revision=start, heartbeat=HEARTBEAT) for _ in range(20)]
    for events in watches:
        assert next(events) is None  # all caught up on the shared reader
    burst = write(store, watching.BATCH + 100)  # while the watches are busy elsewhere
    hub = hub_of(named)
    assert hub is not None and wait_for(lambda: hub.position >= burst[-1])
    assert hub.base <= start  # the whole burst is in memory
    polls_by_watches: list[str] = []  # Redis polls made outside the shared reader's thread
    poll = named._poll

    def counted(*args: object, **kwargs: object) -> object:
        if threading.current_thread().name != "watch-hub":
            polls_by_watches.append(threading.current_thread().name)
        return poll(*args, **kwargs)

    named._poll = counted  # type: ignore[method-assign]
    go = threading.Barrier(len(watches))
    got: list[list[int]] = [[] for _ in watches]

    def consume(i: int) -> None:
        go.wait(5)
        for event in watches[i]:
            if event is None:  # the burst is over: idle again
                break
            got[i].append(event.revision)
        watches[i].close()

    threads = [threading.Thread(target=consume, args=(i,), daemon=True) for i in range(len(watches))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(15)
    assert all(revisions == burst for revisions in got)
    assert polls_by_watches == []
    assert len(named.client.connection_pool._connections) <= 4
