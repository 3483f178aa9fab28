"""The garbage collector end to end: a real API server, dispatcher + controllers worker, scheduler and
three hollow nodes; owners and dependents made by hand (ConfigMaps owning ConfigMaps and Pods) and
deleted with the real kubectl's ``--cascade=background|foreground|orphan``."""

from __future__ import annotations

import json
import uuid
from typing import Any

from cluster import errors
from cluster.api.resources import lookup
from cluster.client.client import Client
from tests.controllers.harness import kubectl, release
from tests.e2e.scheduling import Cluster, wait_for

PODS = lookup("", "v1", "pods")
CONFIGMAPS = lookup("", "v1", "configmaps")
REPLICASETS = lookup("apps", "v1", "replicasets")
Obj = dict[str, Any]


def ref(owner: Obj, block: bool = True) -> Obj:
    md = owner["metadata"]
    return {
        "apiVersion": owner.get("apiVersion", "v1"),
        "kind": owner.get("kind", "ConfigMap"),
        "name": md["name"],
        "uid": md["uid"],
        "blockOwnerDeletion": block,
    }


def configmap(client: Client, ns: str, name: str, *owners: Obj, **meta: Any) -> Obj:
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, **meta}, "data": {"k": "v"}}
    if owners:
        body["metadata"]["ownerReferences"] = list(owners)
    return client.create(body, ns)


def pod(client: Client, ns: str, name: str, *owners: Obj) -> Obj:
    body = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "ownerReferences": list(owners)},
        "spec": {"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10"}]},
    }
    return client.create(body, ns)


def names(client: Client, ns: str) -> set[str]:
    """Every ConfigMap and Pod left in ``ns`` (ServiceAccounts etc. aside)."""
    out = {f"cm/{c['metadata']['name']}" for c in client.list(CONFIGMAPS, ns)["items"]}
    return out | {f"pod/{p['metadata']['name']}" for p in client.list(PODS, ns)["items"]}


def gone(client: Client, resource: Any, ns: str, name: str) -> bool:
    try:
        client.get(resource, name, ns)
    except errors.NotFound:
        return True
    return False


def running(client: Client, ns: str, name: str) -> bool:
    return client.get(PODS, name, ns).get("status", {}).get("phase") == "Running"


def test_background_cascade_deletes_dependents(cluster: Cluster, ns: str) -> None:
    c = cluster.client
    owner = configmap(c, ns, "owner")
    configmap(c, ns, "child-1", ref(owner))
    configmap(c, ns, "child-2", ref(owner, block=False))
    pod(c, ns, "worker", ref(owner))
    configmap(c, ns, "bystander")
    wait_for(lambda: running(c, ns, "worker"), 30, "the dependent pod to run")

    out = kubectl(cluster, "delete", "configmap", "owner", "-n", ns, "--cascade=background")
    assert out.stdout.strip() == 'configmap "owner" deleted'
    wait_for(lambda: names(c, ns) == {"cm/bystander"}, 30, "the dependents to be collected")


def test_foreground_cascade_waits_for_blocking_dependents(cluster: Cluster, ns: str) -> None:
    c = cluster.client
    owner = configmap(c, ns, "owner")
    configmap(c, ns, "held", ref(owner), finalizers=["example.com/hold"])
    configmap(c, ns, "loose", ref(owner, block=False))

    out = kubectl(cluster, "delete", "configmap", "owner", "-n", ns, "--cascade=foreground", "--wait=false")
    assert out.stdout.strip() == 'configmap "owner" deleted'
    wait_for(lambda: gone(c, CONFIGMAPS, ns, "loose"), 30, "the non-blocking dependent to go")
    held = wait_for(
        lambda: c.get(CONFIGMAPS, "held", ns)["metadata"].get("deletionTimestamp"), 30, "held to be deleted"
    )
    assert held
    waiting = c.get(CONFIGMAPS, "owner", ns)["metadata"]
    assert waiting["finalizers"] == ["foregroundDeletion"] and waiting["deletionTimestamp"]
    shown = kubectl(cluster, "get", "configmap", "owner", "-n", ns, "-o", "jsonpath={.metadata.finalizers}")
    assert json.loads(shown.stdout) == ["foregroundDeletion"]

    release(cluster, ns, "configmap", "held")
    wait_for(lambda: gone(c, CONFIGMAPS, ns, "owner"), 30, "the owner to go after its dependents")
    assert names(c, ns) == set()


def test_foreground_kubectl_returns_after_dependent_pods_are_gone(cluster: Cluster, ns: str) -> None:
    c = cluster.client
    owner = configmap(c, ns, "owner")
    for i in range(3):
        pod(c, ns, f"worker-{i}", ref(owner))
    wait_for(lambda: all(running(c, ns, f"worker-{i}") for i in range(3)), 30, "the pods to run")

    out = kubectl(cluster, "delete", "configmap", "owner", "-n", ns, "--cascade=foreground")
    assert out.stdout.strip() == 'configmap "owner" deleted'
    assert names(c, ns) == set()  # the owner only went once its blocking dependents had


