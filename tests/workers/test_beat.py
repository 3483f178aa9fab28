"""Periodic resync through beat: two beats, one sends; SIGKILL it and the standby takes over."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.workers.harness import Harness, Proc, wait_for

INTERVAL, LOCK_TIMEOUT, LOOP = 0.5, 2, 0.5
SENDS = "Sending due task"


@pytest.fixture(scope="module")
def h(redis_url: str, tmp_path_factory: pytest.TempPathFactory, sample_registered: None) -> Iterator[Harness]:
    env = {"KUBEQ_RESYNC_INTERVAL": str(INTERVAL)}
    harness = Harness(redis_url, tmp_path_factory.mktemp("beat"), env_extra=env)
    try:
        harness.ready(harness.worker("sample1", pool="solo", concurrency=1))
        yield harness
    finally:
        harness.close()


def test_one_beat_resyncs_and_a_standby_takes_over_when_it_is_killed(h: Harness) -> None:
    h.redis.sadd(h.sample + "all", "default/a", "default/b")
    first = h.beat("beat1", LOCK_TIMEOUT, LOOP)
    wait_for(lambda: "Acquired lock" in first.text(), 20, "the first beat to take the lock")
    second = h.beat("beat2", LOCK_TIMEOUT, LOOP)
    wait_for(lambda: "beat: Starting" in second.text(), 20, "the standby to start")
    both_up = time.time()
    time.sleep(3.0)
    active, standby = _roles(first, second)
    assert active is first and SENDS not in standby.text() and "Acquired lock" not in standby.text()
    # one beat at a time: resyncs come about once per interval (6 in 3 s), not twice as often (12)
    assert 3 <= len(_runs_since(h, "default/b", both_up)) <= 3.0 / INTERVAL + 2

    killed_at = time.time()
    first.kill()
    wait_for(lambda: "Acquired lock" in second.text(), LOCK_TIMEOUT + LOOP + 3, "the standby to take over")
    took_over = time.time() - killed_at
    assert took_over <= LOCK_TIMEOUT + LOOP + 1.5
    wait_for(lambda: _runs_since(h, "default/a", killed_at + took_over), 5, "resyncs from the standby")
    assert SENDS in second.text()


def _runs_since(h: Harness, key: str, since: float) -> list[dict]:
    return [r for r in h.runs(key) if r["start"] > since]


def _roles(a: Proc, b: Proc) -> tuple[Proc, Proc]:
    return (a, b) if SENDS in a.text() else (b, a)
