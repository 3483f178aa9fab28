"""Events: one recorder that counts repeats, ``kubectl describe`` shows them, old ones expire."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cluster import errors
from cluster.api.resources import lookup
from cluster.client.client import Client
from tasks.runtime import events
from tests.e2e.conftest import APIServerProcess, launch_apiserver
from tests.e2e.control_plane import launch_control_plane
from tests.e2e.scheduling import wait_for

EVENTS = lookup("", "v1", "events")
PODS = lookup("", "v1", "pods")
NAMESPACES = lookup("", "v1", "namespaces")


@pytest.fixture(scope="module")
def apiserver(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[APIServerProcess]:
    with launch_apiserver(redis_url, tmp_path_factory.mktemp("events")) as server:
        yield server


def _pod(client: Client, namespace: str) -> dict:
    client.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    body = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web"},
        "spec": {"containers": [{"name": "c", "image": "nginx"}]},
    }
    return client.create(body, namespace)


def test_repeats_are_counted_and_described(apiserver: APIServerProcess, tmp_path: Path) -> None:
    client = Client(apiserver.url)
    pod = _pod(client, "ev-count")
    first = events.record(client, pod, "Warning", "BackOff", "Back-off restarting", "kubelet")
    again = events.record(client, pod, "Warning", "BackOff", "Back-off restarting", "kubelet")
    other = events.record(client, pod, "Normal", "Pulled", "Image pulled", "kubelet")
    assert first and again and other
    assert again["metadata"]["name"] == first["metadata"]["name"] and again["count"] == 2
    assert other["metadata"]["name"] != first["metadata"]["name"] and other["count"] == 1
    assert again["involvedObject"]["uid"] == pod["metadata"]["uid"]
    assert again["source"] == {"component": "kubelet"}
    listed = client.list(EVENTS, "ev-count", field_selector="involvedObject.name=web")["items"]
    assert len(listed) == 2
    out = subprocess.run(
        [
            "kubectl",
            f"--kubeconfig={apiserver.kubeconfig}",
            f"--cache-dir={tmp_path}",
            "describe",
            "pod",
            "web",
            "-n",
            "ev-count",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    events_part = out.split("Events:", 1)[1]
    assert "BackOff" in events_part and "(x2 over" in events_part and "Pulled" in events_part


def test_a_missing_object_namespace_is_not_an_error(apiserver: APIServerProcess) -> None:
    client = Client(apiserver.url)
    ghost = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "x", "namespace": "no-such-ns", "uid": "u"},
    }
    assert events.record(client, ghost, "Normal", "Nothing", "nothing", "test") is None


def test_events_older_than_the_ttl_expire(redis_url: str, tmp_path: Path) -> None:
    with launch_apiserver(redis_url, tmp_path) as server:
        client = Client(server.url)
        pod = _pod(client, "ev-ttl")
        fresh = events.record(client, pod, "Normal", "Fresh", "just now", "test")
        stale = events.record(client, pod, "Normal", "Stale", "long ago", "test")
        assert fresh and stale
        two_hours_ago = (datetime.now(UTC) - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
        stale["lastTimestamp"] = stale["firstTimestamp"] = two_hours_ago
        client.update(stale)
        # a controller-manager starting up resyncs every controller, the expiry among them
        with launch_control_plane(server, schedulers=0):

            def stale_gone() -> bool:
                try:
                    client.get(EVENTS, stale["metadata"]["name"], "ev-ttl")
                except errors.NotFound:
                    return True
                return False

            wait_for(stale_gone, 60, "the stale event to expire")
        assert client.get(EVENTS, fresh["metadata"]["name"], "ev-ttl")["reason"] == "Fresh"
