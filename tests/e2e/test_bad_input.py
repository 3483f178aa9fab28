"""Bad input over plain HTTP: every refusal is a clear ``Status`` and changes nothing.

Requests go straight to the API server with ``http.client`` (no client library smoothing things
over). Each test checks the code, the ``reason``, a message naming the problem, and that the store
holds afterwards exactly what it held before.
"""

from __future__ import annotations

import copy
import http.client
import json
import os
import random
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

Obj = dict[str, Any]
JSON = "application/json"
MERGE = "application/merge-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"
APPLY = "application/apply-patch+yaml"
PROTOBUF = "application/vnd.kubernetes.protobuf"


@dataclass
class Response:
    code: int
    headers: http.client.HTTPMessage
    raw: bytes

    @property
    def body(self) -> Any:
        return json.loads(self.raw)


@pytest.fixture(scope="module")
def http_call(apiserver):  # type: ignore[no-untyped-def]
    """``http_call(method, path, body=None, content_type=JSON)`` -> :class:`Response`."""
    parts = urlsplit(apiserver.url)

    def call(method: str, path: str, body: Any = None, content_type: str = JSON, **headers: str) -> Response:
        if body is not None and not isinstance(body, bytes):
            body = json.dumps(body).encode()
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        try:
            hdrs = {"Accept": JSON, **headers}
            if body is not None:
                hdrs["Content-Type"] = content_type
            conn.request(method, path, body=body, headers=hdrs)
            resp = conn.getresponse()
            return Response(resp.status, resp.headers, resp.read())
        finally:
            conn.close()

    return call


def assert_status(resp: Response, code: int, reason: str, *words: str) -> Obj:
    """The response is a failure ``Status`` with this code and reason whose message has ``words``."""
    assert resp.code == code, resp.raw[:500]
    status = resp.body
    assert status["kind"] == "Status" and status["apiVersion"] == "v1", status
    assert status["status"] == "Failure", status
    assert status["code"] == code and status["reason"] == reason, status
    message = status["message"]
    assert message, status
    for word in words:
        assert word.lower() in message.lower(), (word, message)
    return status


def cm_path(ns: str, name: str = "") -> str:
    return f"/api/v1/namespaces/{ns}/configmaps" + (f"/{name}" if name else "")


def pod_path(ns: str, name: str = "") -> str:
    return f"/api/v1/namespaces/{ns}/pods" + (f"/{name}" if name else "")


def deploy_path(ns: str, name: str = "") -> str:
    return f"/apis/apps/v1/namespaces/{ns}/deployments" + (f"/{name}" if name else "")


def configmap(name: str, **data: str) -> Obj:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}


def pod(name: str, image: str = "nginx:1.27") -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {"containers": [{"name": "main", "image": image}]},
    }


def deployment(name: str) -> Obj:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "main", "image": "nginx:1.27"}]},
            },
        },
    }


def service(name: str) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {"selector": {"app": name}, "ports": [{"port": 80, "targetPort": 8080}]},
    }


def names(http_call, path: str) -> set[str]:  # type: ignore[no-untyped-def]
    resp = http_call("GET", path)
    assert resp.code == 200, resp.raw
    return {item["metadata"]["name"] for item in resp.body["items"]}


def create(http_call, path: str, obj: Obj) -> Obj:  # type: ignore[no-untyped-def]
    resp = http_call("POST", path, obj)
    assert resp.code == 201, resp.raw
    return resp.body


# ---- body size ----------------------------------------------------------------------------


def test_body_over_3mib_is_413(http_call, namespace: str) -> None:
    body = json.dumps(configmap("huge", blob="x" * (3 * 1024 * 1024 + 10))).encode()
    status = assert_status(http_call("POST", cm_path(namespace), body), 413, "RequestEntityTooLarge", "limit")
    assert "bytes" in status["message"]
    assert names(http_call, cm_path(namespace)) == set()
    create(http_call, cm_path(namespace), configmap("small", a="1"))
    patch = json.dumps({"data": {"a": "x" * (3 * 1024 * 1024)}}).encode()
    assert_status(http_call("PATCH", cm_path(namespace, "small"), patch, MERGE), 413, "RequestEntityTooLarge")
    put = json.dumps(configmap("small", a="x" * (3 * 1024 * 1024))).encode()
    assert_status(http_call("PUT", cm_path(namespace, "small"), put), 413, "RequestEntityTooLarge")
    assert http_call("GET", cm_path(namespace, "small")).body["data"] == {"a": "1"}


