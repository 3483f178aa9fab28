"""The API server reports where request time goes: kubeq_apiserver_phase_seconds_total{verb,phase}."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from cluster.apiserver.app import APIServer
from cluster.registry import Registry, ensure_system_namespaces
from cluster.store import Store


def _call(app: APIServer, method: str, path: str, body: object = None) -> tuple[str, bytes]:
    data = b"" if body is None else json.dumps(body).encode()
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(data)),
        "HTTP_ACCEPT": "application/json",
        "wsgi.input": io.BytesIO(data),
    }
    status: list[str] = []
    chunks = app(environ, lambda s, headers: status.append(s))
    return status[0], b"".join(chunks)


def _phases(app: APIServer) -> dict[tuple[str, str], float]:
    _, text = _call(app, "GET", "/metrics")
    return {
        (s.labels["verb"], s.labels["phase"]): s.value
        for family in text_string_to_metric_families(text.decode())
        for s in family.samples
        if s.name == "kubeq_apiserver_phase_seconds_total"
    }


@pytest.fixture
def app(store: Store) -> Iterator[APIServer]:
    registry = Registry(store)
    ensure_system_namespaces(registry)
    yield APIServer(registry)


def test_create_and_get_report_their_phases_on_metrics(app: APIServer) -> None:
    before = _phases(app)
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}, "data": {"k": "v"}}
    status, _ = _call(app, "POST", "/api/v1/namespaces/default/configmaps", cm)
    assert status.startswith("201")
    status, _ = _call(app, "GET", "/api/v1/namespaces/default/configmaps/a")
    assert status.startswith("200")
    after = _phases(app)

    def grew(verb: str, phase: str) -> float:
        return after.get((verb, phase), 0.0) - before.get((verb, phase), 0.0)

    for phase in ("decode", "admission", "store", "encode"):
        assert grew("create", phase) > 0, phase
    assert grew("get", "store") > 0 and grew("get", "encode") > 0
    assert grew("get", "decode") == 0  # a GET has no body
    assert grew("create", "store") < 1.0  # seconds: sums of one request, not counted twice


def test_failed_write_is_timed_too(app: APIServer) -> None:
    before = _phases(app).get(("create", "decode"), 0.0)
    status, _ = _call(app, "POST", "/api/v1/namespaces/default/configmaps", {"metadata": "not an object"})
    assert status.startswith("400")
    assert _phases(app).get(("create", "decode"), 0.0) > before
