"""Fixtures of the work-queue suites: the sample controller registered in this process too."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.workers.harness import SAMPLE


@pytest.fixture(scope="module")
def sample_registered() -> Iterator[None]:
    """KUBEQ_EXTRA_CONTROLLERS names the sample here, so the router and work queue know it."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KUBEQ_EXTRA_CONTROLLERS", SAMPLE)
        yield