def test_chunked_body_over_3mib_is_413(http_call, namespace: str, apiserver) -> None:  # type: ignore[no-untyped-def]
    """Without a Content-Length the server still stops reading at the limit."""
    parts = urlsplit(apiserver.url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    chunk = b" " * (256 * 1024)
    try:
        conn.request(
            "POST",
            cm_path(namespace),
            body=iter([json.dumps(configmap("chunked")).encode()] + [chunk] * 13),
            headers={"Content-Type": JSON, "Accept": JSON},
            encode_chunked=True,
        )
        resp = conn.getresponse()
        assert_status(Response(resp.status, resp.headers, resp.read()), 413, "RequestEntityTooLarge", "limit")
    finally:
        conn.close()
    assert names(http_call, cm_path(namespace)) == set()


def test_object_over_1_5mib_is_422(http_call, namespace: str) -> None:
    obj = json.dumps(configmap("big", blob="x" * (1600 * 1024))).encode()
    body = obj + b" " * (2 * 1024 * 1024 - len(obj))  # a 2 MiB body: under the request limit
    assert len(body) == 2 * 1024 * 1024
    status = assert_status(http_call("POST", cm_path(namespace), body), 422, "Invalid", "big")
    assert "too long" in json.dumps(status).lower()
    assert http_call("GET", cm_path(namespace, "big")).code == 404
    create(http_call, cm_path(namespace), configmap("grows", a="1"))
    patch = {"data": {"a": "x" * (900 * 1024), "b": "y" * (900 * 1024)}}  # each value fits, together not
    assert_status(http_call("PATCH", cm_path(namespace, "grows"), patch, MERGE), 422, "Invalid", "grows")
    assert http_call("GET", cm_path(namespace, "grows")).body["data"] == {"a": "1"}


# ---- malformed bodies ---------------------------------------------------------------------


def _varint(n: int) -> bytes:
    out = b""
    while True:
        low, n = n & 0x7F, n >> 7
        out += bytes([low | (0x80 if n else 0)])
        if not n:
            return out


def _field(number: int, data: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(data)) + data


def protobuf_configmap(name: str) -> bytes:
    """``k8s\\0`` + ``runtime.Unknown`` wrapping a protobuf ConfigMap, as kubectl sends it."""
    type_meta = _field(1, b"v1") + _field(2, b"ConfigMap")
    entry = _field(1, b"k") + _field(2, b"v")
    raw = _field(1, _field(1, name.encode())) + _field(2, entry)
    return b"k8s\x00" + _field(1, type_meta) + _field(2, raw)


def test_valid_protobuf_is_accepted(http_call, namespace: str) -> None:
    """The baseline for the malformed cases below: the same bytes, intact, create the object."""
    resp = http_call("POST", cm_path(namespace), protobuf_configmap("pb"), PROTOBUF)
    assert resp.code == 201, resp.raw
    assert resp.body["data"] == {"k": "v"}


@pytest.mark.parametrize(
    ("content_type", "body", "words"),
    [
        (JSON, b'{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "m"', ["json"]),
        (JSON, b"{'single': 'quotes'}", ["json"]),
        (JSON, b"\xff\xfe\x00garbage", ["json"]),
        ("application/yaml", b"metadata:\n  name: [m\ndata: {a: 1", ["yaml"]),
        ("application/yaml", b"kind: ConfigMap\n\tmetadata: x\n", ["yaml"]),
        (PROTOBUF, b"K8S\x00" + protobuf_configmap("m")[4:], ["magic"]),
        (PROTOBUF, b"not protobuf at all", ["magic"]),
        (PROTOBUF, protobuf_configmap("truncated")[:-3], ["protobuf"]),
        (PROTOBUF, protobuf_configmap("truncated")[:9], ["protobuf"]),
    ],
    ids=[
        "json-cut",
        "json-quotes",
        "json-binary",
        "yaml-flow",
        "yaml-tab",
        "pb-magic",
        "pb-text",
        "pb-cut",
        "pb-cut-early",
    ],
)
def test_malformed_body_is_400(
    http_call, namespace: str, content_type: str, body: bytes, words: list[str]
) -> None:
    resp = http_call("POST", cm_path(namespace), body, content_type)
    assert_status(resp, 400, "BadRequest", *words)
    assert names(http_call, cm_path(namespace)) == set()


def test_deeply_nested_body_is_400(http_call, namespace: str) -> None:
    deep = (
        b'{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "deep"}, "data": ' + b"[" * 100_000
    )
    assert_status(http_call("POST", cm_path(namespace), deep + b"]" * 100_000), 400, "BadRequest")
    nested = b"a: " + b"[" * 1200 + b"]" * 1200
    assert_status(http_call("POST", cm_path(namespace), nested, "application/yaml"), 400, "BadRequest")
    # parses, but deeper than anything Kubernetes holds: refused before later steps recurse into it
    under_unknown = (
        json.dumps(configmap("deep")).encode()[:-1] + b', "extra": ' + b"[" * 500 + b"]" * 500 + b"}"
    )
    assert_status(http_call("POST", cm_path(namespace), under_unknown), 400, "BadRequest", "nests deeper")
    assert names(http_call, cm_path(namespace)) == set()


def test_yaml_alias_bomb_is_refused(http_call, namespace: str) -> None:
    """Nested YAML aliases that would expand to billions of strings are refused quickly."""
    lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 10)]
    body = ("\n".join(["apiVersion: v1", "kind: ConfigMap", "metadata: {name: bomb}", "data:"])).encode()
    body += ("\n" + "\n".join("  " + line for line in lines)).encode()
    resp = http_call("POST", cm_path(namespace), body, "application/yaml")
    assert_status(resp, 400, "BadRequest")
    assert names(http_call, cm_path(namespace)) == set()


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml"])
def test_unsupported_content_type_is_415(http_call, namespace: str, content_type: str) -> None:
    body = json.dumps(configmap("typed")).encode()
    assert_status(http_call("POST", cm_path(namespace), body, content_type), 415, "UnsupportedMediaType")
    assert names(http_call, cm_path(namespace)) == set()
    create(http_call, cm_path(namespace), configmap("typed", a="1"))
    patch = json.dumps({"data": {"a": "2"}}).encode()
    assert_status(
        http_call("PATCH", cm_path(namespace, "typed"), patch, content_type), 415, "UnsupportedMediaType"
    )
    assert_status(
        http_call("PUT", cm_path(namespace, "typed"), body, content_type), 415, "UnsupportedMediaType"
    )
    assert http_call("GET", cm_path(namespace, "typed")).body["data"] == {"a": "1"}


