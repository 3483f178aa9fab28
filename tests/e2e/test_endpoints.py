"""Non-resource endpoints a cluster operator uses: health, version, metrics."""

from __future__ import annotations

import json
import re
import urllib.request

from tests.e2e.conftest import APIServerProcess


def _get(url: str, accept: str = "*/*") -> tuple[int, str, str]:
    req = urllib.request.Request(url, headers={"Accept": accept})
    with urllib.request.urlopen(req) as resp:
        return resp.status, resp.headers.get("Content-Type", ""), resp.read().decode()


def test_health_endpoints_answer_ok(apiserver: APIServerProcess) -> None:
    for path in ("/healthz", "/livez", "/readyz"):
        assert _get(apiserver.url + path)[::2] == (200, "ok")


def test_version_is_semver(apiserver: APIServerProcess) -> None:
    _, content_type, body = _get(apiserver.url + "/version")
    info = json.loads(body)
    assert content_type == "application/json"
    assert re.fullmatch(r"v\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?", info["gitVersion"])
    assert (info["major"], info["minor"]) == ("1", "32")


def test_metrics_count_requests_by_verb_and_resource(apiserver: APIServerProcess) -> None:
    for _ in range(3):  # two gunicorn workers: make sure the one that answers /metrics saw a list
        _get(apiserver.url + "/api/v1/namespaces")
    seen = ""
    for _ in range(10):
        status, content_type, seen = _get(apiserver.url + "/metrics")
        assert status == 200 and content_type.startswith("text/plain")
        if 'apiserver_request_total{code="200",resource="namespaces",subresource="",verb="list"}' in seen:
            break
        _get(apiserver.url + "/api/v1/namespaces")
    assert 'apiserver_request_total{code="200",resource="namespaces",subresource="",verb="list"}' in seen
    assert "apiserver_request_duration_seconds_bucket" in seen


def test_aggregated_discovery_when_asked(apiserver: APIServerProcess) -> None:
    accept = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"
    _, content_type, body = _get(apiserver.url + "/apis", accept)
    assert "as=APIGroupDiscoveryList" in content_type
    groups = {g["metadata"]["name"]: g for g in json.loads(body)["items"]}
    apps = groups["apps"]["versions"][0]["resources"]
    deployments = next(r for r in apps if r["resource"] == "deployments")
    assert deployments["responseKind"]["kind"] == "Deployment"
    scale = next(s for s in deployments["subresources"] if s["subresource"] == "scale")
    assert scale["responseKind"] == {"group": "autoscaling", "version": "v1", "kind": "Scale"}
