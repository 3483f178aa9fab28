"""Joining a node with a bootstrap token against a secure `kubeq apiserver`: `kubeq token create`
publishes the token and cluster-info, the node pins the CA, gets its own certificate through a CSR
the certificate controllers approve and sign, and that certificate is the node's identity."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from cluster import errors, kubeconfig, pki
from cluster.api.resources import lookup
from cluster.client import Client
from tasks.controllers.certificates import CSRApprovingController, CSRSigningController, SigningCA
from tasks.runtime.controller import Context
from tests.auth.secure_apiserver import secure_apiserver
from workers.node.join import KUBECONFIG_NAME, JoinError, join

ROOT = Path(__file__).resolve().parents[2]
CSRS = lookup("certificates.k8s.io", "v1", "certificatesigningrequests")
SECRETS = lookup("", "v1", "secrets")
CONFIGMAPS = lookup("", "v1", "configmaps")
NODES = lookup("", "v1", "nodes")


@dataclass
class Cluster:
    url: str
    pki: pki.Pki
    kubeconfig: Path
    tmp: Path
    admin: Client


@pytest.fixture(scope="module")
def cluster(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A secure `kubeq apiserver` (it makes its own PKI in <data-dir>/pki) and the admin's client."""
    with secure_apiserver(redis_url, tmp_path_factory.mktemp("join"), "join") as server:
        path = server.kubeconfig
        yield Cluster(server.url, server.pki, path, server.tmp, Client.from_kubeconfig(str(path)))