# ---- paths and methods --------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/namespaces/default/widgets",
        "/api/v1/widgets",
        "/apis/nope.example.com/v1/things",
        "/apis/apps/v9/deployments",
        "/apis/apps/v1/namespaces/default/deployments/web/bogus",
        "/no/such/path",
        "/apis/nope.example.com",
    ],
)
def test_unknown_resource_or_path_is_404(http_call, path: str) -> None:
    assert_status(http_call("GET", path), 404, "NotFound", "not find")
    assert_status(http_call("POST", path, configmap("x")), 404, "NotFound")


def test_wrong_method_is_405(http_call, namespace: str) -> None:
    create(http_call, cm_path(namespace), configmap("keep", a="1"))
    assert_status(http_call("PUT", cm_path(namespace), configmap("keep", a="2")), 405, "MethodNotAllowed")
    assert_status(http_call("POST", "/version", {}), 405, "MethodNotAllowed", "method")
    assert_status(http_call("DELETE", "/api"), 405, "MethodNotAllowed", "method")
    assert_status(http_call("PUT", "/apis", {}), 405, "MethodNotAllowed")
    assert_status(http_call("POST", cm_path(namespace, "keep"), configmap("keep")), 405, "MethodNotAllowed")
    assert http_call("GET", cm_path(namespace, "keep")).body["data"] == {"a": "1"}


# ---- validation ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["UpperCase", "a" * 254, "under_score", "-leading"])
def test_invalid_name_is_422_naming_metadata_name(http_call, namespace: str, name: str) -> None:
    for path, obj in [(cm_path(namespace), configmap(name)), (pod_path(namespace), pod(name))]:
        status = assert_status(http_call("POST", path, obj), 422, "Invalid", "is invalid")
        fields = [c.get("field") for c in status["details"]["causes"]]
        assert "metadata.name" in fields, status
        assert names(http_call, path) == set()


@pytest.mark.parametrize(
    ("kind", "obj", "field"),
    [
        ("configmaps", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}}, "metadata.name"),
        ("pods", {"metadata": {"name": "p"}, "spec": {"containers": []}}, "spec.containers"),
        ("pods", {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c"}]}}, "image"),
        ("deployments", {"metadata": {"name": "d"}, "spec": {"template": {}}}, "spec.selector"),
        ("services", {"metadata": {"name": "s"}, "spec": {"selector": {"a": "b"}}}, "spec.ports"),
    ],
    ids=["configmap-name", "pod-containers", "pod-image", "deployment-selector", "service-ports"],
)
def test_missing_required_field_is_422(http_call, namespace: str, kind: str, obj: Obj, field: str) -> None:
    path = {
        "configmaps": cm_path(namespace),
        "pods": pod_path(namespace),
        "deployments": deploy_path(namespace),
        "services": f"/api/v1/namespaces/{namespace}/services",
    }[kind]
    status = assert_status(http_call("POST", path, obj), 422, "Invalid", "invalid")
    fields = [c.get("field", "") for c in status["details"]["causes"]]
    assert any(field in f for f in fields), status
    assert all(c["reason"] and c["message"] for c in status["details"]["causes"])
    assert names(http_call, path) == set()


