"""Shared fixtures. Store fixtures first: a real Redis for the session, a fresh store per test."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
import redis

from cluster.store import Store, start_embedded


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """$KUBEQ_REDIS_URL if set, else an embedded redis-server in a temp dir for the whole session."""
    url = os.environ.get("KUBEQ_REDIS_URL")
    if url:
        yield url
        return
    server = start_embedded(str(tmp_path_factory.mktemp("redis")))
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def store(redis_url: str) -> Iterator[Store]:
    """A Store on a fresh random key prefix; its keys are removed afterwards."""
    prefix = f"test-{uuid.uuid4().hex[:12]}"
    st = Store.from_url(redis_url, prefix=prefix)
    try:
        yield st
    finally:
        client: redis.Redis = st.client
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The figures tests reported with ``tests.figures.report`` (see there)."""
    from tests.figures import FIGURES

    if FIGURES:
        terminalreporter.section("figures")
        for text in FIGURES:
            terminalreporter.write_line(text)
