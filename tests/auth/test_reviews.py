"""Access reviews and refusals end to end: a secure API server (bearer tokens, Node + RBAC) over a
real Redis, spoken to over HTTP by plain requests and by the real ``kubectl``."""

from __future__ import annotations

import json
import shutil
import ssl
import subprocess
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest

from cluster import pki
from cluster.api.resources import lookup
from cluster.apiserver.app import APIServer
from cluster.apiserver.auth import UserInfo
from cluster.apiserver.authn.tokenfile import StaticTokens
from cluster.apiserver.authz import authorizer_for
from cluster.apiserver.security import Security
from cluster.registry import Registry, WriteOptions, ensure_system_namespaces
from cluster.registry.rbac_defaults import ensure_default_rbac
from cluster.store import Store

G = "rbac.authorization.k8s.io"
TOKENS = {
    "admin-token": UserInfo("kubernetes-admin", groups=("system:masters",)),
    "view-token": UserInfo("viewer"),
    "node1-token": UserInfo("system:node:n1", groups=("system:nodes",)),
}


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


class _ThreadedServer(WSGIServer):
    daemon_threads = True


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> pki.Pki:
    return pki.ensure_pki(str(tmp_path_factory.mktemp("pki")), ips=["127.0.0.1"])


def client_context(keys: pki.Pki) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=keys.ca_cert)


@pytest.fixture
def server(store: Store, tls: pki.Pki) -> Iterator[str]:
    registry = Registry(store)
    ensure_system_namespaces(registry)
    ensure_default_rbac(registry)
    crb = lookup(G, "v1", "clusterrolebindings")
    registry.create(crb, None, {
        "metadata": {"name": "viewer-view"},
        "roleRef": {"apiGroup": G, "kind": "ClusterRole", "name": "view"},
        "subjects": [{"kind": "User", "apiGroup": G, "name": "viewer"}],
    }, WriteOptions())  # fmt: skip
    pods = lookup("", "v1", "pods")
    for name, node in (("mine", "n1"), ("theirs", "n2")):
        body = {
            "metadata": {"name": name},
            "spec": {"nodeName": node, "containers": [{"name": "c", "image": "x"}]},
        }
        registry.create(pods, "default", body, WriteOptions())
    security = Security(tokens=[StaticTokens(TOKENS)], authorizer=authorizer_for(registry))
    httpd = make_server("127.0.0.1", 0, APIServer(registry, security=security), server_class=_ThreadedServer,
                        handler_class=_Quiet)  # fmt: skip
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(tls.serving_cert, tls.serving_key)
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    _CTX[:] = [client_context(tls)]
    try:
        yield f"https://127.0.0.1:{httpd.server_port}"
    finally:
        httpd.shutdown()
        httpd.server_close()


_CTX: list[ssl.SSLContext] = []


def call(url: str, method: str, path: str, token: str | None, body: dict | None = None, **headers: str):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url + path, data=data, method=method)
    req.add_header("Content-Type", headers.pop("content_type", "application/json"))
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=30, context=_CTX[0]) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


def test_view_token_reads_but_is_refused_a_write(server: str) -> None:
    code, _ = call(server, "GET", "/api/v1/namespaces/default/pods", "view-token")
    assert code == 200
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}
    code, status = call(server, "POST", "/api/v1/namespaces/default/configmaps", "view-token", cm)
    assert code == 403
    assert status["reason"] == "Forbidden"
    assert status["message"] == (
        'configmaps is forbidden: User "viewer" cannot create resource "configmaps" in API group "" '
        'in the namespace "default"'
    )
    assert status["details"] == {"kind": "configmaps"}
    assert call(server, "POST", "/api/v1/namespaces/default/configmaps", "admin-token", cm)[0] == 201


def test_anonymous_sees_only_health_and_version(server: str) -> None:
    assert call(server, "GET", "/version", None)[0] == 200
    code, status = call(server, "GET", "/api/v1/pods", None)
    assert code == 403 and 'User "system:anonymous" cannot list resource "pods"' in status["message"]


def test_node_cannot_patch_another_nodes_pod_status(server: str) -> None:
    patch = {"status": {"message": "hello"}}
    ct = {"content_type": "application/merge-patch+json"}
    mine = call(server, "PATCH", "/api/v1/namespaces/default/pods/mine/status", "node1-token", patch, **ct)
    assert mine[0] == 200
    code, status = call(
        server, "PATCH", "/api/v1/namespaces/default/pods/theirs/status", "node1-token", patch, **ct
    )
    assert code == 403
    assert status["message"].startswith(
        'pods "theirs" is forbidden: User "system:node:n1" cannot patch resource "pods/status" in API group "" '
        "in the namespace \"default\": node 'n1' cannot patch pods/status"
    )


def test_access_reviews(server: str) -> None:
    ssar = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
            "spec": {"resourceAttributes": {"verb": "list", "resource": "pods", "namespace": "default"}}}  # fmt: skip
    code, review = call(
        server, "POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", "view-token", ssar
    )
    assert code == 201 and review["kind"] == "SelfSubjectAccessReview"
    assert review["status"]["allowed"] is True
    assert review["status"]["reason"].startswith('RBAC: allowed by ClusterRoleBinding "viewer-view"')
    sar = {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
           "spec": {"user": "viewer", "resourceAttributes": {"verb": "delete", "resource": "pods",
                                                             "namespace": "default"}}}  # fmt: skip
    code, review = call(
        server, "POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", "admin-token", sar
    )
    assert code == 201 and review["status"]["allowed"] is False
    assert (
        call(server, "POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", "view-token", sar)[0]
        == 403
    )
    ssrr = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SelfSubjectRulesReview",
        "spec": {"namespace": "default"},
    }
    code, rules = call(
        server, "POST", "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews", "view-token", ssrr
    )
    assert code == 201 and rules["status"]["incomplete"] is False
    assert {"verbs": ["get", "list", "watch"], "apiGroups": ["batch"],
            "resources": ["cronjobs", "cronjobs/status", "jobs", "jobs/status"]} in rules["status"]["resourceRules"]  # fmt: skip
    assert any("/healthz" in r["nonResourceURLs"] for r in rules["status"]["nonResourceRules"])


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kubectl_auth_can_i(server: str, tls: pki.Pki, tmp_path: Path) -> None:
    def kubectl(token: str, *args: str) -> subprocess.CompletedProcess[str]:
        base = [
            "kubectl",
            "--server",
            server,
            "--certificate-authority",
            tls.ca_cert,
            "--token",
            token,
            "--cache-dir",
            str(tmp_path),
            "auth",
            "can-i",
        ]
        return subprocess.run([*base, *args], capture_output=True, text=True, timeout=60)

    yes = kubectl("view-token", "list", "pods")
    assert (yes.returncode, yes.stdout.strip()) == (0, "yes"), yes.stderr
    no = kubectl("view-token", "create", "deployments.apps")
    assert (no.returncode, no.stdout.strip()) == (1, "no"), no.stderr
    assert kubectl("admin-token", "create", "deployments.apps", "--as=viewer").stdout.strip() == "no"
    assert kubectl("admin-token", "get", "pods", "--as=viewer").stdout.strip() == "yes"
    listed = kubectl("view-token", "--list", "-n", "default")
    assert listed.returncode == 0, listed.stderr
    assert (
        "deployments.apps" in listed.stdout
        and "selfsubjectaccessreviews.authorization.k8s.io" in listed.stdout
    )
