"""The dispatcher: changes become controller keys in the work queue, acknowledged only after that."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from cluster.store import Store
from tasks.runtime.controller import Change, Watch, own_key
from workers.dispatcher import Dispatcher

GROUP = "kubeq-dispatch"


def owner_keys(change: Change) -> list[str]:
    """The key of each owner a pod names (as a ReplicaSet controller would watch pods)."""
    md = change.object["metadata"]
    return [f"{md['namespace']}/{ref['name']}" for ref in md.get("ownerReferences", [])]


class PodsController:
    """A controller of pods that also cares about their owners' keys through services (test only)."""

    name = "test-pods"
    queue = "controllers"
    batch_size = 1
    watches = (Watch("pods", own_key),)

    def sync_batch(self, keys: list[str], ctx: object) -> dict[str, None]:
        return dict.fromkeys(keys)

    def resync_keys(self, ctx: object) -> list[str]:
        return []


class OwnersController(PodsController):
    name = "test-owners"
    watches = (Watch("pods", owner_keys), Watch("services", own_key))


class Recorder:
    """A ``workqueue_add`` that records every call (and can be told to fail)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[str]]] = []
        self.fail = 0

    def __call__(self, controller: str, keys: list[str], force: bool = False) -> None:
        if self.fail:
            self.fail -= 1
            raise ConnectionError("work queue down")
        self.calls.append((controller, list(keys)))

    def keys(self, controller: str) -> list[str]:
        return [k for c, ks in self.calls if c == controller for k in ks]


def pod(store: Store, name: str, owner: str | None = None) -> None:
    md: dict = {"name": name, "namespace": "ns"}
    if owner:
        md["ownerReferences"] = [{"kind": "ReplicaSet", "name": owner, "uid": "u", "apiVersion": "apps/v1"}]
    store.create("pods", f"ns/{name}", {"metadata": md})


def pending(store: Store, resource: str = "pods") -> int:
    return int(store.client.xpending(store.keys(resource).stream, GROUP)["pending"])


def drain(dispatcher: Dispatcher) -> int:
    total = 0
    while n := dispatcher.run_once():
        total += n
    return total


def make(store: Store, add: Recorder, **kw: object) -> Dispatcher:
    return Dispatcher(store, add, [PodsController(), OwnersController()], consumer="d1", block_ms=10, **kw)  # type: ignore[arg-type]


def test_each_change_reaches_every_controller_that_watches_it_then_is_acked(store: Store) -> None:
    add = Recorder()
    dispatcher = make(store, add)
    assert dispatcher.resources == ["pods", "services"]
    pod(store, "a", owner="rs1")
    pod(store, "b", owner="rs1")
    pod(store, "c")
    store.create("services", "ns/web", {"metadata": {"name": "web", "namespace": "ns"}})
    store.create("configmaps", "ns/cm", {"metadata": {"name": "cm", "namespace": "ns"}})  # nobody watches
    store.delete("pods", "ns/a")
    assert drain(dispatcher) == 5
    assert add.keys("test-pods") == ["ns/a", "ns/b", "ns/c"]  # each key once per batch
    assert add.keys("test-owners") == ["ns/rs1", "ns/web"]
    assert pending(store) == 0 and pending(store, "services") == 0
    assert dispatcher.run_once() == 0


def test_nothing_is_acknowledged_before_the_keys_are_enqueued(store: Store) -> None:
    add = Recorder()
    dispatcher = make(store, add)
    pod(store, "a")
    add.fail = 1
    try:
        dispatcher.run_once()
        raise AssertionError("the work queue error must surface")
    except ConnectionError:
        pass
    assert pending(store) == 1  # delivered, not acknowledged
    # a dispatcher restarted at this point gets it again first
    fresh = make(Store(store.client, store.prefix), add)
    assert drain(fresh) == 1
    assert add.keys("test-pods") == ["ns/a"] and pending(store) == 0
    # and the same dispatcher retries the batch it could not enqueue on its next call
    pod(store, "b")
    add.fail = 1
    stop = threading.Event()
    runner = threading.Thread(target=dispatcher.run, args=(stop,))
    runner.start()
    deadline = time.monotonic() + 5
    while "ns/b" not in add.keys("test-pods") and time.monotonic() < deadline:
        time.sleep(0.02)
    stop.set()
    runner.join(timeout=5)
    assert not runner.is_alive()
    assert add.keys("test-pods") == ["ns/a", "ns/a", "ns/b"] and pending(store) == 0


class FlakyController(PodsController):
    """A mapper that raises for pods named ``bad-*`` (a bug), while another controller works."""

    name = "test-flaky"
    calls: list[str] = []

    @staticmethod
    def mapper(change: Change) -> Iterator[str]:
        FlakyController.calls.append(change.object["metadata"]["name"])
        if change.object["metadata"]["name"].startswith("bad"):
            raise ValueError("mapper bug")
        yield from own_key(change)

    watches = (Watch("pods", mapper),)


def test_a_failing_mapper_leaves_the_change_pending_and_retries_a_bounded_number_of_times(
    store: Store,
) -> None:
    add = Recorder()
    FlakyController.calls = []
    dispatcher = Dispatcher(
        store,
        add,
        [FlakyController(), PodsController()],  # type: ignore[list-item]
        consumer="d1",
        block_ms=10,
        claim_idle_ms=20,
        max_attempts=3,
    )
    pod(store, "bad-1")
    pod(store, "good")
    deadline = time.monotonic() + 5
    while FlakyController.calls.count("bad-1") < 3 and time.monotonic() < deadline:
        dispatcher.run_once()
    assert add.keys("test-flaky") == ["ns/good"]
    assert "ns/bad-1" in add.keys("test-pods")  # the other controller was not held back
    assert FlakyController.calls.count("bad-1") == 3  # handed out again until it gave up
    assert FlakyController.calls.count("good") == 1
    assert pending(store) == 0
    time.sleep(0.05)
    drain(dispatcher)
    assert FlakyController.calls.count("bad-1") == 3


# -- the dispatcher as a process, with the real work queue and broker -----------------------------

REPO = Path(__file__).resolve().parents[2]
CONTROLLER = "test-recording"
MAPPER_LOG = "KUBEQ_TEST_DISPATCH_LOG"


class RecordingController(PodsController):
    """Loaded in the dispatcher process through $KUBEQ_EXTRA_CONTROLLERS; its mapper appends
    ``<pid> <key>`` to the file named by $KUBEQ_TEST_DISPATCH_LOG for every change it maps."""

    name = CONTROLLER

    @staticmethod
    def mapper(change: Change) -> list[str]:
        keys = own_key(change)
        path = os.environ.get(MAPPER_LOG)
        if path:
            with open(path, "a") as log:
                log.write(f"{os.getpid()} {keys[0]}\n")
        return keys

    watches = (Watch("pods", mapper),)


@dataclass
class Cluster:
    store: Store
    redis_url: str
    broker_prefix: str
    log: Path
    procs: list[subprocess.Popen[bytes]]

    def start(self, *args: str) -> subprocess.Popen[bytes]:
        env = dict(
            os.environ,
            KUBEQ_REDIS_URL=self.redis_url,
            KUBEQ_STATE_PREFIX=self.store.prefix,
            KUBEQ_BROKER_PREFIX=self.broker_prefix,
            KUBEQ_EXTRA_CONTROLLERS=f"{__name__}:RecordingController",
            PYTHONPATH=str(REPO),
            **{MAPPER_LOG: str(self.log)},
        )
        out = open(self.log.with_suffix(f".{len(self.procs)}.out"), "wb")  # noqa: SIM115
        proc = subprocess.Popen(
            [sys.executable, "-m", "workers.dispatcher", *args], cwd=REPO, env=env, stdout=out, stderr=out
        )
        out.close()
        self.procs.append(proc)
        return proc

    def enqueued(self) -> list[str]:
        """The keys of every ``kubeq.test-recording.sync`` message waiting in the broker."""
        keys: list[str] = []
        for raw in self.store.client.lrange(f"{self.broker_prefix}controllers", 0, -1):
            message = json.loads(raw)
            if message["headers"]["task"] == f"kubeq.{CONTROLLER}.sync":
                args = json.loads(base64.b64decode(message["body"]))[0]
                keys += args[0]
        return keys

    def wait_enqueued(self, count: int, timeout: float = 20) -> list[str]:
        deadline = time.monotonic() + timeout
        while len(got := self.enqueued()) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return got

    def mapped(self) -> list[tuple[str, str]]:
        lines = self.log.read_text().splitlines() if self.log.exists() else []
        return [(pid, key) for pid, key in (line.split() for line in lines)]


@pytest.fixture
def cluster(store: Store, redis_url: str, tmp_path: Path) -> Iterator[Cluster]:
    c = Cluster(store, redis_url, f"test-broker-{uuid.uuid4().hex[:8]}:", tmp_path / "mapped.log", [])
    try:
        yield c
    finally:
        for proc in c.procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=10)
        keys = list(store.client.scan_iter(match=f"{c.broker_prefix}*", count=1000))
        if keys:
            store.client.delete(*keys)


def pods(store: Store, names: Iterable[str], pause: float = 0.0) -> list[str]:
    out = []
    for name in names:
        pod(store, name)
        out.append(f"ns/{name}")
        if pause:
            time.sleep(pause)
    return out


def test_a_dispatcher_process_enqueues_every_written_key_once(cluster: Cluster) -> None:
    before = pods(cluster.store, [f"a{i}" for i in range(50)])  # history: replayed by the new group
    proc = cluster.start()
    after = pods(cluster.store, [f"b{i}" for i in range(50)])
    got = cluster.wait_enqueued(100)
    assert sorted(got) == sorted(before + after)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=5) == 0  # stops cleanly
    assert pending(cluster.store) == 0


def test_sigkill_mid_stream_then_restart_loses_nothing(cluster: Cluster) -> None:
    first = cluster.start("--claim-idle", "0.5")
    written = pods(cluster.store, [f"p{i}" for i in range(100)])
    assert len(cluster.wait_enqueued(50)) >= 50  # it is running
    writer = threading.Thread(
        target=lambda: written.extend(pods(cluster.store, [f"q{i}" for i in range(400)], 0.002))
    )
    writer.start()
    time.sleep(0.3)
    first.kill()  # SIGKILL while changes stream in
    first.wait(timeout=5)
    cluster.start("--claim-idle", "0.5")  # a new consumer: takes over what the dead one held
    writer.join()
    got = cluster.wait_enqueued(500)
    missing = sorted(set(written) - set(got))
    marked = [
        k
        for k in missing
        if cluster.store.client.exists(f"{cluster.broker_prefix}wq:pending:{CONTROLLER}:{k}")
    ]
    assert not missing, f"never enqueued: {missing}; of those marked queued but never sent: {marked}"
    assert sorted(set(got)) == sorted(written)
    deadline = time.monotonic() + 5
    while pending(cluster.store) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert pending(cluster.store) == 0


def test_two_dispatcher_processes_share_the_stream_and_map_each_change_once(cluster: Cluster) -> None:
    procs = [cluster.start(), cluster.start()]
    pods(cluster.store, ["warmup"])
    cluster.wait_enqueued(1)
    written = ["ns/warmup"] + pods(cluster.store, [f"p{i}" for i in range(400)], 0.001)
    got = cluster.wait_enqueued(401)
    assert sorted(got) == sorted(written)  # each once in the broker
    mapped = cluster.mapped()
    assert sorted(key for _, key in mapped) == sorted(written)  # each change handled by one dispatcher
    assert {pid for pid, _ in mapped} == {str(p.pid) for p in procs}  # and both took part
