"""The node's copy of its pods (``tasks.kubelet.podcache``): what a sync reads instead of a GET."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from cluster import errors
from tasks.kubelet import podcache
from tasks.kubelet.podcache import PodCache

Obj = dict[str, Any]


def pod(rv: int, uid: str = "u1", phase: str = "Pending") -> Obj:
    md = {"namespace": "ns", "name": "web", "uid": uid, "resourceVersion": str(rv)}
    return {"metadata": md, "status": {"phase": phase}}


class FakeClient:
    def __init__(self, found: Obj | None) -> None:
        self.found, self.gets = found, 0

    def get(self, resource: Any, name: str, namespace: str) -> Obj:
        self.gets += 1
        if self.found is None:
            raise errors.NotFound(f"pods {name!r} not found")
        return self.found


@pytest.fixture
def cache() -> Iterator[PodCache]:
    held = PodCache()
    podcache.install(lambda: held)
    yield held
    podcache.uninstall()


def test_copies_only_move_forward_within_a_uid() -> None:
    held = PodCache()
    held.put(pod(7, phase="Running"))  # the kubelet's status write, before the watch delivers it
    held.put(pod(5))  # an older event arriving late
    assert held.get("ns", "web")["status"]["phase"] == "Running"
    held.put(pod(3, uid="u2"))  # a new pod under the same name replaces the old one
    assert held.get("ns", "web")["metadata"]["uid"] == "u2"
    held.drop("ns", "web")
    assert held.get("ns", "web") is None


def test_a_sync_reads_the_watched_copy_else_the_api(cache: PodCache) -> None:
    api = FakeClient(pod(9, phase="Running"))
    assert podcache.pod(api, "ns", "web")["metadata"]["resourceVersion"] == "9"  # not seen yet: a GET
    cache.put(pod(10, phase="Running"))
    assert podcache.pod(api, "ns", "web")["metadata"]["resourceVersion"] == "10" and api.gets == 1
    podcache.wrote(pod(11, phase="Succeeded"))
    assert podcache.pod(api, "ns", "web")["status"]["phase"] == "Succeeded"
    cache.drop("ns", "web")
    assert podcache.pod(FakeClient(None), "ns", "web") is None  # gone from the API too


def test_without_a_node_agent_every_read_is_a_get() -> None:
    api = FakeClient(pod(1))
    assert podcache.pod(api, "ns", "web") is not None and api.gets == 1
    podcache.wrote(pod(2))  # no cache installed: nothing to do
