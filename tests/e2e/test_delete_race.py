"""DELETE while someone else keeps writing the object: without preconditions the caller never gets
a Conflict for writes it did not ask about (the server reads again and retries, as Kubernetes'
storage does); with a resourceVersion precondition it gets one."""

from __future__ import annotations

import threading
import time

import pytest

from cluster import errors
from cluster.api.resources import lookup
from cluster.client.client import Client
from tests.e2e.conftest import APIServerProcess
from tests.namespaces import fresh

CONFIGMAPS = lookup("", "v1", "configmaps")


@pytest.fixture
def client(apiserver: APIServerProcess) -> Client:
    return Client(apiserver.url)


def _hammer(client: Client, ns: str, name: str, stop: threading.Event, writes: list[int]) -> None:
    """Update the ConfigMap as fast as possible until ``stop`` (conflicts and its end are expected)."""
    mine = Client(client.server)
    while not stop.is_set():
        try:
            cm = mine.get(CONFIGMAPS, name, ns)
            mine.update({**cm, "data": {"n": str(len(writes))}})
            writes.append(1)
        except (errors.Conflict, errors.NotFound):
            continue


def test_delete_without_preconditions_survives_concurrent_writers(client: Client) -> None:
    ns = fresh(client, "delrace")
    deleted = 0
    for i in range(20):
        name = f"busy-{i}"
        # A finalizer makes DELETE an update (deletionTimestamp), so it races the writer's updates.
        client.create(
            {
                "metadata": {"name": name, "finalizers": ["kubeq.test/hold"]},
                "data": {},
                "kind": "ConfigMap",
                "apiVersion": "v1",
            },
            ns,
        )
        stop, writes = threading.Event(), []
        writer = threading.Thread(target=_hammer, args=(client, ns, name, stop, writes))
        writer.start()
        try:
            while len(writes) < 3:
                time.sleep(0.001)
            got = client.delete(CONFIGMAPS, name, ns)  # must not raise Conflict
            assert got["metadata"].get("deletionTimestamp")
            deleted += 1
        finally:
            stop.set()
            writer.join()
        cm = client.get(CONFIGMAPS, name, ns)
        client.update({**cm, "metadata": {**cm["metadata"], "finalizers": []}})
    assert deleted == 20


def test_delete_with_a_stale_resource_version_is_a_conflict(client: Client) -> None:
    ns = fresh(client, "delrace")
    cm = client.create(
        {"metadata": {"name": "c"}, "data": {"n": "0"}, "kind": "ConfigMap", "apiVersion": "v1"}, ns
    )
    client.update({**cm, "data": {"n": "1"}})
    with pytest.raises(errors.Conflict):
        client.delete(
            CONFIGMAPS, "c", ns, preconditions={"resourceVersion": cm["metadata"]["resourceVersion"]}
        )
    assert client.get(CONFIGMAPS, "c", ns)["data"] == {"n": "1"}
