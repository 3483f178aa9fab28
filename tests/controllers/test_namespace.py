"""The Namespace controller end to end: deleting a namespace with content empties and removes it, its
conditions say what blocks it, and nothing new may be created in it meanwhile."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from cluster import errors
from cluster.api.resources import RESOURCES, lookup
from cluster.client.client import Client
from tests.controllers.harness import kubectl, release
from tests.e2e.scheduling import Cluster, wait_for

PODS = lookup("", "v1", "pods")
CONFIGMAPS = lookup("", "v1", "configmaps")
NAMESPACES = lookup("", "v1", "namespaces")
POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "late"},
    "spec": {"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10"}]},
}
CONTENT = """
apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data: {k: v}
---
apiVersion: v1
kind: Secret
metadata: {name: creds}
stringData: {user: admin}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 0
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: c, image: registry.k8s.io/pause:3.10}]}
"""
Obj = dict[str, Any]


def contents(client: Client, ns: str) -> list[str]:
    """Every object left in ``ns``, of every namespaced kind."""
    out = []
    for resource in RESOURCES:
        if resource.namespaced:
            out += [f"{resource.plural}/{i['metadata']['name']}" for i in client.list(resource, ns)["items"]]
    return out


def gone(client: Client, ns: str) -> bool:
    try:
        client.get(NAMESPACES, ns)
    except errors.NotFound:
        return True
    return False


def conditions(client: Client, ns: str) -> dict[str, Obj]:
    return {c["type"]: c for c in client.get(NAMESPACES, ns).get("status", {}).get("conditions") or []}


def test_deleting_a_namespace_empties_and_removes_it(cluster: Cluster, ns: str) -> None:
    c = cluster.client
    kubectl(cluster, "apply", "-n", ns, "-f", "-", stdin=CONTENT)
    for i in range(3):
        c.create({**POD, "metadata": {"name": f"p{i}"}}, ns)
    wait_for(
        lambda: all(p.get("status", {}).get("phase") == "Running" for p in c.list(PODS, ns)["items"]),
        30,
        "the pods to run",
    )
    assert len(contents(c, ns)) >= 7

    out = kubectl(cluster, "delete", "namespace", ns)
    assert out.stdout.strip() == f'namespace "{ns}" deleted'
    assert gone(c, ns)
    assert contents(c, ns) == []
    missing = kubectl(cluster, "get", "namespace", ns, check=False)
    assert missing.returncode == 1 and f'namespaces "{ns}" not found' in missing.stderr


def test_terminating_namespace_refuses_new_content_and_reports_what_blocks(cluster: Cluster, ns: str) -> None:
    c = cluster.client
    c.create(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "held", "finalizers": ["example.com/hold"]},
        },
        ns,
    )
    kubectl(cluster, "delete", "namespace", ns, "--wait=false")

    phase = kubectl(cluster, "get", "namespace", ns, "-o", "jsonpath={.status.phase}")
    assert phase.stdout == "Terminating"
    refused = kubectl(cluster, "run", "late", "-n", ns, "--image=registry.k8s.io/pause:3.10", check=False)
    assert refused.returncode == 1
    assert refused.stderr.strip() == (
        f'Error from server (Forbidden): pods "late" is forbidden: unable to create new content in namespace {ns} '
        "because it is being terminated"
    )
    with pytest.raises(errors.Forbidden) as err:
        c.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"generateName": "x-"}}, ns)
    assert err.value.message == (
        f"configmaps is forbidden: unable to create new content in namespace {ns} because it is being terminated"
    )

    wait_for(
        lambda: conditions(c, ns).get("NamespaceFinalizersRemaining", {}).get("status") == "True",
        30,
        "conditions",
    )
    conds = conditions(c, ns)
    assert conds["NamespaceContentRemaining"]["reason"] == "SomeResourcesRemain"
    assert (
        conds["NamespaceContentRemaining"]["message"]
        == "Some resources are remaining: configmaps. has 1 resource instances"
    )
    assert conds["NamespaceFinalizersRemaining"]["reason"] == "SomeFinalizersRemain"
    assert conds["NamespaceFinalizersRemaining"]["message"] == (
        "Some content in the namespace has finalizers remaining: example.com/hold in 1 resource instances"
    )
    assert conds["NamespaceDeletionContentFailure"]["status"] == "False"
    assert conds["NamespaceDeletionContentFailure"]["reason"] == "ContentDeleted"
    spec = json.loads(kubectl(cluster, "get", "namespace", ns, "-o", "json").stdout)["spec"]
    assert spec["finalizers"] == ["kubernetes"]
    assert contents(c, ns) == ["configmaps/held"]  # the default ServiceAccount was not recreated

    release(cluster, ns, "configmap", "held")
    wait_for(lambda: gone(c, ns), 30, "the namespace to go once its content has")


def test_namespace_finalizers_removed_through_finalize(cluster: Cluster) -> None:
    """Without the controller's help (an extra spec finalizer), the namespace waits for it."""
    c = cluster.client
    name = f"ns-{uuid.uuid4().hex[:6]}"
    c.create(
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": name},
            "spec": {"finalizers": ["kubernetes", "example.com/x"]},
        }
    )
    kubectl(cluster, "delete", "namespace", name, "--wait=false")
    wait_for(
        lambda: c.get(NAMESPACES, name)["spec"]["finalizers"] == ["example.com/x"],
        30,
        "kubernetes to be finalized",
    )
    held = c.get(NAMESPACES, name)
    assert held["status"]["phase"] == "Terminating"
    assert conditions(c, name)["NamespaceContentRemaining"]["reason"] == "ContentRemoved"
    c.update({**held, "spec": {"finalizers": []}}, subresource="finalize")
    assert gone(c, name)
