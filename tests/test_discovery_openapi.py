"""Discovery and OpenAPI documents, checked as data and against the real kubectl.

The kubectl tests start a throwaway WSGI server (wsgiref, in a thread) that serves only the
discovery, version and OpenAPI endpoints from the functions under test, plus a stand-in for
object reads (404) and creates (echo) so that ``kubectl apply`` can run to the end.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from socketserver import ThreadingMixIn
from typing import Any
from urllib.parse import parse_qs
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest

from cluster.api import openapi
from cluster.api.resources import RESOURCES
from cluster.api.schema import definitions
from cluster.apiserver import discovery

KUBECTL = shutil.which("kubectl")


# ---- discovery as data ------------------------------------------------------------------------


def test_api_lists_core_version_and_server_address() -> None:
    doc = discovery.api_versions()
    assert doc["kind"] == "APIVersions"
    assert doc["versions"] == ["v1"]
    assert doc["serverAddressByClientCIDRs"][0]["clientCIDR"] == "0.0.0.0/0"


def test_apis_lists_every_named_group_with_preferred_version() -> None:
    doc = discovery.api_group_list()
    assert doc["kind"] == "APIGroupList"
    names = [g["name"] for g in doc["groups"]]
    assert "" not in names
    assert {"apps", "batch", "discovery.k8s.io", "coordination.k8s.io", "events.k8s.io"} <= set(names)
    apps = next(g for g in doc["groups"] if g["name"] == "apps")
    assert apps["preferredVersion"] == {"groupVersion": "apps/v1", "version": "v1"}


def test_single_group_and_unknown_group() -> None:
    assert discovery.api_group("batch")["versions"] == [{"groupVersion": "batch/v1", "version": "v1"}]
    assert discovery.api_group("nope.example.com") is None
    assert discovery.api_group("") is None
    assert discovery.api_resource_list("apps", "v2") is None


def _entry(doc: dict, name: str) -> dict:
    return next(r for r in doc["resources"] if r["name"] == name)


def test_core_resource_list_has_names_short_names_and_subresources() -> None:
    doc = discovery.api_resource_list("", "v1")
    assert doc["groupVersion"] == "v1"
    pods = _entry(doc, "pods")
    assert pods["singularName"] == "pod" and pods["namespaced"] and pods["kind"] == "Pod"
    assert pods["shortNames"] == ["po"] and pods["categories"] == ["all"]
    assert "watch" in pods["verbs"]
    assert _entry(doc, "pods/status")["verbs"] == ["get", "patch", "update"]
    assert _entry(doc, "pods/binding")["verbs"] == ["create"]
    assert _entry(doc, "pods/log") == {**_entry(doc, "pods/log"), "kind": "Pod", "verbs": ["get"]}
    eviction = _entry(doc, "pods/eviction")
    assert (eviction["group"], eviction["version"], eviction["kind"]) == ("policy", "v1", "Eviction")
    assert _entry(doc, "namespaces/finalize")["verbs"] == ["update"]
    assert _entry(doc, "namespaces")["namespaced"] is False


def test_scale_subresource_is_autoscaling_v1_scale() -> None:
    scale = _entry(discovery.api_resource_list("apps", "v1"), "deployments/scale")
    assert (scale["group"], scale["version"], scale["kind"]) == ("autoscaling", "v1", "Scale")
    assert scale["verbs"] == ["get", "patch", "update"]


def test_aggregated_discovery_gives_every_resource_a_response_kind() -> None:
    core = discovery.aggregated_discovery(core=True)
    assert core["apiVersion"] == "apidiscovery.k8s.io/v2" and core["kind"] == "APIGroupDiscoveryList"
    assert [item["metadata"]["name"] for item in core["items"]] == [""]
    rest = discovery.aggregated_discovery(core=False)
    groups = {item["metadata"]["name"]: item for item in rest["items"]}
    assert "" not in groups and "apps" in groups
    for doc in (core, rest):
        for item in doc["items"]:
            for version in item["versions"]:
                assert version["freshness"] == "Current"
                for res in version["resources"]:
                    assert res["responseKind"]["kind"]
                    assert res["scope"] in ("Namespaced", "Cluster")
                    for sub in res.get("subresources", []):
                        assert sub["responseKind"]["kind"] and sub["verbs"]
    deployments = next(
        r for r in groups["apps"]["versions"][0]["resources"] if r["resource"] == "deployments"
    )
    assert deployments["shortNames"] == ["deploy"] and deployments["singularResource"] == "deployment"
    scale = next(s for s in deployments["subresources"] if s["subresource"] == "scale")
    assert scale["responseKind"] == {"group": "autoscaling", "version": "v1", "kind": "Scale"}


def test_version_is_semver_with_kubernetes_minor() -> None:
    info = discovery.version_info()
    assert re.fullmatch(r"v1\.32\.\d+-kubeq\.\d+", info["gitVersion"])
    assert (info["major"], info["minor"]) == ("1", "32")
    assert info["compiler"] == "cpython" and info["goVersion"].startswith("python3")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", info["buildDate"])


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        ("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json", True),
        ("application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json", False),
        ("application/json", False),
        (None, False),
        ("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList;q=0,application/json", False),
    ],
)
def test_aggregated_form_only_when_asked_first(accept: str | None, expected: bool) -> None:
    assert discovery.wants_aggregated(accept) is expected


# ---- OpenAPI as data --------------------------------------------------------------------------


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            yield node["$ref"]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def test_v3_document_holds_every_kind_with_its_gvk_and_a_description() -> None:
    for r in RESOURCES:
        doc = openapi.openapi_v3(r.group, r.version)
        schemas = doc["components"]["schemas"]
        kind = schemas[r.schema]
        assert {"group": r.group, "kind": r.kind, "version": r.version} in kind[
            "x-kubernetes-group-version-kind"
        ]
        assert kind["description"]
        assert schemas[r.schema + "List"]["properties"]["items"]["items"] == {
            "$ref": "#/components/schemas/" + r.schema
        }
        for ref in _refs(doc):
            assert ref.removeprefix("#/components/schemas/") in schemas, ref
    assert openapi.openapi_v3("apps", "v9") is None


def test_v3_keeps_kubernetes_extensions() -> None:
    schemas = openapi.openapi_v3("", "v1")["components"]["schemas"]
    ports = schemas["io.k8s.api.core.v1.Container"]["properties"]["ports"]
    assert ports["x-kubernetes-patch-merge-key"] == "containerPort"
    assert ports["x-kubernetes-list-map-keys"] == ["containerPort", "protocol"]
    assert schemas["io.k8s.apimachinery.pkg.util.intstr.IntOrString"]["x-kubernetes-int-or-string"] is True
    assert "io.k8s.api.policy.v1.Eviction" in schemas and "io.k8s.api.core.v1.Binding" in schemas
    assert "io.k8s.api.autoscaling.v1.Scale" in openapi.openapi_v3("apps", "v1")["components"]["schemas"]


def test_documents_do_not_change_the_shared_definitions() -> None:
    openapi.openapi_v3("", "v1")
    assert "description" not in definitions()["io.k8s.api.core.v1.Pod"]


def test_v3_paths_have_kubernetes_operation_shapes() -> None:
    paths = openapi.openapi_v3("apps", "v1")["paths"]
    item = paths["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]
    assert {p["name"] for p in item["parameters"]} == {"name", "namespace", "pretty"}
    patch = item["patch"]
    assert patch["x-kubernetes-action"] == "patch"
    assert patch["x-kubernetes-group-version-kind"] == {
        "group": "apps",
        "kind": "Deployment",
        "version": "v1",
    }
    assert set(patch["requestBody"]["content"]) == {
        "application/apply-patch+yaml",
        "application/json-patch+json",
        "application/merge-patch+json",
        "application/strategic-merge-patch+json",
    }
    assert {"fieldValidation", "fieldManager", "dryRun", "force"} <= {p["name"] for p in patch["parameters"]}
    assert item["put"]["operationId"] == "replaceAppsV1NamespacedDeployment"
    collection = paths["/apis/apps/v1/namespaces/{namespace}/deployments"]
    assert collection["get"]["x-kubernetes-action"] == "list"
    assert "application/json;stream=watch" in collection["get"]["responses"]["200"]["content"]
    assert collection["post"]["requestBody"]["required"] is True
    assert collection["delete"]["x-kubernetes-action"] == "deletecollection"
    assert paths["/apis/apps/v1/deployments"]["get"]["operationId"] == "listAppsV1DeploymentForAllNamespaces"
    scale = paths["/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"]
    assert set(scale) == {"get", "put", "patch", "parameters"}
    assert scale["patch"]["x-kubernetes-group-version-kind"]["kind"] == "Scale"
    core = openapi.openapi_v3("", "v1")["paths"]
    assert set(core["/api/v1/namespaces/{namespace}/pods/{name}/eviction"]) == {"post", "parameters"}
    assert (
        "text/plain"
        in core["/api/v1/namespaces/{namespace}/pods/{name}/log"]["get"]["responses"]["200"]["content"]
    )
    assert "/api/v1/nodes/{name}" in core and "/api/v1/namespaces/{name}/finalize" in core


def test_index_points_at_each_group_version_with_a_stable_hash() -> None:
    index = openapi.openapi_v3_index()["paths"]
    assert set(index) >= {"api/v1", "apis/apps/v1", "apis/batch/v1"}
    url = index["apis/apps/v1"]["serverRelativeURL"]
    assert url.startswith("/openapi/v3/apis/apps/v1?hash=")
    assert url.endswith(openapi.document_hash(openapi.openapi_v3("apps", "v1")))


def test_v2_uses_definitions_refs_only() -> None:
    doc = openapi.openapi_v2()
    assert doc["swagger"] == "2.0"
    assert "io.k8s.api.apps.v1.Deployment" in doc["definitions"]
    refs = list(_refs(doc))
    assert refs and all(ref.startswith("#/definitions/") for ref in refs)
    assert all(ref.removeprefix("#/definitions/") in doc["definitions"] for ref in refs)
    patch = doc["paths"]["/api/v1/namespaces/{namespace}/pods/{name}"]["patch"]
    assert "application/strategic-merge-patch+json" in patch["consumes"]
    assert patch["x-kubernetes-group-version-kind"]["kind"] == "Pod"


def test_documents_pass_an_openapi_validator() -> None:
    import openapi_spec_validator as validator

    for group, version in {(r.group, r.version) for r in RESOURCES}:
        validator.validate(openapi.openapi_v3(group, version))
    validator.validate(openapi.openapi_v2())


# ---- the real kubectl against a throwaway server ---------------------------------------------


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


def _app(aggregated: bool, seen: list[tuple[str, str, str]]):
    """A WSGI app answering discovery/OpenAPI from the functions under test."""

    def reply(start, code: str, body: Any, ctype: str = "application/json"):
        data = json.dumps(body).encode()
        start(code, [("Content-Type", ctype), ("Content-Length", str(len(data)))])
        return [data]

    def app(environ, start):
        # The Python client asks for /version/, /apis/, /apis/apps/v1/: a trailing slash means the same.
        method, path = environ["REQUEST_METHOD"], environ["PATH_INFO"].rstrip("/") or "/"
        query = environ.get("QUERY_STRING", "")
        seen.append((method, path, query))
        accept = environ.get("HTTP_ACCEPT", "")
        parts = [p for p in path.split("/") if p]
        if path in ("/api", "/apis") and aggregated and discovery.wants_aggregated(accept):
            doc = discovery.aggregated_discovery(core=path == "/api")
            return reply(start, "200 OK", doc, discovery.AGGREGATED_MEDIA_TYPE)
        doc = None
        if path == "/api":
            doc = discovery.api_versions()
        elif path == "/apis":
            doc = discovery.api_group_list()
        elif path == "/version":
            doc = discovery.version_info()
        elif path == "/openapi/v3":
            doc = openapi.openapi_v3_index()
        elif path == "/openapi/v2":
            doc = openapi.openapi_v2()
        elif parts[:2] == ["openapi", "v3"]:
            rest = parts[2:]
            if rest[:1] == ["api"] and len(rest) == 2:
                doc = openapi.openapi_v3("", rest[1])
            elif rest[:1] == ["apis"] and len(rest) == 3:
                doc = openapi.openapi_v3(rest[1], rest[2])
        elif parts[:1] == ["api"] and len(parts) == 2:
            doc = discovery.api_resource_list("", parts[1])
        elif parts[:1] == ["apis"] and len(parts) == 2:
            doc = discovery.api_group(parts[1])
        elif parts[:1] == ["apis"] and len(parts) == 3:
            doc = discovery.api_resource_list(parts[1], parts[2])
        elif method == "POST":
            length = int(environ.get("CONTENT_LENGTH") or 0)
            obj = json.loads(environ["wsgi.input"].read(length))
            obj.setdefault("metadata", {}).update(uid="0000", resourceVersion="1")
            return reply(start, "201 Created", obj)
        if doc is None:
            status = {
                "kind": "Status",
                "apiVersion": "v1",
                "metadata": {},
                "status": "Failure",
                "message": f"{path} not found",
                "reason": "NotFound",
                "code": 404,
            }
            return reply(start, "404 Not Found", status)
        return reply(start, "200 OK", doc)

    return app


@pytest.fixture(scope="module", params=[True, False], ids=["aggregated", "legacy"])
def kube(request, tmp_path_factory):
    """A function running kubectl against a fresh server; ``.seen`` records the requests."""
    seen: list[tuple[str, str, str]] = []
    server = make_server("127.0.0.1", 0, _app(request.param, seen), _ThreadingServer, _QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    home = tmp_path_factory.mktemp("kubectl-home")
    env = {**os.environ, "HOME": str(home), "KUBECONFIG": str(home / "none.yaml")}
    base = [
        KUBECTL or "kubectl",
        "--server",
        f"http://127.0.0.1:{server.server_port}",
        "--cache-dir",
        str(home / "cache"),
    ]

    def run(*args: str, stdin: str | None = None) -> str:
        done = subprocess.run(
            base + list(args), input=stdin, capture_output=True, text=True, env=env, timeout=30
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    run.seen = seen  # type: ignore[attr-defined]
    run.url = f"http://127.0.0.1:{server.server_port}"  # type: ignore[attr-defined]
    run.home = home  # type: ignore[attr-defined]
    run.aggregated = request.param  # type: ignore[attr-defined]
    yield run
    server.shutdown()
    server.server_close()


def test_kubectl_api_resources_lists_pods_and_deployments(kube) -> None:
    out = kube("api-resources")
    rows = {line.split()[0]: line.split() for line in out.splitlines()[1:]}
    assert rows["pods"][1:] == ["po", "v1", "true", "Pod"]
    assert rows["deployments"][1:] == ["deploy", "apps/v1", "true", "Deployment"]
    assert rows["namespaces"][1:] == ["ns", "v1", "false", "Namespace"]
    fetched = {path for _, path, _ in kube.seen}
    assert ("/apis/apps/v1" in fetched) is not kube.aggregated


def test_kubectl_version_prints_server_version(kube) -> None:
    out = kube("version")
    assert f"Server Version: {discovery.version_info()['gitVersion']}" in out


def test_kubectl_explain_pod_containers(kube) -> None:
    out = kube("explain", "pod.spec.containers")
    assert "KIND:" in out and "Pod" in out
    fields = out.split("FIELDS:", 1)[1]
    assert re.search(r"^\s+image\s+<string>", fields, re.M)
    assert re.search(r"^\s+ports\s+<\[\]ContainerPort>", fields, re.M)


def test_kubectl_explain_deployment_spec(kube) -> None:
    out = kube("explain", "deployment.spec")
    assert "GROUP:      apps" in out and re.search(r"^\s+replicas\s+<integer>", out, re.M)
    assert "FIELD: replicas <integer>" in kube("explain", "deployment.spec.replicas")
    assert openapi.openapi_v3("", "v1")["components"]["schemas"]["io.k8s.api.core.v1.Pod"]["description"] in (
        kube("explain", "pods")
    )


_MANIFEST = """
apiVersion: v1
kind: Namespace
metadata: {name: team}
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: default}
spec:
  containers: [{name: web, image: nginx, ports: [{containerPort: 80}]}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: default}
