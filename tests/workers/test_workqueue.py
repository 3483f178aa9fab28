"""The work queue's protocol on a real Redis, read through the messages it leaves in the broker queue."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tasks.runtime.controller import Watch, own_key
from tasks.runtime.workqueue import MAX_COUNTDOWN
from tests.workers.harness import Harness


class Batched:
    """A controller taking three keys per task (never run here)."""

    name = "sample"
    queue = "controllers"
    watches = (Watch("configmaps", own_key),)
    batch_size = 3

    def sync_batch(self, keys: list[str], ctx: object) -> dict[str, None]:
        return dict.fromkeys(keys)

    def resync_keys(self, ctx: object) -> list[str]:
        return []


@pytest.fixture
def h(redis_url: str, tmp_path: Path, sample_registered: None) -> Iterator[Harness]:
    harness = Harness(redis_url, tmp_path)
    try:
        yield harness
    finally:
        harness.close()


def queued(h: Harness) -> list[tuple[str, list[str], float | None]]:
    """(task name, keys, countdown-ish eta flag) of every message in the controllers queue, oldest first."""
    out = []
    for raw in reversed(h.redis.lrange(h.prefix + "controllers", 0, -1)):
        headers = json.loads(raw)["headers"]
        out.append((headers["task"], json.loads(headers["argsrepr"].replace("'", '"'))[0], headers["eta"]))
    return out


def test_a_queued_key_is_sent_once(h: Harness) -> None:
    for _ in range(100):
        h.wq.add("sample", ["default/a"])
    assert [(name, keys) for name, keys, _ in queued(h)] == [("kubeq.sample.sync", ["default/a"])]


def test_batched_keys_go_in_one_run_and_the_rest_wait_in_a_list(h: Harness) -> None:
    ctl = Batched()
    sent = h.wq.add(ctl, [f"k{i}" for i in range(5)] + ["k0"])
    assert sent == [f"k{i}" for i in range(5)]
    assert h.wq.add(ctl, ["k5", "k6", "k7", "k1"]) == ["k5", "k6", "k7"]  # k1 is queued already
    # one run carries the first keys (so Flower shows them); the rest wait for the runs to take
    assert [keys for _, keys, _ in queued(h)] == [["k0", "k1", "k2"]]
    assert h.wq.take_batch(ctl, 0) == []  # a full run takes none, but kicks one for the rest
    assert [keys for _, keys, _ in queued(h)] == [["k0", "k1", "k2"], []]
    assert h.wq.take_batch(ctl) == ["k3", "k4", "k5"]
    assert len(queued(h)) == 3  # still more left: kicked again
    assert h.wq.take_batch(ctl) == ["k6", "k7"]
    assert h.wq.take_batch(ctl) == []
    assert len(queued(h)) == 3  # nothing left after that: no more kicks
    assert h.wq.add(ctl, ["k8"]) == ["k8"]  # no run outstanding: the new key goes in a run of its own
    assert [keys for _, keys, _ in queued(h)][-1] == ["k8"]


def test_a_key_added_while_running_is_dirty_and_sent_after_done(h: Harness) -> None:
    h.wq.add("sample", ["a"])
    assert h.wq.begin("sample", "a", "run-1")
    assert h.wq.add("sample", ["a"]) == []  # running: marked dirty, nothing sent
    assert len(queued(h)) == 1
    assert h.wq.done("sample", "a", "run-1") is True
    assert h.wq.done("sample", "a", "run-1") is False  # dirty is consumed once


def test_a_second_run_of_a_key_is_refused_and_marks_it_dirty(h: Harness) -> None:
    assert h.wq.begin("sample", "a", "run-1")
    assert not h.wq.begin("sample", "a", "run-2")
    assert h.wq.done("sample", "a", "run-2") is False  # not the holder: releases nothing
    assert not h.wq.begin("sample", "a", "run-3")
    assert h.wq.done("sample", "a", "run-1") is True
    assert h.wq.begin("sample", "a", "run-3")


def test_running_names_the_keys_whose_run_lock_is_held(h: Harness) -> None:
    # what a starting controller-manager sends again a lease later: keys a (maybe dead) worker runs
    odd = "ns/a*b[1]?"
    for key in ("ns/x", odd):
        assert h.wq.begin("sample", key, "run-1")
    h.wq.add("sample", ["ns/queued-only"])
    assert sorted(h.wq.running("sample")) == sorted(["ns/x", odd])
    h.wq.done("sample", "ns/x", "run-1")
    assert h.wq.running("sample") == [odd]


def test_a_redelivered_message_takes_its_own_lock_back(h: Harness) -> None:
    assert h.wq.begin("sample", "a", "msg-1")
    assert h.wq.begin("sample", "a", "msg-1")  # the same message again (worker lost): may run


def test_backoff_doubles_per_key_and_forget_resets_it(h: Harness) -> None:
    delays = [h.wq.add_rate_limited("sample", "bad") for _ in range(6)]
    assert delays == pytest.approx([0.005, 0.01, 0.02, 0.04, 0.08, 0.16])
    assert h.wq.add_rate_limited("sample", "other") == pytest.approx(0.005)
    assert h.wq.failures("sample", "bad") == 6
    h.wq.forget("sample", "bad")
    assert h.wq.add_rate_limited("sample", "bad") == pytest.approx(0.005)
    etas = [eta for _, keys, eta in queued(h) if keys == ["bad"]]
    assert all(etas) and len(etas) >= 2  # retries are delayed messages


def test_backoff_is_capped(h: Harness) -> None:
    for _ in range(40):
        delay = h.wq.add_rate_limited("sample", "bad")
    assert delay == h.wq.max_delay


def test_the_token_bucket_delays_failures_beyond_its_burst(h: Harness) -> None:
    h.wq.rate, h.wq.burst = 1.0, 5
    delays = [h.wq.add_rate_limited("sample", f"k{i}") for i in range(10)]
    assert delays[:5] == pytest.approx([0.005] * 5)
    # then one token per second: the waits grow by about a second each
    assert delays[5:] == pytest.approx([1, 2, 3, 4, 5], abs=0.2)


def test_add_after_keeps_only_the_soonest(h: Harness) -> None:
    assert h.wq.add_after("sample", "a", 5)
    assert not h.wq.add_after("sample", "a", 6)
    assert h.wq.add_after("sample", "a", 1)
    assert len(queued(h)) == 2 and all(eta for _, _, eta in queued(h))


def test_add_after_is_capped_by_max_countdown(h: Harness) -> None:
    before = datetime.now(UTC)
    assert h.wq.add_after("sample", "a", 100_000)
    ((_, _, eta),) = queued(h)
    assert datetime.fromisoformat(eta) <= before + timedelta(seconds=MAX_COUNTDOWN + 1)


def test_a_delayed_run_that_begins_lets_the_next_add_after_send(h: Harness) -> None:
    assert h.wq.add_after("sample", "a", 5)
    assert h.wq.begin("sample", "a", "delayed-msg")  # the delayed message arrived (maybe early)
    h.wq.done("sample", "a", "delayed-msg")
    assert h.wq.add_after("sample", "a", 6)  # its retry is sent, not taken for the one already run


def test_a_delayed_add_joins_the_run_already_due(h: Harness) -> None:
    assert h.wq.add("sample", ["default/o", "default/p"], delay=2.0) == ["default/o", "default/p"]
    for _ in range(20):  # a burst of changes mapping to the same keys
        assert h.wq.add("sample", ["default/o", "default/p"], delay=2.0) == []
    messages = queued(h)
    assert [keys for _, keys, _ in messages] == [["default/o"], ["default/p"]]
    assert all(eta for _, _, eta in messages)  # both wait out the delay
