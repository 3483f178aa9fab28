"""Fixtures the controller tests share: one cluster per module (API server, control plane with every
built-in controller, three hollow nodes) and a fresh namespace per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cluster.client.client import Client
from tests.e2e.scheduling import Cluster, launch_cluster, wait_for
from tests.namespaces import fresh, module_stem


@pytest.fixture(scope="module")
def cluster(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A fresh API server and control plane with 3 hollow nodes, yielded once all 3 nodes exist."""
    with launch_cluster(redis_url, tmp_path_factory.mktemp("controllers"), hollow=3) as c:
        wait_for(lambda: c.node_count() == 3, 60, "3 hollow nodes")
        yield c


@pytest.fixture(scope="module")
def client(cluster: Cluster) -> Client:
    """The Python client of the module's cluster."""
    return cluster.client


@pytest.fixture
def ns(request: pytest.FixtureRequest, cluster: Cluster) -> str:
    """A new namespace named after the test module (``gc-1a2b3c`` for test_gc.py) with a random suffix."""
    return fresh(cluster.client, module_stem(request))