def test_orphan_cascade_keeps_dependents_without_the_reference(cluster: Cluster, ns: str) -> None:
    c = cluster.client
    owner = configmap(c, ns, "owner")
    other = configmap(c, ns, "other")
    configmap(c, ns, "child", ref(owner))
    configmap(c, ns, "shared", ref(owner), ref(other))
    pod(c, ns, "worker", ref(owner))

    out = kubectl(cluster, "delete", "configmap", "owner", "-n", ns, "--cascade=orphan")
    assert out.stdout.strip() == 'configmap "owner" deleted'
    assert gone(c, CONFIGMAPS, ns, "owner")
    assert names(c, ns) == {"cm/other", "cm/child", "cm/shared", "pod/worker"}
    assert "ownerReferences" not in c.get(CONFIGMAPS, "child", ns)["metadata"]
    assert "ownerReferences" not in c.get(PODS, "worker", ns)["metadata"]
    assert c.get(CONFIGMAPS, "shared", ns)["metadata"]["ownerReferences"] == [ref(other)]
    assert "deletionTimestamp" not in c.get(PODS, "worker", ns)["metadata"]


def test_dangling_dependent_is_collected(cluster: Cluster, ns: str) -> None:
    c = cluster.client
    ghost = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ghost", "uid": str(uuid.uuid4())}}
    configmap(c, ns, "orphaned", ref(ghost))
    pod(c, ns, "stray", ref(ghost))
    # same name as the owner but another uid: still gone
    configmap(c, ns, "ghost")
    configmap(c, ns, "misled", ref(ghost))
    wait_for(lambda: names(c, ns) == {"cm/ghost"}, 30, "the dangling dependents to be collected")


def test_dependent_with_a_live_owner_survives_with_one_reference_less(cluster: Cluster, ns: str) -> None:
    c = cluster.client
    first = configmap(c, ns, "first")
    second = configmap(c, ns, "second")
    configmap(c, ns, "shared", ref(first), ref(second))
    ghost = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ghost", "uid": str(uuid.uuid4())}}
    configmap(c, ns, "half", ref(ghost), ref(second))

    kubectl(cluster, "delete", "configmap", "first", "-n", ns)
    wait_for(
        lambda: c.get(CONFIGMAPS, "shared", ns)["metadata"].get("ownerReferences") == [ref(second)],
        30,
        "the dead owner's reference to be dropped",
    )
    wait_for(
        lambda: c.get(CONFIGMAPS, "half", ns)["metadata"].get("ownerReferences") == [ref(second)],
        30,
        "the dangling reference to be dropped",
    )
    assert names(c, ns) == {"cm/second", "cm/shared", "cm/half"}

    kubectl(cluster, "delete", "configmap", "second", "-n", ns)
    wait_for(lambda: names(c, ns) == set(), 30, "the last owner's dependents to be collected")


def test_cascade_through_two_levels(cluster: Cluster, ns: str) -> None:
    c = cluster.client
    top = configmap(c, ns, "top")
    middle = configmap(c, ns, "middle", ref(top))
    pod(c, ns, "leaf", ref(middle))
    wait_for(lambda: running(c, ns, "leaf"), 30, "the leaf pod to run")

    out = kubectl(cluster, "delete", "configmap", "top", "-n", ns, "--cascade=foreground")
    assert out.stdout.strip() == 'configmap "top" deleted'
    assert names(c, ns) == set()


def replicaset(cluster: Cluster, ns: str, name: str, replicas: int) -> None:
    body = {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10"}]},
            },
        },
    }
    cluster.client.create(body, ns)
    wait_for(
        lambda: cluster.client.get(REPLICASETS, name, ns).get("status", {}).get("readyReplicas") == replicas,
        60,
        f"replica set {name} to be ready",
    )


def pods_of(client: Client, ns: str, app: str) -> list[Obj]:
    return client.list(PODS, ns, label_selector=f"app={app}")["items"]


def test_replicaset_cascades(cluster: Cluster, ns: str) -> None:
    c = cluster.client
    for name in ("kept", "gone", "fg"):
        replicaset(cluster, ns, name, 2)

    kubectl(cluster, "delete", "replicaset", "kept", "-n", ns, "--cascade=orphan")
    kept = pods_of(c, ns, "kept")
    assert len(kept) == 2 and not any(p["metadata"].get("ownerReferences") for p in kept)

    kubectl(cluster, "delete", "replicaset", "fg", "-n", ns, "--cascade=foreground")
    assert pods_of(c, ns, "fg") == []

    kubectl(cluster, "delete", "replicaset", "gone", "-n", ns)
    wait_for(lambda: not pods_of(c, ns, "gone"), 30, "the replica set's pods to go")
    kept = pods_of(c, ns, "kept")
    assert len(kept) == 2 and not any(p["metadata"].get("deletionTimestamp") for p in kept)


def test_resync_lists_every_stored_kind_and_skips_the_reviews(client: Client, ns: str) -> None:
    """The periodic resync walks every kind that exists as objects and finds the dependents; the
    create-only reviews (no list) are not among them (a resync that failed on them left the collector
    without its repair pass)."""
    from tasks.controllers.gc.collector import GarbageCollector
    from tasks.runtime.controller import Context

    owner = client.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "owner"}}, ns)
    ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner["metadata"]["uid"]}
    dependent = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "dep", "ownerReferences": [ref]},
    }
    client.create(dependent, ns)
    keys = list(GarbageCollector().resync_keys(Context(client=client)))
    assert f"dependent:configmaps:{ns}:dep" in keys, keys[:10]
