"""Coalescing with real workers: two prefork workers (concurrency 2 each) run the sample controller."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.workers.harness import Harness, wait_for

SLOTS = 4  # 2 workers x concurrency 2


@pytest.fixture(scope="module")
def h(redis_url: str, tmp_path_factory: pytest.TempPathFactory, sample_registered: None) -> Iterator[Harness]:
    harness = Harness(redis_url, tmp_path_factory.mktemp("coalesce"))
    try:
        workers = [harness.worker("sample1"), harness.worker("sample2")]
        harness.ready(*workers)
        yield harness
    finally:
        harness.close()


def assert_no_overlap(runs: list[dict]) -> None:
    runs = sorted(runs, key=lambda r: r["start"])
    for before, after in zip(runs, runs[1:], strict=False):
        assert after["start"] >= before["end"], f"runs overlap: {before} {after}"


def test_a_queued_key_is_not_queued_twice(h: Harness) -> None:
    blockers = [f"block/{i}" for i in range(SLOTS)]
    for key in blockers:
        h.order("sleep", key, 0.6)
    h.wq.add("sample", blockers)
    wait_for(lambda: len({s["key"] for s in h.starts() if s["key"] in blockers}) == SLOTS, 10, "busy slots")
    for _ in range(100):  # every worker slot is busy: the key waits in the queue
        h.wq.add("sample", ["default/once"])
    wait_for(lambda: h.runs("default/once"), 10, "the run")
    h.settle()
    assert len(h.runs("default/once")) == 1


def test_a_key_added_while_running_runs_exactly_once_more(h: Harness) -> None:
    h.order("sleep", "default/again", 0.5)
    h.wq.add("sample", ["default/again"])
    wait_for(lambda: h.starts("default/again"), 10, "the first run")
    for _ in range(10):
        h.wq.add("sample", ["default/again"])
    h.cancel("sleep", "default/again")
    wait_for(lambda: len(h.runs("default/again")) >= 2, 10, "the second run")
    h.settle()
    first, second = sorted(h.runs("default/again"), key=lambda r: r["start"])  # exactly two
    assert second["start"] >= first["end"]


def test_one_key_never_runs_on_two_workers_at_once(h: Harness) -> None:
    key = "default/busy"
    h.order("sleep", key, 0.15)
    deadline = time.monotonic() + 1.2
    while time.monotonic() < deadline:  # adds overlapping every run
        h.wq.add("sample", [key])
        time.sleep(0.02)
    h.settle()
    runs = h.runs(key)
    assert len(runs) >= 4
    assert_no_overlap(runs)


def test_duplicate_messages_for_a_key_never_overlap(h: Harness) -> None:
    """Messages sent past the coalescing (as a redelivery would) still run one at a time."""
    key = "default/dup"
    h.order("sleep", key, 0.3)
    for _ in range(SLOTS + 2):
        h.app.send_task("kubeq.sample.sync", args=[[key]])
    wait_for(lambda: h.starts(key), 10, "a run")
    h.settle()
    runs = h.runs(key)
    assert len(runs) >= 2  # the copies refused while it ran marked it dirty: it ran again after
    assert_no_overlap(runs)