def test_unknown_field_strict_is_400_naming_it(http_call, namespace: str) -> None:
    obj = pod("strict")
    obj["spec"]["containers"][0]["imagee"] = "typo"
    resp = http_call("POST", pod_path(namespace) + "?fieldValidation=Strict", obj)
    assert_status(resp, 400, "BadRequest", "unknown field", "imagee")
    assert names(http_call, pod_path(namespace)) == set()


def test_unknown_field_default_warns_and_drops_it(http_call, namespace: str) -> None:
    obj = pod("lenient")
    obj["spec"]["containers"][0]["imagee"] = "typo"
    obj["spec"]["bogusTop"] = 1
    obj["spec"]['Ünï\x7f"quoted"'] = True  # a warning header must still be valid HTTP
    resp = http_call("POST", pod_path(namespace), obj)
    assert resp.code == 201, resp.raw
    warnings = resp.headers.get_all("Warning") or []
    assert any("imagee" in w for w in warnings), warnings
    assert any("bogusTop" in w for w in warnings), warnings
    stored = http_call("GET", pod_path(namespace, "lenient")).body
    assert "imagee" not in stored["spec"]["containers"][0]
    assert "bogusTop" not in stored["spec"]
    assert any("quoted" in w for w in warnings), warnings
    assert set(stored["spec"]).isdisjoint({"bogusTop", 'Ünï\x7f"quoted"'})
    assert stored["spec"]["containers"][0]["image"] == "nginx:1.27"


def test_wrong_kind_or_version_for_url_is_400(http_call, namespace: str) -> None:
    assert_status(http_call("POST", cm_path(namespace), pod("p")), 400, "BadRequest", "Pod", "kind")
    wrong_version = dict(deployment("d"), apiVersion="apps/v1beta1")
    assert_status(http_call("POST", deploy_path(namespace), wrong_version), 400, "BadRequest", "apps/v1beta1")
    assert names(http_call, cm_path(namespace)) == set()
    assert names(http_call, deploy_path(namespace)) == set()


def test_namespace_mismatch_is_400(http_call, namespace: str) -> None:
    obj = configmap("elsewhere")
    obj["metadata"]["namespace"] = "other-namespace"
    assert_status(http_call("POST", cm_path(namespace), obj), 400, "BadRequest", "namespace")
    assert names(http_call, cm_path(namespace)) == set()
    create(http_call, cm_path(namespace), configmap("here", a="1"))
    moved = http_call("GET", cm_path(namespace, "here")).body
    moved["metadata"]["namespace"] = "other-namespace"
    moved["data"] = {"a": "2"}
    assert_status(http_call("PUT", cm_path(namespace, "here"), moved), 400, "BadRequest", "namespace")
    assert http_call("GET", cm_path(namespace, "here")).body["data"] == {"a": "1"}


def test_name_mismatch_on_put_is_400(http_call, namespace: str) -> None:
    create(http_call, cm_path(namespace), configmap("one", a="1"))
    assert_status(http_call("PUT", cm_path(namespace, "one"), configmap("two")), 400, "BadRequest", "name")
    assert names(http_call, cm_path(namespace)) == {"one"}


def test_stale_resource_version_is_409(http_call, namespace: str) -> None:
    first = create(http_call, cm_path(namespace), configmap("cas", a="1"))
    second = copy.deepcopy(first)
    second["data"] = {"a": "2"}
    assert http_call("PUT", cm_path(namespace, "cas"), second).code == 200
    stale = copy.deepcopy(first)
    stale["data"] = {"a": "3"}
    status = assert_status(
        http_call("PUT", cm_path(namespace, "cas"), stale), 409, "Conflict", "modified", '"cas"'
    )
    assert status["details"]["name"] == "cas"
    patch = {"metadata": {"resourceVersion": first["metadata"]["resourceVersion"]}, "data": {"a": "4"}}
    assert_status(http_call("PATCH", cm_path(namespace, "cas"), patch, MERGE), 409, "Conflict")
    assert http_call("GET", cm_path(namespace, "cas")).body["data"] == {"a": "2"}


