"""`kubeq apiserver` serving TLS: kubectl, the Python client and kubeq's Client through kubeconfigs;
plain HTTP and foreign client certificates refused."""

from __future__ import annotations

import http.client
import os
import socket
import ssl
import subprocess
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from cluster import kubeconfig, pki
from cluster.api.resources import lookup
from cluster.client import Client
from tests.auth.secure_apiserver import SecureAPIServer, secure_apiserver

ROOT = Path(__file__).resolve().parents[2]

NAMESPACES = lookup("", "v1", "namespaces")


@pytest.fixture(scope="module")
def secure(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureAPIServer]:
    """`kubeq apiserver` with no TLS flags: it makes the self-signed PKI in <data-dir>/pki itself."""
    with secure_apiserver(redis_url, tmp_path_factory.mktemp("tls"), "tls") as server:
        yield server


def test_kubectl_gets_pods_through_the_written_kubeconfig(secure: SecureAPIServer) -> None:
    env = dict(os.environ, KUBECONFIG=str(secure.kubeconfig), HOME=str(secure.tmp))
    result = subprocess.run(
        ["kubectl", "get", "pods", "-A", "-o", "name"], capture_output=True, text=True, env=env, timeout=60
    )
    assert result.returncode == 0, result.stderr
    whoami = subprocess.run(
        ["kubectl", "get", "--raw", "/version"], capture_output=True, text=True, env=env, timeout=60
    )
    assert whoami.returncode == 0 and "gitVersion" in whoami.stdout


def test_python_client_loads_the_kubeconfig(secure: SecureAPIServer) -> None:
    from kubernetes import client, config

    cfg = client.Configuration()
    config.load_kube_config(config_file=str(secure.kubeconfig), client_configuration=cfg)
    with client.ApiClient(cfg) as api:
        names = [ns.metadata.name for ns in client.CoreV1Api(api).list_namespace().items]
    assert "kube-system" in names


def test_kubeq_client_with_a_client_certificate_lists_and_watches(secure: SecureAPIServer) -> None:
    cert, key = pki.issue_client_cert(secure.pki, "tls-test-admin", ["system:masters"])
    path = kubeconfig.write(
        str(secure.tmp / "cert.kubeconfig"), secure.url, secure.pki.ca_pem(), cert_pem=cert, key_pem=key
    )
    c = Client.from_kubeconfig(path)
    assert any(n["metadata"]["name"] == "default" for n in c.list(NAMESPACES)["items"])
    name = f"w-{uuid.uuid4().hex[:6]}"
    events: list[str] = []
    rv = c.list(NAMESPACES)["metadata"]["resourceVersion"]
    seen = threading.Event()

    def watch() -> None:
        for event in c.watch(NAMESPACES, resource_version=rv, timeout_seconds=20):
            events.append(event["object"]["metadata"]["name"])
            if event["object"]["metadata"]["name"] == name:
                seen.set()
                return

    t = threading.Thread(target=watch, daemon=True)
    t.start()
    c.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    assert seen.wait(30), events


def test_plain_http_to_the_tls_port_gets_no_api_answer(secure: SecureAPIServer) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", secure.port, timeout=10)
    try:
        conn.request("GET", "/api/v1/namespaces")
        status = conn.getresponse().status
    except (ConnectionError, http.client.HTTPException, OSError):
        return  # the TLS layer closed the connection
    finally:
        conn.close()
    assert status == 400  # or an error page; never the namespaces


def test_a_client_certificate_from_another_ca_is_rejected_at_the_handshake(
    secure: SecureAPIServer, tmp_path: Path
) -> None:
    other = pki.ensure_pki(str(tmp_path / "other"))
    cert, key = pki.issue_client_cert(other, "mallory", ["system:masters"])
    ctx = ssl.create_default_context(cafile=secure.pki.ca_cert)
    from cluster.client.tls import load_cert_chain_pem

    load_cert_chain_pem(ctx, cert, key)
    with pytest.raises((ssl.SSLError, ConnectionError)):
        with socket.create_connection(("127.0.0.1", secure.port), timeout=10) as raw:
            with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
                # TLS 1.3 reports the server's refusal of the certificate on the first read
                tls.sendall(b"GET /api/v1/namespaces HTTP/1.1\r\nHost: localhost\r\n\r\n")
                if not tls.recv(1024):
                    raise ConnectionError("closed without an answer")


def test_a_server_certificate_is_verified_against_the_ca(secure: SecureAPIServer, tmp_path: Path) -> None:
    other = pki.ensure_pki(str(tmp_path / "other"))
    c = Client(secure.url, ca_pem=other.ca_pem(), timeout=10)
    with pytest.raises(ssl.SSLCertVerificationError):
        c.list(NAMESPACES)
