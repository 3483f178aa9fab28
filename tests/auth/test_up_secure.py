"""`kubeq up` is secure by default: TLS, per-component client certificates, an admin token kubeconfig;
a pod runs on its node (the node talks to the API as system:node:<name>)."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request

import pytest

from cluster import kubeconfig
from cluster.client import Client
from tests.node.upcluster import Kube, apply, bare_pod, launch_up, pod, wait


@pytest.fixture(scope="module")
def kube() -> Kube:
    with launch_up("host", nodes=1) as run:
        yield run


def test_up_writes_tls_kubeconfigs_for_admin_and_components(kube: Kube) -> None:
    data_dir = kube.data_dir  # type: ignore[attr-defined]
    admin = kubeconfig.read(str(data_dir / "kubeconfig"))
    assert admin.server.startswith("https://") and admin.ca_pem and admin.token
    assert (data_dir / "audit.log").exists()
    for name in ("controller-manager", "scheduler", "dns", "cloud-controller-manager"):
        kc = kubeconfig.read(str(data_dir / "kubeconfigs" / f"{name}.kubeconfig"))
        assert kc.cert_pem and kc.key_pem and not kc.token
    out = kube("auth", "whoami", "-o", "json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["status"]["userInfo"]["username"] == "kubernetes-admin"


def test_without_credentials_only_health_answers(kube: Kube) -> None:
    admin = kubeconfig.read(str(kube.data_dir / "kubeconfig"))  # type: ignore[attr-defined]
    ctx = ssl.create_default_context(cadata=admin.ca_pem.decode())
    with urllib.request.urlopen(admin.server + "/readyz", context=ctx, timeout=10) as resp:
        assert resp.status == 200
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(admin.server + "/api/v1/namespaces", context=ctx, timeout=10)
    assert refused.value.code == 403
    bad = urllib.request.Request(admin.server + "/api/v1/pods", headers={"Authorization": "Bearer nope"})
    with pytest.raises(urllib.error.HTTPError) as unauthorized:
        urllib.request.urlopen(bad, context=ctx, timeout=10)
    assert unauthorized.value.code == 401


def test_a_pod_runs_on_the_secure_cluster(kube: Kube) -> None:
    apply(kube, bare_pod("secure-sleeper", ["sh", "-c", "echo hello; sleep 600"]))
    wait(lambda: pod(kube, "secure-sleeper").get("status", {}).get("phase") == "Running", 90, "Running pod")
    logs = wait(lambda: kube("logs", "secure-sleeper").stdout, 30, "pod logs")
    assert "hello" in logs
    node = kubeconfig.read(str(next((kube.data_dir / "kubeconfigs").glob("node-*.kubeconfig"))))  # type: ignore[attr-defined]
    assert node.cert_pem
    client = Client.from_kubeconfig(str(kube.data_dir / "kubeconfig"))  # type: ignore[attr-defined]
    assert client.get(Client.resource_of({"apiVersion": "v1", "kind": "Pod"}), "secure-sleeper", "default")
