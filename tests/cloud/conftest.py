"""One cluster for the cloud-controller-manager tests: API server, control plane (whose dispatcher also
feeds the ``cloud`` controllers), two hollow nodes and two ``kubeq cloud-controller-manager`` workers
sharing the queue, with a two-address load-balancer pool."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.e2e.conftest import ROOT
from tests.e2e.scheduling import Cluster, launch_cluster, wait_for
from tests.namespaces import fresh, module_stem

POOL = ("192.0.2.200", "192.0.2.201")
CLOUD_CONTROLLERS = (
    "tasks.cloud.service:ServiceLBController",
    "tasks.cloud.route:RouteController",
    "tasks.cloud.node:CloudNodeController",
)
CCM_WORKERS = 2


@pytest.fixture(scope="package")
def cluster(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KUBEQ_LB_POOL", ",".join(POOL))
        with launch_cluster(
            redis_url, tmp_path_factory.mktemp("cloud"), hollow=2, controllers=CLOUD_CONTROLLERS
        ) as c:
            for i in range(CCM_WORKERS):
                c.plane.processes[f"cloud-{i}"] = subprocess.Popen(
                    [sys.executable, "-m", "workers.cloud", "--concurrency", "2"], env=c.plane.env, cwd=ROOT
                )
            wait_for(lambda: c.node_count() == 2, 60, "2 hollow nodes")
            yield c


@pytest.fixture
def ns(request: pytest.FixtureRequest, cluster: Cluster) -> str:
    """A fresh namespace per test."""
    return fresh(cluster.client, module_stem(request))