def token_create(cluster: Cluster, *extra: str) -> tuple[str, str]:
    """Run `kubeq token create`; (token, join command)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBEQ_")}
    env["PYTHONPATH"] = str(ROOT)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "workers.cli",
            "token",
            "create",
            "--kubeconfig",
            str(cluster.kubeconfig),
            *extra,
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    token, command = result.stdout.strip().splitlines()[-2:]
    return token, command


@pytest.fixture
def signer(cluster: Cluster) -> Iterator[None]:
    """The approving and signing controllers, run over every CSR a few times a second."""
    ctx = Context(client=cluster.admin)
    ca = SigningCA(cluster.pki.ca_pem(), Path(cluster.pki.ca_key).read_bytes())
    approver, signing = CSRApprovingController(), CSRSigningController(ca)
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            for item in cluster.admin.list(CSRS).get("items", []):
                approver.sync(item["metadata"]["name"], ctx)
                signing.sync(item["metadata"]["name"], ctx)
            stop.wait(0.2)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join(10)


def test_token_create_stores_the_token_and_cluster_info(cluster: Cluster) -> None:
    token, command = token_create(cluster, "--ttl", "2h")
    token_id = token.split(".")[0]
    secret = cluster.admin.get(SECRETS, f"bootstrap-token-{token_id}", "kube-system")
    assert secret["type"] == "bootstrap.kubernetes.io/token"
    assert set(secret["data"]) >= {"token-id", "token-secret", "usage-bootstrap-authentication", "expiration"}
    info = cluster.admin.get(CONFIGMAPS, "cluster-info", "kube-public")
    kc = kubeconfig.parse(__import__("yaml").safe_load(info["data"]["kubeconfig"]))
    assert kc.server == cluster.url and kc.ca_pem == cluster.pki.ca_pem()
    assert kc.token is None and kc.cert_pem is None
    ca_hash = pki.ca_cert_hash(cluster.pki.ca_pem())
    assert (
        command
        == f"kubeq node --name <node-name> --join {cluster.url} --token {token} --ca-cert-hash {ca_hash}"
    )


def test_wrong_ca_hash_is_refused_before_anything_is_sent(cluster: Cluster, tmp_path: Path) -> None:
    token, _ = token_create(cluster)
    before = len(cluster.admin.list(CSRS)["items"])
    with pytest.raises(JoinError, match="refusing to join"):
        join(str(tmp_path), "n0", cluster.url, token, ca_cert_hash="sha256:" + "0" * 64)
    assert len(cluster.admin.list(CSRS)["items"]) == before
    assert not (tmp_path / KUBECONFIG_NAME).exists()


def test_bad_token_cannot_read_cluster_info(cluster: Cluster, tmp_path: Path) -> None:
    with pytest.raises(JoinError, match="cluster-info"):
        join(str(tmp_path), "n0", cluster.url, "abcdef.0123456789abcdef", ca_cert_hash="sha256:00")


def test_joined_node_acts_with_its_own_certificate(cluster: Cluster, signer: None, tmp_path: Path) -> None:
    token, _ = token_create(cluster)
    ca_hash = pki.ca_cert_hash(cluster.pki.ca_pem())
    path = join(str(tmp_path), "n1", cluster.url, token, ca_cert_hash=ca_hash, timeout=60)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    kc = kubeconfig.read(path)
    assert kc.cert_pem and kc.key_pem and kc.token is None
    csrs = [c for c in cluster.admin.list(CSRS)["items"] if c["metadata"]["name"].startswith("node-csr-n1-")]
    assert len(csrs) == 1
    assert csrs[0]["spec"]["username"] == f"system:bootstrap:{token.split('.')[0]}"
    assert [c["type"] for c in csrs[0]["status"]["conditions"]] == ["Approved"]
    node = Client.from_kubeconfig(path)
    mine = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"}}
    assert node.create(mine)["metadata"]["name"] == "n1"
    cluster.admin.create({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n2-other"}})
    labelled = node.patch(NODES, "n1", {"metadata": {"labels": {"joined": "yes"}}})
    assert labelled["metadata"]["labels"]["joined"] == "yes"
    with pytest.raises(errors.Forbidden):
        node.patch(NODES, "n2-other", {"metadata": {"labels": {"joined": "yes"}}})
    with pytest.raises(errors.Forbidden, match="only its own"):  # NodeRestriction: no Node of another name
        node.create({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n9-impostor"}})
    lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "n2-other"}}
    with pytest.raises(errors.Forbidden):
        node.create(lease, "kube-node-lease")
    # A second join finds the kubeconfig and asks for nothing.
    assert join(str(tmp_path), "n1", cluster.url, "bad", ca_cert_hash="sha256:00") == path


def test_join_with_ca_file_and_a_denied_request_fails_clearly(cluster: Cluster, tmp_path: Path) -> None:
    token, _ = token_create(cluster)
    result: dict[str, BaseException] = {}

    def run() -> None:
        try:
            join(str(tmp_path), "n3", cluster.url, token, ca_file=cluster.pki.ca_cert, timeout=60)
        except BaseException as exc:  # noqa: BLE001 - reported to the test thread
            result["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        pending = [
            c for c in cluster.admin.list(CSRS)["items"] if c["metadata"]["name"].startswith("node-csr-n3-")
        ]
        if pending:
            pending[0].setdefault("status", {})["conditions"] = [
                {"type": "Denied", "status": "True", "reason": "Test", "message": "no thanks"}
            ]
            cluster.admin.update(pending[0], subresource="approval")
            break
        time.sleep(0.1)
    thread.join(60)
    assert isinstance(result.get("error"), JoinError) and "denied" in str(result["error"])
    assert not (tmp_path / KUBECONFIG_NAME).exists()


def test_kubeq_node_join_refuses_a_wrong_pin_with_a_clear_message(cluster: Cluster, tmp_path: Path) -> None:
    token, _ = token_create(cluster)
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBEQ_")}
    env["PYTHONPATH"] = str(ROOT)
    argv = ["node", "--name", "n4", "--data-dir", str(tmp_path), "--join", cluster.url, "--token", token]
    result = subprocess.run(
        [sys.executable, "-m", "workers.cli", *argv, "--ca-cert-hash", "sha256:" + "1" * 64],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
    )
    assert result.returncode == 1
    assert "refusing to join" in result.stderr
