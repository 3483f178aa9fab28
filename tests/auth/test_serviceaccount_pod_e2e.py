"""A pod uses its projected ServiceAccount token: on a secure API server (TLS, token authentication,
RBAC), the kubelet writes ``kube-api-access-*`` for the pod; the pod's own process reads the token, CA
and namespace files and reads its own Pod as ``system:serviceaccount:<ns>:default`` once that account
is granted ``view``; a write with the same token is refused with 403."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cluster.api.resources import lookup
from cluster.client.client import Client
from cluster.settings import Settings
from tasks.controllers.rootca import RootCAController
from tasks.kubelet.controller import KubeletController
from tasks.runtime.controller import Context
from tests.auth.conftest import ADMIN_TOKEN, SecureServer
from tests.kubelet.installed_runtime import installed_runtime
from tests.namespaces import fresh
from workers.runtime.process import ProcessRuntime

PODS = lookup("", "v1", "pods")
Obj = dict[str, Any]

# Runs inside the pod (host isolation: the pod's volumes are under ./volumes).
POD_SCRIPT = r"""
import glob, json, os, ssl, urllib.request
root = glob.glob("volumes/kube-api-access-*")[0]
token = open(root + "/token").read()
ns = open(root + "/namespace").read()
ctx = ssl.create_default_context(cafile=root + "/ca.crt")
base = os.environ["API"] + "/api/v1/namespaces/" + ns + "/pods/" + os.environ["POD_NAME"]
def call(method, body=None, ctype="application/json"):
    req = urllib.request.Request(base, method=method, data=body, headers={"Authorization": "Bearer " + token})
    if body is not None:
        req.add_header("Content-Type", ctype)
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=20) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")
got, pod = call("GET")
wrote, status = call("PATCH", b'{"metadata":{"labels":{"x":"y"}}}', "application/merge-patch+json")
out = {"get": got, "name": pod.get("metadata", {}).get("name"), "patch": wrote, "reason": status.get("reason"),
       "namespace": ns, "token_parts": len(token.split("."))}
json.dump(out, open("volumes/scratch/result.json", "w"))
import time
time.sleep(300)
"""


@pytest.fixture
def rt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ProcessRuntime]:
    monkeypatch.setenv("KUBEQ_NODE_DATA_DIR", str(tmp_path / "node-data"))
    with installed_runtime(tmp_path / "runtime") as r:
        yield r


def node_client(server: SecureServer, node: str) -> Client:
    """A client with the node's certificate (``system:node:<node>`` in ``system:nodes``)."""
    cert, key = server.ca.issue(server.folder, node, f"system:node:{node}", ("system:nodes",))
    ca = server.ca.path.read_bytes()
    return Client(server.url, ca_pem=ca, cert_pem=cert.read_bytes(), key_pem=key.read_bytes())


@pytest.mark.parametrize("kubelet_as", ["admin", "node"])
def test_pod_reads_itself_with_its_projected_token(
    secure_server: SecureServer, rt: ProcessRuntime, tmp_path: Path, kubelet_as: str
) -> None:
    """The kubelet as the admin, and as the node itself (node authorization lets it read the pod's
    ConfigMap and ask for its ServiceAccount's token)."""
    admin = Client(secure_server.url, token=ADMIN_TOKEN, ca_pem=secure_server.ca.path.read_bytes())
    ns = fresh(admin, "sa-e2e")
    node = f"sa-node-{uuid.uuid4().hex[:6]}"
    admin.create(
        {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": node},
            "status": {"addresses": [{"type": "InternalIP", "address": "127.0.0.1"}]},
        }
    )
    admin.create(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "default-view"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
            "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": ns}],
        },
        ns,
    )
    # RBAC follows the store within about a second (like kube-apiserver's informers): wait for it
    review = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SubjectAccessReview",
        "spec": {
            "user": f"system:serviceaccount:{ns}:default",
            "groups": ["system:serviceaccounts", "system:authenticated"],
            "resourceAttributes": {"verb": "get", "resource": "pods", "namespace": ns},
        },
    }
    deadline = time.monotonic() + 10
    while not admin.create(review)["status"].get("allowed"):
        assert time.monotonic() < deadline, "the view binding never took effect"
        time.sleep(0.1)
    RootCAController(Settings(client_ca_file=str(secure_server.ca.path))).sync(ns, Context(client=admin))
    ctx = Context(client=admin if kubelet_as == "admin" else node_client(secure_server, node))
    container = {
        "name": "app",
        "image": "python:3",
        "command": ["python3", "-c", POD_SCRIPT],
        "env": [
            {"name": "API", "value": secure_server.url},
            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        ],
        "volumeMounts": [{"name": "scratch", "mountPath": "/scratch"}],
    }
    pod = admin.create(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "reader"},
            "spec": {
                "nodeName": node,
                "containers": [container],
                "volumes": [{"name": "scratch", "emptyDir": {}}],
            },
        },
        ns,
    )
    assert pod["spec"]["serviceAccountName"] == "default"
    kubelet = KubeletController()
    result = tmp_path / "node-data" / "pods" / pod["metadata"]["uid"] / "volumes" / "scratch" / "result.json"
    deadline = time.monotonic() + 60
    while not result.exists():
        assert time.monotonic() < deadline, json.dumps(admin.get(PODS, "reader", ns).get("status"), indent=1)
        kubelet.sync(f"{node}/{ns}/reader", ctx)
        time.sleep(0.3)
    time.sleep(0.2)  # the file is written in one go, but give the writer a moment to close it
    seen = json.loads(result.read_text())
    assert seen == {
        "get": 200,
        "name": "reader",
        "patch": 403,
        "reason": "Forbidden",
        "namespace": ns,
        "token_parts": 3,
    }
