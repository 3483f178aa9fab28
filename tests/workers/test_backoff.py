"""Failures back off per key and through a token bucket, with a real worker (bucket: 20/s, burst 20)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.workers.harness import Harness, wait_for

RATE, BURST = 20, 20


@pytest.fixture(scope="module")
def h(redis_url: str, tmp_path_factory: pytest.TempPathFactory, sample_registered: None) -> Iterator[Harness]:
    env = {"KUBEQ_WORKQUEUE_RATE": str(RATE), "KUBEQ_WORKQUEUE_BURST": str(BURST)}
    harness = Harness(redis_url, tmp_path_factory.mktemp("backoff"), env_extra=env)
    try:
        harness.ready(harness.worker("sample1"))
        yield harness
    finally:
        harness.close()


def test_a_failing_key_is_retried_with_growing_gaps_until_it_succeeds(h: Harness) -> None:
    key = "default/flaky"
    h.order("fail", key)
    h.wq.add("sample", [key])
    wait_for(lambda: len(h.starts(key)) >= 8, 10, "eight tries")  # 5+10+...+320 ms of backoff
    starts = [s["start"] for s in h.starts(key)]
    gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
    expected = [0.005 * 2**i for i in range(len(gaps))]
    assert all(gap >= want * 0.9 for gap, want in zip(gaps, expected, strict=True)), gaps
    # Each gap is at least its doubled backoff (the line above); a loaded machine only lengthens gaps,
    # so growth is asserted through those lower bounds rather than ratios between measured gaps.
    assert h.wq.failures("sample", key) >= 8

    h.cancel("fail", key)
    h.wq.add("sample", [key])  # a change arrives: it runs now, not after the backoff
    wait_for(lambda: h.wq.failures("sample", key) == 0, 5, "the success to reset the backoff")


def test_the_global_rate_limit_bounds_retries(h: Harness) -> None:
    keys = [f"default/r{i}" for i in range(30)]
    for key in keys:
        h.order("fail", key)
    t0 = time.time()
    h.wq.add("sample", keys)
    window = 2.0
    time.sleep(window)
    tries = [s for s in h.starts() if s["key"] in keys and s["start"] <= t0 + window]
    # first tries are adds (not limited); retries take tokens: burst + rate * window at most.
    # Per-key backoff alone would allow about 8 retries per key (240) in this window.
    assert len(tries) <= len(keys) + BURST + RATE * window + 5, len(tries)
    assert len(tries) >= len(keys) + BURST // 2, len(tries)  # and it does retry
    late = [s for s in tries if s["start"] >= t0 + 1.0]
    assert len(late) <= RATE * (window - 1.0) + 10, len(late)  # steady state: about RATE per second
    for key in keys:
        h.cancel("fail", key)


def test_a_requeue_runs_the_key_again_after_its_delay_without_backoff(h: Harness) -> None:
    key = "default/later"
    h.order("requeue", key, 0.3)
    h.wq.add("sample", [key])
    wait_for(lambda: len(h.runs(key)) >= 2, 5, "the requeued run")
    h.cancel("requeue", key)
    first, second = h.runs(key)[:2]
    assert second["start"] - first["end"] >= 0.28
    assert h.wq.failures("sample", key) == 0