# ---- query parameters ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("labelSelector=a%20in%20(b", ["parse"]),
        ("labelSelector=%21%21a", []),
        ("labelSelector=a%3D%3D%3Db", []),
        ("fieldSelector=spec.bogus%3D1", ["field label not supported", "spec.bogus"]),
        ("fieldSelector=metadata.name", []),
        ("watch=maybe", ["watch", "maybe"]),
        ("limit=abc", ["limit"]),
        ("limit=-1", ["limit"]),
        ("limit=99999999999999999999999", ["limit", "range"]),
        ("resourceVersion=abc", ["resourceVersion"]),
        ("watch=true&resourceVersion=-5", ["resourceVersion"]),
        ("watch=true&labelSelector=a%20in%20(b", ["parse"]),
        ("watch=true&fieldSelector=spec.bogus%3D1", ["spec.bogus"]),
        ("watch=true&timeoutSeconds=soon", ["timeoutSeconds"]),
    ],
)
def test_bad_list_query_is_400(http_call, namespace: str, query: str, words: list[str]) -> None:
    assert_status(http_call("GET", pod_path(namespace) + "?" + query), 400, "BadRequest", *words)


@pytest.mark.parametrize(
    "query", ["resourceVersionMatch=Bogus&resourceVersion=1", "resourceVersionMatch=Exact"]
)
def test_bad_resource_version_match_is_422(http_call, namespace: str, query: str) -> None:
    status = assert_status(http_call("GET", f"{pod_path(namespace)}?{query}"), 422, "Invalid", "ListOptions")
    assert [c["field"] for c in status["details"]["causes"]] == ["resourceVersionMatch"]


def test_bad_watch_boolean_is_400(http_call, namespace: str) -> None:
    resp = http_call("GET", pod_path(namespace) + "?watch=true&allowWatchBookmarks=yes&timeoutSeconds=1")
    assert_status(resp, 400, "BadRequest", "allowWatchBookmarks")


@pytest.mark.parametrize(
    ("method", "query", "words"),
    [
        ("POST", "dryRun=Bogus", ["dryRun", "Bogus"]),
        ("POST", "fieldValidation=Loose", ["fieldValidation", "Loose"]),
        ("PATCH", "dryRun=Bogus", ["dryRun", "Bogus"]),
        ("PATCH", "force=maybe", ["force"]),
        ("PUT", "dryRun=Bogus", ["dryRun"]),
        ("DELETE", "dryRun=Bogus", ["dryRun"]),
        ("DELETE", "gracePeriodSeconds=soon", ["gracePeriodSeconds"]),
        ("DELETE", "propagationPolicy=Sideways", ["propagationPolicy"]),
    ],
)
def test_bad_write_query_is_400_and_changes_nothing(
    http_call, namespace: str, method: str, query: str, words: list[str]
) -> None:
    create(http_call, cm_path(namespace), configmap("q", a="1"))
    target = cm_path(namespace) if method == "POST" else cm_path(namespace, "q")
    body = {"POST": configmap("q2", a="2"), "PUT": configmap("q", a="2")}.get(method)
    content_type = MERGE if method == "PATCH" else JSON
    if method == "PATCH":
        body = {"data": {"a": "2"}}
    assert_status(http_call(method, f"{target}?{query}", body, content_type), 400, "BadRequest", *words)
    assert names(http_call, cm_path(namespace)) == {"q"}
    assert http_call("GET", cm_path(namespace, "q")).body["data"] == {"a": "1"}


@pytest.mark.parametrize(
    "body",
    [
        {"preconditions": "uid-1"},
        {"preconditions": {"resourceVersion": "1"}},
        {"propagationPolicy": 5},
        {"gracePeriodSeconds": "soon"},
        {"dryRun": ["Bogus"]},
        ["not", "options"],
    ],
)
def test_bad_delete_options_body_keeps_the_object(http_call, namespace: str, body: Any) -> None:
    create(http_call, cm_path(namespace), configmap("kept", a="1"))
    resp = http_call("DELETE", cm_path(namespace, "kept"), body)
    assert_status(resp, resp.code, "Conflict" if resp.code == 409 else "BadRequest")
    assert resp.code in (400, 409)
    assert http_call("GET", cm_path(namespace, "kept")).body["data"] == {"a": "1"}


@pytest.mark.parametrize("body", [{"target": 5}, {"target": {"name": ["node"]}}, {"target": {}}, [1]])
def test_bad_binding_is_refused(http_call, namespace: str, body: Any) -> None:
    create(http_call, pod_path(namespace), pod("unbound"))
    resp = http_call("POST", pod_path(namespace, "unbound") + "/binding", body)
    assert_status(resp, resp.code, "BadRequest" if resp.code == 400 else "Invalid")
    assert resp.code in (400, 422)
    assert "nodeName" not in http_call("GET", pod_path(namespace, "unbound")).body["spec"]