spec:
  replicas: 2
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec: {containers: [{name: api, image: nginx}]}
"""


def test_kubectl_apply_with_validation_accepts_the_documents(kube) -> None:
    out = kube("apply", "--validate=strict", "-f", "-", stdin=_MANIFEST)
    assert (
        "namespace/team created" in out and "pod/web created" in out and "deployment.apps/api created" in out
    )
    posts = [(path, parse_qs(query)) for method, path, query in kube.seen if method == "POST"]
    assert [p for p, _ in posts] == [
        "/api/v1/namespaces",
        "/api/v1/namespaces/default/pods",
        "/apis/apps/v1/namespaces/default/deployments",
    ]
    # kubectl found the fieldValidation parameter in the OpenAPI document and left validation to the server.
    assert all(q.get("fieldValidation") == ["Strict"] for _, q in posts)


def test_python_client_reads_discovery(kube) -> None:
    from kubernetes import client, dynamic

    config = client.Configuration()
    config.host = kube.url
    with client.ApiClient(config) as api:
        assert client.VersionApi(api).get_code().git_version == discovery.version_info()["gitVersion"]
        assert "apps" in [g.name for g in client.ApisApi(api).get_api_versions().groups]
        names = [r.name for r in client.AppsV1Api(api).get_api_resources().resources]
        assert "deployments/scale" in names
        dyn = dynamic.DynamicClient(api, cache_file=str(kube.home / "dynamic-cache.json"))
        deployments = dyn.resources.get(api_version="apps/v1", kind="Deployment")
        assert deployments.namespaced and deployments.short_names == ["deploy"]
        assert dyn.resources.get(api_version="v1", kind="Pod").subresources["eviction"].kind == "Eviction"
