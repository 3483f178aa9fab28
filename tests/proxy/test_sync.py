"""The node side end to end against a real API server: the Service watch queues the node, the proxy
sync builds the state from the API and the userspace daemon forwards real connections."""

from __future__ import annotations

import os
import random
import socket
import socketserver
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cluster.client.client import Client
from tasks.proxy import backend
from tasks.proxy.controller import SLICES, ProxyController
from tasks.runtime.controller import Context
from tests.e2e.conftest import launch_apiserver
from tests.namespaces import fresh
from tests.proxy.test_userspace import _ask
from workers.proxy import client as proxy_client
from workers.proxy.source import ProxySource

RANGE = "127.96.0.0/16"  # bindable without root


class _Named(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        self.request.sendall(self.server.name.encode())  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def api(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Client]:
    old = os.environ.get("KUBEQ_SERVICE_CLUSTER_IP_RANGE")
    os.environ["KUBEQ_SERVICE_CLUSTER_IP_RANGE"] = RANGE
    try:
        with launch_apiserver(redis_url, tmp_path_factory.mktemp("proxy-api")) as server:
            yield Client(server.url)
    finally:
        if old is None:
            os.environ.pop("KUBEQ_SERVICE_CLUSTER_IP_RANGE", None)
        else:
            os.environ["KUBEQ_SERVICE_CLUSTER_IP_RANGE"] = old


@pytest.fixture(scope="module")
def userspace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    data = tmp_path_factory.mktemp("proxy-node")
    backend.install(lambda: proxy_client.UserspaceBackend(data, "n1", RANGE))
    yield data
    backend.current().cleanup()
    backend.uninstall()
    proxy_client.stop_daemon(data)


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, int]]:
    out, made = {}, []
    for name in ("a", "b", "c"):
        socketserver.ThreadingTCPServer.allow_reuse_address = True
        s = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Named)
        s.name = name  # type: ignore[attr-defined]
        s.daemon_threads = True
        threading.Thread(target=s.serve_forever, daemon=True).start()
        out[name], made = s.server_address[1], [*made, s]
    yield out
    for s in made:
        s.shutdown()
        s.server_close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _service(api: Client, ns: str, port: int) -> dict[str, Any]:
    ip = f"127.96.{random.randint(1, 254)}.{random.randint(2, 254)}"
    body = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web", "namespace": ns},
        "spec": {"clusterIP": ip, "ports": [{"name": "http", "port": port, "targetPort": 8080}]},
    }
    return api.create(body)


def _slice(api: Client, ns: str, servers: dict[str, int], ready: dict[str, bool]) -> dict[str, Any]:
    """One EndpointSlice per backend (each server listens on its own port)."""
    out = []
    for name, port in servers.items():
        body = {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {
                "name": f"web-{name}",
                "namespace": ns,
                "labels": {"kubernetes.io/service-name": "web"},
            },
            "addressType": "IPv4",
            "ports": [{"name": "http", "port": port, "protocol": "TCP"}],
            "endpoints": [
                {"addresses": ["127.0.0.1"], "conditions": {"ready": ready[name]}, "nodeName": "n1"}
            ],
        }
        out.append(api.create(body))
    return {"items": out}


@pytest.fixture
def ns(api: Client) -> str:
    return fresh(api, "proxy")


def test_sync_serves_a_service_from_its_endpointslices(
    api: Client, userspace: Path, servers: dict, ns: str
) -> None:
    svc = _service(api, ns, _free_port())
    _slice(api, ns, servers, {"a": True, "b": True, "c": True})
    ProxyController().sync("n1", Context(client=api))
    ip, port = svc["spec"]["clusterIP"], svc["spec"]["ports"][0]["port"]
    assert {_ask(ip, port) for _ in range(60)} == {"a", "b", "c"}


def test_readiness_change_stops_traffic_within_two_seconds(
    api: Client, userspace: Path, servers: dict, ns: str
) -> None:
    """The watch queues the node, the sync (run inline as the queue would) updates the daemon."""
    svc = _service(api, ns, _free_port())
    _slice(api, ns, servers, {"a": True, "b": True, "c": True})
    ctl, ctx = ProxyController(), Context(client=api)
    source = ProxySource(api, "n1", lambda name, keys: [ctl.sync(k, ctx) for k in keys]).start()
    ip, port = svc["spec"]["clusterIP"], svc["spec"]["ports"][0]["port"]
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if _ask(ip, port):
                    break
            except OSError:
                time.sleep(0.1)
        slice_b = api.get(SLICES, "web-b", ns)
        slice_b["endpoints"][0]["conditions"]["ready"] = False
        api.update(slice_b)
        changed = time.monotonic()
        while time.monotonic() - changed < 2.0:
            if "b" not in {_ask(ip, port) for _ in range(30)}:
                break
        else:
            pytest.fail("traffic still reaches the unready endpoint 2 s after the change")
        assert {_ask(ip, port) for _ in range(60)} == {"a", "c"}
    finally:
        source.close()