# ---- patches ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "body", "codes"),
    [
        (JSON_PATCH, b'{"op": "add"}', {400}),
        (JSON_PATCH, b'[{"op": "frobnicate", "path": "/data/a"}]', {400, 422}),
        (JSON_PATCH, b'[{"op": "add", "value": 1}]', {400, 422}),
        (JSON_PATCH, b'[{"op": "remove", "path": "/data/missing"}]', {400, 422}),
        (JSON_PATCH, b'[{"op": "test", "path": "/data/a", "value": "nope"}]', {400, 422}),
        (JSON_PATCH, b'[{"op": "replace", "path": "/data", "value": 5}]', {400, 422}),
        (JSON_PATCH, b"[not json", {400}),
        (MERGE, b"[1, 2]", {400}),
        (MERGE, b'"a string"', {400}),
        (MERGE, b'{"data": "not a map"}', {400, 422}),
        (MERGE, b'{"metadata": {"name": "Renamed"}}', {400, 422}),
        (MERGE, b'{"metadata": "a string"}', {400}),
        (STRATEGIC, b'{"metadata": ["a list"]}', {400}),
        (STRATEGIC, b"[]", {400}),
        (STRATEGIC, b'{"data": ["list"]}', {400, 422}),
        (STRATEGIC, b'{"$patch": "explode"}', {400, 422}),
        (STRATEGIC, b'{"data": {"a": "2"', {400}),
        (APPLY, b"data: [unclosed", {400}),
        (APPLY, b"- just\n- a list\n", {400}),
    ],
)
def test_invalid_patch_is_refused(
    http_call, namespace: str, content_type: str, body: bytes, codes: set[int]
) -> None:
    create(http_call, cm_path(namespace), configmap("patched", a="1"))
    before = http_call("GET", cm_path(namespace, "patched")).body
    path = cm_path(namespace, "patched") + ("?fieldManager=t" if content_type == APPLY else "")
    resp = http_call("PATCH", path, body, content_type)
    assert resp.code in codes, resp.raw
    assert_status(resp, resp.code, "BadRequest" if resp.code == 400 else "Invalid")
    assert http_call("GET", cm_path(namespace, "patched")).body == before


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: other}\n", ["other", "URL"]),
        (b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: fresh, namespace: elsewhere}\n", ["namespace"]),
        (b"apiVersion: v1\nkind: ConfigMap\nmetadata: just-a-string\n", ["metadata"]),
        (b"apiVersion: v1\nkind: Secret\nmetadata: {name: fresh}\n", ["Secret"]),
        (b"metadata: {name: fresh}\n", ["version"]),
    ],
    ids=["name", "namespace", "metadata", "kind", "no-version"],
)
def test_bad_apply_patch_creates_nothing(http_call, namespace: str, body: bytes, words: list[str]) -> None:
    """Server-side apply on a missing object creates it, but only from a body that fits the URL."""
    resp = http_call("PATCH", cm_path(namespace, "fresh") + "?fieldManager=t", body, APPLY)
    assert_status(resp, 400, "BadRequest", *words)
    assert names(http_call, cm_path(namespace)) == set()


def test_invalid_strategic_patch_on_pod_is_refused(http_call, namespace: str) -> None:
    create(http_call, pod_path(namespace), pod("sp"))
    before = http_call("GET", pod_path(namespace, "sp")).body
    for patch in [
        {"spec": {"containers": "nginx"}},
        {"spec": {"containers": [{"image": "no-name"}]}},
        {"spec": {"containers": [{"name": "main", "ports": [{"containerPort": "eighty"}]}]}},
        {"spec": {"$setElementOrder/containers": "bad"}},
    ]:
        resp = http_call("PATCH", pod_path(namespace, "sp"), patch, STRATEGIC)
        assert resp.code in (400, 422), (patch, resp.raw)
        assert_status(resp, resp.code, "BadRequest" if resp.code == 400 else "Invalid")
    apply = http_call("PATCH", pod_path(namespace, "sp"), b"spec: {}", APPLY)
    assert_status(apply, 400, "BadRequest", "fieldManager")
    assert http_call("GET", pod_path(namespace, "sp")).body == before


# ---- immutable fields ---------------------------------------------------------------------


