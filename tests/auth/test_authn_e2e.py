"""Authentication against a real API server process, with the real kubectl and the Python client."""

from __future__ import annotations

import json
import ssl
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.auth.conftest import ADMIN_TOKEN, ALICE_TOKEN, SecureServer


@pytest.fixture(scope="module")
def kubectl(secure_server: SecureServer, tmp_path_factory: pytest.TempPathFactory) -> Any:
    cache = tmp_path_factory.mktemp("kubectl-cache")
    admin = secure_server.kubeconfig(ADMIN_TOKEN, "admin")

    def run(*args: str, config: Path | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = ["kubectl", f"--kubeconfig={config or admin}", f"--cache-dir={cache}", *args]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        if check and result.returncode != 0:
            raise AssertionError(f"{' '.join(args)} failed:\n{result.stderr}{result.stdout}")
        return result

    return run


def _get(server: SecureServer, path: str, token: str | None = None) -> int:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    request = urllib.request.Request(server.url + path, headers=headers)
    context = ssl.create_default_context(cafile=str(server.ca.path))
    try:
        with urllib.request.urlopen(request, timeout=30, context=context) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_tokens_and_anonymous_over_http(secure_server: SecureServer) -> None:
    assert _get(secure_server, "/api/v1/pods", ADMIN_TOKEN) == 200
    assert _get(secure_server, "/api/v1/pods", "wrong") == 401
    assert _get(secure_server, "/api/v1/pods") == 403
    assert _get(secure_server, "/healthz") == 200
    assert _get(secure_server, "/version") == 200


def test_kubectl_whoami_create_token_and_impersonation(secure_server: SecureServer, kubectl: Any) -> None:
    out = json.loads(kubectl("auth", "whoami", "-o", "json").stdout)
    assert out["status"]["userInfo"]["username"] == "kubernetes-admin"
    kubectl("create", "serviceaccount", "deployer")
    token = kubectl("create", "token", "deployer").stdout.strip()
    as_sa = secure_server.kubeconfig(token, "deployer")
    out = json.loads(kubectl("auth", "whoami", "-o", "json", config=as_sa).stdout)
    assert out["status"]["userInfo"]["username"] == "system:serviceaccount:default:deployer"
    denied = kubectl("get", "pods", config=as_sa, check=False)
    assert denied.returncode != 0 and "forbidden" in denied.stderr.lower()
    out = json.loads(kubectl("auth", "whoami", "-o", "json", "--as=alice", "--as-group=devs").stdout)
    assert out["status"]["userInfo"] == {"username": "alice", "groups": ["devs", "system:authenticated"]}
    alice = secure_server.kubeconfig(ALICE_TOKEN, "alice")
    refused = kubectl("get", "pods", "--as=kubernetes-admin", config=alice, check=False)
    assert refused.returncode != 0 and "cannot impersonate" in refused.stderr
    bad = kubectl("get", "pods", config=secure_server.kubeconfig("not-a-token", "bad"), check=False)
    assert bad.returncode != 0 and "Unauthorized" in bad.stderr


def test_python_client_with_token_and_audit_line(secure_server: SecureServer) -> None:
    from kubernetes import client

    cfg = client.Configuration()
    cfg.host = secure_server.url
    cfg.ssl_ca_cert = str(secure_server.ca.path)
    cfg.api_key = {"authorization": "Bearer " + ADMIN_TOKEN}
    with client.ApiClient(cfg) as api:
        core = client.CoreV1Api(api)
        core.create_namespaced_config_map("default", {"metadata": {"name": "audited"}, "data": {"k": "hush"}})
        assert core.read_namespaced_config_map("audited", "default").data == {"k": "hush"}
    cfg.api_key = {"authorization": "Bearer " + ALICE_TOKEN}
    with client.ApiClient(cfg) as api, pytest.raises(client.ApiException) as denied:
        client.CoreV1Api(api).delete_namespaced_config_map("audited", "default")
    assert denied.value.status == 403
    events = [json.loads(line) for line in secure_server.audit_log.read_text().splitlines()]
    mine = [
        e
        for e in events
        if e.get("objectRef", {}).get("name") == "audited"
        or (e["verb"] == "create" and e["objectRef"].get("resource") == "configmaps")
    ]
    assert [(e["verb"], e["responseStatus"]["code"], e["user"].get("username")) for e in mine] == [
        ("create", 201, "kubernetes-admin"),
        ("delete", 403, "alice"),
    ]
    text = secure_server.audit_log.read_text()
    assert ADMIN_TOKEN not in text and ALICE_TOKEN not in text and "hush" not in text


def test_kubectl_with_a_client_certificate(secure_server: SecureServer, kubectl: Any) -> None:
    cert = secure_server.ca.issue(secure_server.folder, "ops", "ops-user", ("system:masters", "ops"))
    config = secure_server.kubeconfig(None, "ops", cert=cert)
    out = json.loads(kubectl("auth", "whoami", "-o", "json", config=config).stdout)
    assert out["status"]["userInfo"] == {
        "username": "ops-user",
        "groups": ["system:masters", "ops", "system:authenticated"],
    }
    kubectl("get", "pods", config=config)  # system:masters may
