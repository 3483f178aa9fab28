"""The ServiceAccount controller end to end: every namespace gets a ``default`` ServiceAccount, which
comes back when deleted."""

from __future__ import annotations

import uuid

from cluster import errors
from cluster.api.resources import lookup
from tests.controllers.harness import kubectl
from tests.e2e.scheduling import Cluster, wait_for

SERVICEACCOUNTS = lookup("", "v1", "serviceaccounts")


def account_uid(cluster: Cluster, ns: str) -> str | None:
    try:
        return cluster.client.get(SERVICEACCOUNTS, "default", ns)["metadata"]["uid"]
    except errors.NotFound:
        return None


def test_new_namespace_gets_a_default_serviceaccount(cluster: Cluster) -> None:
    ns = f"sa-{uuid.uuid4().hex[:6]}"
    assert kubectl(cluster, "create", "namespace", ns).stdout.strip() == f"namespace/{ns} created"
    wait_for(lambda: account_uid(cluster, ns), 30, "the default ServiceAccount")
    rows = [line.split() for line in kubectl(cluster, "get", "serviceaccounts", "-n", ns).stdout.splitlines()]
    assert rows[0] == ["NAME", "SECRETS", "AGE"] and [r[0] for r in rows[1:]] == ["default"]


def test_deleted_default_serviceaccount_comes_back(cluster: Cluster) -> None:
    ns = f"sa-{uuid.uuid4().hex[:6]}"
    kubectl(cluster, "create", "namespace", ns)
    first = wait_for(lambda: account_uid(cluster, ns), 30, "the default ServiceAccount")
    assert kubectl(cluster, "delete", "serviceaccount", "default", "-n", ns).stdout.strip() == (
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
    names = kubectl(cluster, "get", "serviceaccounts", "-n", ns, "-o", "name").stdout.split()
    assert names == ["serviceaccount/default"]