def test_pod_image_may_change_but_not_node_or_container_names(http_call, namespace: str) -> None:
    create(http_call, pod_path(namespace), pod("imm"))
    resp = http_call(
        "PATCH",
        pod_path(namespace, "imm"),
        {"spec": {"containers": [{"name": "main", "image": "nginx:1.28"}]}},
        STRATEGIC,
    )
    assert resp.code == 200, resp.raw
    assert resp.body["spec"]["containers"][0]["image"] == "nginx:1.28"
    before = http_call("GET", pod_path(namespace, "imm")).body

    moved = copy.deepcopy(before)
    moved["spec"]["nodeName"] = "node-9"
    assert_status(http_call("PUT", pod_path(namespace, "imm"), moved), 422, "Invalid", "imm", "forbidden")
    renamed = copy.deepcopy(before)
    renamed["spec"]["containers"][0]["name"] = "other"
    assert_status(http_call("PUT", pod_path(namespace, "imm"), renamed), 422, "Invalid", "forbidden")
    added = [{"op": "add", "path": "/spec/containers/-", "value": {"name": "side", "image": "busybox"}}]
    assert_status(http_call("PATCH", pod_path(namespace, "imm"), added, JSON_PATCH), 422, "Invalid")
    assert http_call("GET", pod_path(namespace, "imm")).body == before


def test_deployment_selector_is_immutable(http_call, namespace: str) -> None:
    create(http_call, deploy_path(namespace), deployment("web"))
    before = http_call("GET", deploy_path(namespace, "web")).body
    changed = copy.deepcopy(before)
    changed["spec"]["selector"] = {"matchLabels": {"app": "web", "tier": "x"}}
    changed["spec"]["template"]["metadata"]["labels"]["tier"] = "x"
    status = assert_status(http_call("PUT", deploy_path(namespace, "web"), changed), 422, "Invalid", "web")
    assert any("spec.selector" in c.get("field", "") for c in status["details"]["causes"]), status
    patch = {"spec": {"selector": {"matchLabels": {"app": "other"}}}}
    assert_status(http_call("PATCH", deploy_path(namespace, "web"), patch, MERGE), 422, "Invalid")
    assert http_call("GET", deploy_path(namespace, "web")).body == before


# ---- fuzz ---------------------------------------------------------------------------------

_WEIRD: list[Any] = [
    None,
    0,
    -1,
    2**70,
    -(2**63) - 1,
    1.5e308,
    True,
    "",
    "x" * 300,
    "Ünïcødé ☃ \u202e\U0001f600",
    "\x00\x01",
    [],
    [None],
    [1, "a", {}],
    {},
    {"": ""},
    {"nested": {"deep": [1, 2, 3]}},
]


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = [prefix] if prefix else []
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*prefix, i))
    return out


