"""The scheduler cache's kept-up-to-date Snapshot equals one built afresh from the same cache, after
nodes and pods are added, changed, bound, finished, deleted, assumed and forgotten through a real API."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from cluster.api.resources import lookup
from cluster.client import Client
from tasks.scheduler.cache import ClusterCache
from tasks.scheduler.framework import Snapshot
from tests.e2e.conftest import launch_apiserver

NODES = lookup("", "v1", "nodes")
PODS = lookup("", "v1", "pods")
NS = "cache"


def _node(name: str, zone: str = "a", cpu: str = "4") -> dict[str, Any]:
    alloc = {"cpu": cpu, "memory": "8Gi", "pods": "110"}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, "zone": zone}},
        "status": {"capacity": alloc, "allocatable": alloc},
    }


def _pod(name: str, node: str | None = None, cpu: str = "100m") -> dict[str, Any]:
    spec: dict[str, Any] = {
        "containers": [{"name": "c", "image": "pause", "resources": {"requests": {"cpu": cpu}}}]
    }
    if node:
        spec["nodeName"] = node
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": NS}, "spec": spec}


def _view(snap: Snapshot) -> dict[str, Any]:
    """What plugins read from a snapshot, in comparable form."""
    return {
        "nodes": sorted(
            (n.name, sorted(n.pods), n.req_cpu, n.req_memory, n.alloc_cpu, sorted(n.labels.items()))
            for n in snap.nodes
        ),
        "pod_node": dict(sorted(snap.pod_node.items())),
        "images": snap.image_nodes,
        "soft_tainted": snap.soft_tainted,
    }


def _settle(cache: ClusterCache, client: Client) -> None:
    """Wait until the cache has seen the newest write (a fresh list's resourceVersion)."""
    rv = int(client.list(PODS, NS)["metadata"]["resourceVersion"])
    assert cache.wait_for_revision(rv, 10.0)
    time.sleep(0.2)  # both watches: the other one may trail the newest revision a little


def _fresh(cache: ClusterCache) -> Snapshot:
    nodes, pods = cache.copy()
    return Snapshot.from_objects(nodes, pods)


def test_incremental_snapshot_matches_a_rebuild(redis_url: str, tmp_path: Path) -> None:
    with launch_apiserver(redis_url, tmp_path) as server:
        client = Client(server.url)
        client.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
        for name in ("n1", "n2", "n3"):
            client.create(_node(name))
        for i in range(4):
            client.create(_pod(f"bound-{i}", node=f"n{i % 3 + 1}"))
        for i in range(3):
            client.create(_pod(f"free-{i}"))
        cache = ClusterCache(client).start()
        assert cache.wait_synced(10)
        first = cache.snapshot()
        assert _view(first) == _view(_fresh(cache))
        assert sorted(first.by_name["n1"].pods) == ["cache/bound-0", "cache/bound-3"]

        # changes through the API: bind, finish, delete a pod, relabel/resize, delete and add nodes
        client.request(
            "POST",
            client.path(PODS, NS, "free-0", "binding"),
            {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "free-0"},
             "target": {"kind": "Node", "name": "n2"}},
        )  # fmt: skip
        done = client.get(PODS, "bound-1", NS)
        done["status"] = {"phase": "Succeeded"}
        client.update(done, subresource="status")
        client.delete(PODS, "bound-2", NS)
        n1 = client.get(NODES, "n1")
        n1["metadata"]["labels"]["zone"] = "b"
        client.update(n1)
        client.delete(NODES, "n3")
        client.create(_node("n4", cpu="8"))
        client.create(_pod("late", node="n4"))
        _settle(cache, client)
        second = cache.snapshot()
        assert second is first  # updated in place, not rebuilt
        assert _view(second) == _view(_fresh(cache))
        assert "cache/free-0" in second.by_name["n2"].pods and "cache/bound-1" not in second.pod_node
        assert "n3" not in second.by_name and sorted(second.by_name["n4"].pods) == ["cache/late"]

        # a pass assumes placements in the snapshot; touched/forgotten pods go back to the cache's truth
        second.add_pod("n1", cache.pod("cache/free-1"))
        cache.assume("cache/free-2", "n4")
        cache.touch(["cache/free-1"])
        third = cache.snapshot()
        assert "cache/free-1" not in third.pod_node and third.pod_node["cache/free-2"] == "n4"
        cache.forget("cache/free-2")
        assert _view(cache.snapshot()) == _view(_fresh(cache))
        assert "cache/free-2" not in cache.snapshot().pod_node
