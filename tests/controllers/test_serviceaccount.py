"""The ServiceAccount controller end to end: every namespace gets a ``default`` ServiceAccount, which
comes back when deleted."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator

import pytest

from cluster import errors
from cluster.api.resources import lookup
from tests.e2e.scheduling import Cluster, launch_cluster, wait_for

SERVICEACCOUNTS = lookup("", "v1", "serviceaccounts")
CONTROLLERS = (
    "tasks.controllers.gc:GarbageCollector",
    "tasks.controllers.namespace:NamespaceController",
    "tasks.controllers.serviceaccount:ServiceAccountController",
)


@pytest.fixture(scope="module")
def cluster(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with launch_cluster(redis_url, tmp_path_factory.mktemp("sa"), controllers=CONTROLLERS) as c:
        yield c


def kubectl(cluster: Cluster, *args: str) -> str:
    cmd = ["kubectl", f"--kubeconfig={cluster.server.kubeconfig}", f"--cache-dir={cluster.cache_dir}", *args]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, f"kubectl {' '.join(args)}: {result.stderr}{result.stdout}"
    return result.stdout


def account_uid(cluster: Cluster, ns: str) -> str | None:
    try:
        return cluster.client.get(SERVICEACCOUNTS, "default", ns)["metadata"]["uid"]
    except errors.NotFound:
        return None


def test_new_namespace_gets_a_default_serviceaccount(cluster: Cluster) -> None:
    ns = f"sa-{uuid.uuid4().hex[:6]}"
    assert kubectl(cluster, "create", "namespace", ns).strip() == f"namespace/{ns} created"
    wait_for(lambda: account_uid(cluster, ns), 30, "the default ServiceAccount")
    rows = [line.split() for line in kubectl(cluster, "get", "serviceaccounts", "-n", ns).splitlines()]
    assert rows[0] == ["NAME", "SECRETS", "AGE"] and [r[0] for r in rows[1:]] == ["default"]


def test_deleted_default_serviceaccount_comes_back(cluster: Cluster) -> None:
    ns = f"sa-{uuid.uuid4().hex[:6]}"
    kubectl(cluster, "create", "namespace", ns)
    first = wait_for(lambda: account_uid(cluster, ns), 30, "the default ServiceAccount")
    assert kubectl(cluster, "delete", "serviceaccount", "default", "-n", ns).strip() == (
        'serviceaccount "default" deleted'
    )
    second = wait_for(lambda: account_uid(cluster, ns), 30, "the default ServiceAccount to come back")
    assert second != first


def test_other_serviceaccounts_are_left_alone(cluster: Cluster) -> None:
    ns = f"sa-{uuid.uuid4().hex[:6]}"
    kubectl(cluster, "create", "namespace", ns)
    kubectl(cluster, "create", "serviceaccount", "robot", "-n", ns)
    wait_for(lambda: account_uid(cluster, ns), 30, "the default ServiceAccount")
    kubectl(cluster, "delete", "serviceaccount", "robot", "-n", ns)
    names = kubectl(cluster, "get", "serviceaccounts", "-n", ns, "-o", "name").split()
    assert names == ["serviceaccount/default"]
