"""Shared fixtures of the security tests: key pairs, token files, a test CA, a secure in-process app
and a secure API server process (HTTPS with optional client certificates).

``call(app, method, path, ...)`` drives a WSGI app in process and returns ``(code, body)``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import ipaddress
import json
import os
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from cluster.apiserver.app import APIServer
from cluster.apiserver.security import security_from_settings
from cluster.registry import Registry, ensure_system_namespaces
from cluster.registry.rbac_defaults import ensure_default_rbac
from cluster.settings import Settings
from cluster.store import Store

ROOT = Path(__file__).resolve().parents[2]
ADMIN_TOKEN = "admin-" + "a" * 26
ALICE_TOKEN = "alice-" + "b" * 26
TOKENS_CSV = (
    f'{ADMIN_TOKEN},kubernetes-admin,uid-admin,"system:masters"\n{ALICE_TOKEN},alice,uid-alice,"devs,qa"\n'
)


def call(
    app: Any,
    method: str,
    path: str,
    body: Any = None,
    token: str | None = None,
    headers: dict[str, str] | None = None,
    query: str = "",
) -> tuple[int, Any]:
    """One request through the WSGI ``app``: its status code and decoded JSON (or text) body."""
    data = b"" if body is None else json.dumps(body).encode()
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(data)),
        "HTTP_ACCEPT": "application/json",
        "HTTP_USER_AGENT": "authn-test/1.0",
        "REMOTE_ADDR": "10.1.2.3",
        "wsgi.input": io.BytesIO(data),
    }
    if token is not None:
        environ["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    for name, value in (headers or {}).items():
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    status: list[str] = []
    raw = b"".join(app(environ, lambda s, h, *exc: status.append(s)))
    try:
        decoded: Any = json.loads(raw)
    except ValueError:
        decoded = raw.decode()
    return int(status[0][:3]), decoded


@pytest.fixture(scope="session")
def sa_key_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """``(public_pem_path, private_pem_path)`` of a fresh RSA key pair."""
    folder = tmp_path_factory.mktemp("sa")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = folder / "sa.key"
    public = folder / "sa.pub"
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return str(public), str(private)


@pytest.fixture
def secure_settings(tmp_path: Path, sa_key_files: tuple[str, str]) -> Settings:
    tokens = tmp_path / "tokens.csv"
    tokens.write_text(TOKENS_CSV)
    return Settings(
        data_dir=str(tmp_path),
        token_auth_file=str(tokens),
        service_account_key_file=sa_key_files[0],
        service_account_signing_key_file=sa_key_files[1],
        audit_log_path=str(tmp_path / "audit.log"),
    )


@pytest.fixture
def secure_app(store: Store, secure_settings: Settings) -> APIServer:
    """An API server (in process) with authentication, RBAC and an audit log."""
    registry = Registry(store)
    ensure_system_namespaces(registry)
    ensure_default_rbac(registry)
    return APIServer(registry, security=security_from_settings(secure_settings, registry))


# ---- a CA, a serving certificate and client certificates -------------------------------------------
def _pem_key(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


@dataclass
class CertAuthority:
    key: rsa.RSAPrivateKey
    cert: x509.Certificate
    path: Path

    @classmethod
    def create(cls, folder: Path) -> CertAuthority:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test-ca")])
        cert = (
            _builder(name, name, key.public_key())
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256())
        )
        path = folder / "ca.crt"
        path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return cls(key, cert, path)

    def issue(
        self, folder: Path, stem: str, cn: str, orgs: tuple[str, ...] = (), ip: str = ""
    ) -> tuple[Path, Path]:
        """``(cert_path, key_path)`` of a certificate for ``cn`` (a serving one when ``ip`` is set)."""
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in orgs]
        subject = x509.Name([*attrs, x509.NameAttribute(NameOID.COMMON_NAME, cn)])
        builder = _builder(subject, self.cert.subject, key.public_key())
        if ip:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip))]), critical=False
            )
        cert = builder.sign(self.key, hashes.SHA256())
        cert_path, key_path = folder / f"{stem}.crt", folder / f"{stem}.key"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(_pem_key(key))
        return cert_path, key_path


def _builder(subject: x509.Name, issuer: x509.Name, public_key: Any) -> x509.CertificateBuilder:
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=2))
    )


# ---- a secure API server process ------------------------------------------------------------------
_SERVE = textwrap.dedent(
    """
    import ssl
    import sys
    from socketserver import ThreadingMixIn
    from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

    from cluster.apiserver.app import APIServer
    from cluster.apiserver.security import security_from_settings
    from cluster.registry import Registry, ensure_system_namespaces
    from cluster.registry.rbac_defaults import ensure_default_rbac
    from cluster.settings import Settings
    from cluster.store import Store

    class Server(ThreadingMixIn, WSGIServer):
        daemon_threads = True

    class Quiet(WSGIRequestHandler):
        def log_message(self, *args):
            pass

        def get_environ(self):
            environ = super().get_environ()
            environ["gunicorn.socket"] = self.connection  # where the API server finds the TLS peer
            if self.headers.get("Content-Type") is None:  # wsgiref says text/plain; gunicorn says nothing
                environ.pop("CONTENT_TYPE", None)
            return environ

    settings = Settings.from_env()
    registry = Registry(Store.from_url(settings.redis_url, settings.state_prefix))
    ensure_system_namespaces(registry)
    ensure_default_rbac(registry)
    app = APIServer(registry, security=security_from_settings(settings, registry))
    httpd = make_server("127.0.0.1", int(sys.argv[1]), app, Server, Quiet)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(sys.argv[2], sys.argv[3])
    context.load_verify_locations(sys.argv[4])
    context.verify_mode = ssl.CERT_OPTIONAL
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True, do_handshake_on_connect=False)
    httpd.serve_forever()
    """
)


@dataclass
class SecureServer:
    url: str
    audit_log: Path
    folder: Path
    ca: CertAuthority
    process: subprocess.Popen[bytes]

    def kubeconfig(
        self, token: str | None, name: str = "user", cert: tuple[Path, Path] | None = None
    ) -> Path:
        """A kubeconfig for this server with ``token`` (or client ``cert``) as the credential (neither:
        anonymous)."""
        user: dict[str, Any] = {"token": token} if token else {}
        if cert is not None:
            user = {"client-certificate": str(cert[0]), "client-key": str(cert[1])}
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {"name": "kubeq", "cluster": {"server": self.url, "certificate-authority": str(self.ca.path)}}
            ],
            "users": [{"name": name, "user": user}],
            "contexts": [
                {"name": "c", "context": {"cluster": "kubeq", "user": name, "namespace": "default"}}
            ],
            "current-context": "c",
        }
        path = self.folder / f"kubeconfig-{uuid.uuid4().hex[:6]}"
        path.write_text(json.dumps(config))
        return path


@contextlib.contextmanager
def launch_secure_apiserver(redis_url: str, folder: Path, sa_keys: tuple[str, str]) -> Iterator[SecureServer]:
    """An HTTPS API server process (client certificates optional) with the static token file,
    ServiceAccount keys, default RBAC and an audit log."""
    from tests.e2e.conftest import free_port
    from workers.local_cluster import stop_process, wait_ready

    port = free_port()
    tokens = folder / "tokens.csv"
    tokens.write_text(TOKENS_CSV)
    audit_log = folder / "audit.log"
    env = dict(
        os.environ,
        PYTHONPATH=str(ROOT),
        KUBEQ_REDIS_URL=redis_url,
        KUBEQ_STATE_PREFIX=f"auth-{uuid.uuid4().hex[:8]}",
        KUBEQ_DATA_DIR=str(folder),
        KUBEQ_INSECURE="0",
        KUBEQ_TOKEN_AUTH_FILE=str(tokens),
        KUBEQ_SERVICE_ACCOUNT_KEY_FILE=sa_keys[0],
        KUBEQ_SERVICE_ACCOUNT_SIGNING_KEY_FILE=sa_keys[1],
        KUBEQ_AUDIT_LOG_PATH=str(audit_log),
    )
    ca = CertAuthority.create(folder)
    serving = ca.issue(folder, "serving", "kube-apiserver", ip="127.0.0.1")
    args = [str(port), str(serving[0]), str(serving[1]), str(ca.path)]
    proc = subprocess.Popen([sys.executable, "-c", _SERVE, *args], env=env, cwd=ROOT)
    url = f"https://127.0.0.1:{port}"
    try:
        wait_ready(url + "/readyz", 60, proc, ca_file=str(ca.path))
        yield SecureServer(url, audit_log, folder, ca, proc)
    finally:
        stop_process(proc)


@pytest.fixture(scope="module")
def secure_server(
    redis_url: str, tmp_path_factory: pytest.TempPathFactory, sa_key_files: tuple[str, str]
) -> Iterator[SecureServer]:
    with launch_secure_apiserver(redis_url, tmp_path_factory.mktemp("secure"), sa_key_files) as server:
        yield server
