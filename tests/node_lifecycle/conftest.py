"""One cluster for the node lifecycle tests: API server, control plane with the node lifecycle, IPAM and
disruption controllers, two hollow nodes; the node grace period is shortened for the whole module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.scheduling import Cluster, launch_cluster, wait_for
from tests.namespaces import fresh, module_stem

GRACE = 15  # seconds; hollow nodes renew their Leases every 10 s
CONTROLLERS = (
    "tasks.controllers.nodelifecycle:NodeLifecycleController",
    "tasks.controllers.nodeipam:NodeIPAMController",
    "tasks.controllers.disruption:DisruptionController",
)


@pytest.fixture(scope="package")
def cluster(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KUBEQ_NODE_MONITOR_GRACE_PERIOD", str(GRACE))
        with launch_cluster(
            redis_url, tmp_path_factory.mktemp("nodelifecycle"), hollow=2, controllers=CONTROLLERS
        ) as c:
            wait_for(lambda: c.node_count() == 2, 60, "2 hollow nodes")
            yield c


@pytest.fixture
def ns(request: pytest.FixtureRequest, cluster: Cluster) -> str:
    """A fresh namespace per test."""
    return fresh(cluster.client, module_stem(request))
