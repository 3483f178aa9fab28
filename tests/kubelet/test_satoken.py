"""Projected ServiceAccount tokens on the node: the kubelet asks the TokenRequest API for a token bound
to the pod, writes it with the CA and namespace files, and renews it after 80% of its lifetime.

The API side here is a small stand-in speaking the TokenRequest wire contract (201 with
``status.token`` and ``status.expirationTimestamp``), so the kubelet's part is tested on its own."""

from __future__ import annotations

import datetime
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from cluster.client.client import Client
from tasks.kubelet.fields import ConfigError
from tasks.kubelet.satoken import ServiceAccountTokens
from tasks.kubelet.volumes import materialize

Obj = dict[str, Any]
CA = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


class TokenServer:
    """Answers ``POST .../serviceaccounts/<sa>/token``; records the bodies; can be told to fail."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, Obj]] = []
        self.lifetime: float | None = None  # seconds; None: the requested expirationSeconds
        self.failing = False
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.requests.append((self.path, body))
                if outer.failing or not self.path.endswith("/token"):
                    status: Obj = {"kind": "Status", "status": "Failure", "code": 503, "message": "down"}
                    self._reply(503, status)
                    return
                life = outer.lifetime or body["spec"]["expirationSeconds"]
                expires = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=life)
                token = f"tok-{len(outer.requests)}"
                status_ = {"token": token, "expirationTimestamp": expires.strftime("%Y-%m-%dT%H:%M:%S.%fZ")}
                self._reply(201, {**body, "status": status_})

            def _reply(self, code: int, obj: Obj) -> None:
                data = json.dumps(obj).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"


@pytest.fixture
def api() -> Iterator[TokenServer]:
    server = TokenServer()
    thread = threading.Thread(target=server.httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.httpd.shutdown()
        server.httpd.server_close()


def access_pod(audience: str = "") -> Obj:
    token: Obj = {"expirationSeconds": 3607, "path": "token"}
    if audience:
        token["audience"] = audience
    volume = {
        "name": "kube-api-access-abcde",
        "projected": {
            "defaultMode": 420,
            "sources": [
                {"serviceAccountToken": token},
                {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                {
                    "downwardAPI": {
                        "items": [{"path": "namespace", "fieldRef": {"fieldPath": "metadata.namespace"}}]
                    }
                },
            ],
        },
    }
    return {
        "metadata": {"name": "web", "namespace": "shop", "uid": "uid-1"},
        "spec": {"serviceAccountName": "robot", "containers": [{"name": "c"}], "volumes": [volume]},
    }


def with_ca(plural: str, namespace: str, name: str) -> Obj | None:
    return (
        {"data": {"ca.crt": CA}}
        if (plural, namespace, name) == ("configmaps", "shop", "kube-root-ca.crt")
        else None
    )


def no_objects(plural: str, namespace: str, name: str) -> Obj | None:
    return None


def write(
    pod: Obj, tmp: Path, client: Client, tokens: ServiceAccountTokens, lookup: Any = with_ca, **kw: Any
) -> Path:
    paths = materialize(pod, str(tmp), lookup, tokens=lambda p, s: tokens.token(client, p, s, **kw))
    return Path(paths["kube-api-access-abcde"])


def test_projected_volume_holds_token_ca_and_namespace(api: TokenServer, tmp_path: Path) -> None:
    root = write(access_pod("vault"), tmp_path, Client(api.url), ServiceAccountTokens())
    assert (root / "token").read_text() == "tok-1"
    assert (root / "ca.crt").read_text() == CA
    assert (root / "namespace").read_text() == "shop"
    assert oct((root / "token").stat().st_mode & 0o777) == oct(420)
    [(path, body)] = api.requests
    assert path == "/api/v1/namespaces/shop/serviceaccounts/robot/token"
    assert body == {
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenRequest",
        "spec": {
            "audiences": ["vault"],
            "expirationSeconds": 3607,
            "boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": "web", "uid": "uid-1"},
        },
    }


def test_token_is_reused_until_80_percent_of_its_life(api: TokenServer) -> None:
    client, tokens, pod = Client(api.url), ServiceAccountTokens(), access_pod()
    source = pod["spec"]["volumes"][0]["projected"]["sources"][0]["serviceAccountToken"]
    start = time.time()
    assert tokens.token(client, pod, source, now=start) == b"tok-1"
    assert source.get("audience") is None and api.requests[0][1]["spec"]["audiences"] == []
    assert tokens.token(client, pod, source, now=start + 0.79 * 3607) == b"tok-1"
    due = tokens.refresh_due("uid-1")
    assert due is not None and abs(due - (start + 0.8 * 3607)) < 5
    assert tokens.token(client, pod, source, now=start + 0.81 * 3607) == b"tok-2"
    assert len(api.requests) == 2
    tokens.forget("uid-1")
    assert tokens.refresh_due("uid-1") is None


def test_file_is_rewritten_once_the_token_ages(api: TokenServer, tmp_path: Path) -> None:
    api.lifetime = 2.0
    client, tokens, pod = Client(api.url), ServiceAccountTokens(), access_pod()
    root = write(pod, tmp_path, client, tokens)
    assert (root / "token").read_text() == "tok-1"
    write(pod, tmp_path, client, tokens)
    assert (root / "token").read_text() == "tok-1"  # still fresh: no new request
    time.sleep(1.8)
    write(pod, tmp_path, client, tokens)
    assert (root / "token").read_text() == "tok-2"
    assert len(api.requests) == 2


def test_failed_renewal_keeps_a_token_that_is_still_valid(api: TokenServer) -> None:
    client, tokens, pod = Client(api.url), ServiceAccountTokens(), access_pod()
    source = pod["spec"]["volumes"][0]["projected"]["sources"][0]["serviceAccountToken"]
    start = time.time()
    assert tokens.token(client, pod, source, now=start) == b"tok-1"
    api.failing = True
    assert tokens.token(client, pod, source, now=start + 0.9 * 3607) == b"tok-1"


def test_no_token_is_a_mount_error_on_a_secure_node(api: TokenServer, tmp_path: Path) -> None:
    api.failing = True
    with pytest.raises(ConfigError, match='failed to fetch token: serviceaccounts "robot"'):
        write(access_pod(), tmp_path, Client(api.url), ServiceAccountTokens())


def test_lenient_node_writes_empty_token_and_ca(api: TokenServer, tmp_path: Path) -> None:
    api.failing = True
    tokens = ServiceAccountTokens()
    client = Client(api.url)
    paths = materialize(
        access_pod(),
        str(tmp_path),
        no_objects,
        tokens=lambda p, s: tokens.token(client, p, s, empty_on_failure=True),
        empty_if_missing=("kube-root-ca.crt",),
    )
    root = Path(paths["kube-api-access-abcde"])
    assert (root / "token").read_bytes() == b"" and (root / "ca.crt").read_bytes() == b""
    assert (root / "namespace").read_text() == "shop"
    materialize(
        access_pod(),
        str(tmp_path),
        no_objects,
        tokens=lambda p, s: tokens.token(client, p, s, empty_on_failure=True),
        empty_if_missing=("kube-root-ca.crt",),
    )
    assert len(api.requests) == 1  # the empty answer is remembered for a while


def test_missing_root_ca_is_a_mount_error_on_a_secure_node(api: TokenServer, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="kube-root-ca.crt"):
        write(access_pod(), tmp_path, Client(api.url), ServiceAccountTokens(), lookup=no_objects)