def _same_type(rng: random.Random, value: Any) -> Any:
    """A strange value of the same JSON type as ``value`` (it passes decoding, tests validation)."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return rng.choice([0, -1, 2**31, 2**63, 2**70, -(2**40)])
    if isinstance(value, str):
        return rng.choice(["", " ", "x" * 300, "Ünïcødé ☃ \u202e\U0001f600", "a/b", "UPPER", "\x00"])
    if isinstance(value, list):
        return rng.choice([[], value * 2, [*value, rng.choice(_WEIRD)]])
    if isinstance(value, dict):
        return {**value, rng.choice(["x", "Ünï", "", "a" * 70]): rng.choice(_WEIRD)}
    return value


def _mutate(rng: random.Random, obj: Obj) -> Obj:
    """One to three random changes at random paths (never touching metadata.name).

    A change is a value of another type (numbers for strings, lists for maps, nulls, ...), a strange
    value of the same type, or a removed field.
    """
    obj = copy.deepcopy(obj)
    for _ in range(rng.randint(1, 3)):
        paths = [p for p in _paths(obj) if p not in (("metadata",), ("metadata", "name"))]
        if not paths:
            break
        path = rng.choice(paths)
        parent: Any = obj
        for step in path[:-1]:
            parent = parent[step]
        roll = rng.random()
        if roll < 0.4:
            parent[path[-1]] = copy.deepcopy(rng.choice(_WEIRD))
        elif roll < 0.85:
            parent[path[-1]] = copy.deepcopy(_same_type(rng, parent[path[-1]]))  # shares nothing
        elif isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent.pop(path[-1])
    return obj


def _fuzz_body(rng: random.Random, obj: Obj) -> tuple[bytes, str]:
    """A mutated body and its content type: broken bytes, cut JSON, or a type-mutated object."""
    valid = json.dumps(obj).encode()
    roll = rng.random()
    if roll < 0.15:
        return bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 200))), rng.choice(
            [JSON, "application/yaml", PROTOBUF]
        )
    if roll < 0.3:
        return valid[: rng.randint(0, len(valid) - 1)], rng.choice([JSON, "application/yaml"])
    if roll < 0.4:
        mutated = bytearray(valid)
        for _ in range(rng.randint(1, 5)):
            mutated[rng.randrange(len(mutated))] = rng.getrandbits(8)
        return bytes(mutated), JSON
    mutated = _mutate(rng, obj)
    if rng.random() < 0.2:
        return yaml.safe_dump(mutated, allow_unicode=True).encode(), "application/yaml"
    return json.dumps(mutated).encode(), JSON


def test_fuzzed_bodies_never_5xx_nor_half_write(http_call, namespace: str) -> None:
    rng = random.Random(int(os.environ.get("KUBEQ_FUZZ_SEED", "20240611")))  # vary it to explore
    kinds = {
        "pods": (pod_path(namespace), pod),
        "deployments": (deploy_path(namespace), deployment),
        "configmaps": (cm_path(namespace), lambda n: configmap(n, key="value")),
        "services": (f"/api/v1/namespaces/{namespace}/services", service),
    }
    created: dict[str, set[str]] = {kind: set() for kind in kinds}
    for kind, (path, make) in kinds.items():
        create(http_call, path, make("base"))
        created[kind].add("base")
    counts: dict[int, int] = {}
    for i in range(300):
        kind = rng.choice(list(kinds))
        path, make = kinds[kind]
        method = rng.choice(["POST", "POST", "PUT", "PATCH"])
        if method == "POST":
            body, content_type = _fuzz_body(rng, make(f"f{i}"))
            target = path
        elif method == "PUT":
            current = http_call("GET", f"{path}/base").body
            body, content_type = _fuzz_body(rng, current)
            target = f"{path}/base"
        else:
            content_type = rng.choice([MERGE, STRATEGIC, JSON_PATCH])
            patch: Any = {
                "metadata": {"labels": {"a": "b"}},
                "spec": make("base").get("spec"),
                "data": {"k": "v"},
            }
            if content_type == JSON_PATCH:
                patch = [{"op": "replace", "path": "/metadata/labels", "value": {"a": "b"}}]
            body, _ = _fuzz_body(rng, {"p": patch} if isinstance(patch, list) else patch)
            if content_type == JSON_PATCH and body.startswith(b'{"p": '):
                body = body[6:-1]
            target = f"{path}/base"
        resp = http_call(method, target, body, content_type)
        counts[resp.code] = counts.get(resp.code, 0) + 1
        assert resp.code < 500, (method, target, body[:300], resp.raw[:500])
        if resp.code >= 400:
            status = resp.body
            assert status["kind"] == "Status" and status["status"] == "Failure", resp.raw[:300]
            assert status["code"] == resp.code and status["reason"] and status["message"], status
        elif method == "POST":
            assert resp.code == 201, resp.raw[:300]
            created[kind].add(resp.body["metadata"]["name"])
    assert sum(n for code, n in counts.items() if code >= 400) > 100, counts  # mostly refused...
    assert counts.get(201, 0) >= 3 and counts.get(200, 0) >= 3, counts  # ...but not all
    for kind, (path, _make) in kinds.items():
        assert names(http_call, path) == created[kind], kind
        # everything stored is whole: it reads back and can be written back unchanged
        for name in created[kind]:
            stored = http_call("GET", f"{path}/{name}").body
            again = http_call("PUT", f"{path}/{name}", stored)
            assert again.code == 200, (kind, name, again.raw[:500])
            assert again.body["metadata"]["resourceVersion"] == stored["metadata"]["resourceVersion"]


def test_system_namespaces_cannot_be_deleted_nor_all_at_once(http_call: Any) -> None:
    """Kubernetes keeps default, kube-system and kube-public, and has no delete-all on namespaces."""
    for name in ("default", "kube-system", "kube-public"):
        assert_status(
            http_call("DELETE", f"/api/v1/namespaces/{name}"), 403, "Forbidden", "may not be deleted"
        )
        assert http_call("GET", f"/api/v1/namespaces/{name}").body["status"]["phase"] == "Active"
    assert_status(http_call("DELETE", "/api/v1/namespaces"), 405, "MethodNotAllowed")
    assert http_call("GET", "/api/v1/namespaces/default").code == 200


def test_a_review_with_wrongly_typed_fields_is_a_400(http_call: Any) -> None:
    """Reviews are answered, not stored, but their bodies are still checked against the kind's schema."""
    body = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SubjectAccessReview",
        "spec": {"user": "alice", "groups": "not-a-list", "resourceAttributes": {"verb": "get"}},
    }
    resp = http_call("POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", body)
    assert_status(resp, 400, "BadRequest", "groups")
    review = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"audiences": 7}}
    assert_status(http_call("POST", "/apis/authentication.k8s.io/v1/tokenreviews", review), 400, "BadRequest")
