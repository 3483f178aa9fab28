"""Joining a node with a bootstrap token, and making such tokens (kubeadm's TLS bootstrap, kubeq-sized).

Admin side, ``create_token``: a Secret ``kube-system/bootstrap-token-<id>`` (type
``bootstrap.kubernetes.io/token``) and the ConfigMap ``kube-public/cluster-info`` whose
``data.kubeconfig`` carries the server URL and the CA (no credentials).

Node side, ``join``: if ``<node dir>/kubelet.kubeconfig`` exists it is used as is. Otherwise the
node reads cluster-info with the token over TLS *without* verification, accepts the CA only if its
``sha256:`` pin matches (or takes it from ``--ca-file``), then over verified TLS sends a CSR for
``system:node:<name>`` / ``system:nodes`` (the private key never leaves the node), waits for the
certificate and writes ``kubelet.kubeconfig`` (mode 0600). ``JoinError`` says what went wrong.
"""

from __future__ import annotations

import base64
import datetime
import os
import re
import secrets
import string
import time
from dataclasses import dataclass
from typing import Any

import yaml

from cluster import errors, kubeconfig, pki
from cluster.api.resources import lookup
from cluster.client.client import Client

Obj = dict[str, Any]
CONFIGMAPS = lookup("", "v1", "configmaps")
SECRETS = lookup("", "v1", "secrets")
CSRS = lookup("certificates.k8s.io", "v1", "certificatesigningrequests")
BOOTSTRAP_TOKEN_TYPE = "bootstrap.kubernetes.io/token"
DEFAULT_GROUP = "system:bootstrappers:kubeq:default-node-token"
KUBELET_SIGNER = "kubernetes.io/kube-apiserver-client-kubelet"
KUBECONFIG_NAME = "kubelet.kubeconfig"
TOKEN_RE = re.compile(r"^([a-z0-9]{6})\.([a-z0-9]{16})$")
_ALPHABET = string.ascii_lowercase + string.digits


class JoinError(RuntimeError):
    """Joining failed; the message says why and what to do."""


# ---- admin side --------------------------------------------------------------------------------
@dataclass(frozen=True)
class BootstrapToken:
    """A token ``<id>.<secret>`` and when it expires (None: never)."""

    id: str
    secret: str
    expires: datetime.datetime | None

    @property
    def token(self) -> str:
        return f"{self.id}.{self.secret}"


def parse_ttl(text: str) -> float:
    """Seconds of a Go-style duration (``24h``, ``90m``, ``1h30m``, ``45s``, ``0``); ValueError if bad."""
    text = text.strip()
    if text in ("0", ""):
        return 0.0
    parts = re.findall(r"(\d+(?:\.\d+)?)(h|m|s)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"invalid duration {text!r} (use e.g. 24h, 30m, 1h30m)")
    return sum(float(n) * {"h": 3600, "m": 60, "s": 1}[u] for n, u in parts)


def new_token(ttl_seconds: float) -> BootstrapToken:
    """A random token; ``ttl_seconds`` 0 never expires."""
    expires = None
    if ttl_seconds > 0:
        now = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
        expires = now + datetime.timedelta(seconds=ttl_seconds)
    pick = lambda n: "".join(secrets.choice(_ALPHABET) for _ in range(n))  # noqa: E731
    return BootstrapToken(pick(6), pick(16), expires)


def token_secret(token: BootstrapToken, groups: str = DEFAULT_GROUP) -> Obj:
    """The Secret that makes ``token`` valid for authentication."""
    data = {
        "token-id": token.id,
        "token-secret": token.secret,
        "usage-bootstrap-authentication": "true",
        "auth-extra-groups": groups,
        "description": "made by kubeq token create",
    }
    if token.expires is not None:
        data["expiration"] = token.expires.strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": f"bootstrap-token-{token.id}", "namespace": "kube-system"},
        "type": BOOTSTRAP_TOKEN_TYPE,
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
    }


def cluster_info(server: str, ca_pem: bytes) -> Obj:
    """The ``kube-public/cluster-info`` ConfigMap: a kubeconfig with the server and CA only."""
    doc = kubeconfig.render(server, ca_pem, user="")
    doc["users"] = []
    for ctx in doc["contexts"]:
        ctx["context"].pop("user", None)
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "cluster-info", "namespace": "kube-public"},
        "data": {"kubeconfig": yaml.safe_dump(doc, sort_keys=False)},
    }


def publish_cluster_info(client: Client, server: str, ca_pem: bytes) -> None:
    """Create or replace ``kube-public/cluster-info``."""
    info = cluster_info(server, ca_pem)
    try:
        client.create(info, "kube-public")
    except errors.AlreadyExists:
        current = client.get(CONFIGMAPS, "cluster-info", "kube-public")
        current["data"] = info["data"]
        client.update(current)


def create_token(client: Client, server: str, ca_pem: bytes, ttl_seconds: float = 86400) -> BootstrapToken:
    """Store a new bootstrap token and (re)publish cluster-info; the token."""
    token = new_token(ttl_seconds)
    client.create(token_secret(token), "kube-system")
    publish_cluster_info(client, server, ca_pem)
    return token


def join_command(server: str, token: str, ca_pem: bytes, name: str = "<node-name>") -> str:
    """The ``kubeq node --join`` command a node runs to join with ``token``."""
    return (
        f"kubeq node --name {name} --join {server} --token {token} --ca-cert-hash {pki.ca_cert_hash(ca_pem)}"
    )


# ---- node side ---------------------------------------------------------------------------------
def discover_ca(server: str, token: str, ca_cert_hash: str, timeout: float = 30) -> bytes:
    """The CA of cluster-info, read without TLS verification, accepted only if it matches the pin."""
    insecure = Client(server, token=token, timeout=timeout, verify=False, user_agent="kubeq-join")
    try:
        info = insecure.get(CONFIGMAPS, "cluster-info", "kube-public")
    except errors.StatusError as exc:
        raise JoinError(f"cannot read kube-public/cluster-info from {server}: {exc}") from exc
    except OSError as exc:
        raise JoinError(f"cannot reach {server}: {exc}") from exc
    try:
        ca_pem = kubeconfig.parse(yaml.safe_load(info["data"]["kubeconfig"])).ca_pem
    except (KeyError, TypeError, ValueError, yaml.YAMLError) as exc:
        raise JoinError(f"kube-public/cluster-info holds no usable kubeconfig: {exc}") from exc
    if not ca_pem:
        raise JoinError("kube-public/cluster-info holds no CA certificate")
    actual = pki.ca_cert_hash(ca_pem)
    if actual.lower() != ca_cert_hash.strip().lower():
        raise JoinError(
            f"the cluster CA's hash is {actual}, not the expected {ca_cert_hash}: refusing to join"
        )
    return ca_pem


def request_certificate(
    server: str, token: str, ca_pem: bytes, name: str, timeout: float = 300, poll: float = 0.5
) -> tuple[bytes, bytes]:
    """Send a node client CSR and wait for its certificate: ``(cert_pem, key_pem)``."""
    csr_pem, key_pem = pki.make_csr(f"system:node:{name}", ["system:nodes"])
    client = Client(server, token=token, ca_pem=ca_pem, timeout=30, user_agent=f"kubeq-join/{name}")
    body = {
        "apiVersion": "certificates.k8s.io/v1",
        "kind": "CertificateSigningRequest",
        "metadata": {"generateName": f"node-csr-{name}-"},
        "spec": {
            "request": base64.b64encode(csr_pem).decode(),
            "signerName": KUBELET_SIGNER,
            "usages": ["digital signature", "client auth"],
        },
    }
    try:
        csr_name = client.create(body)["metadata"]["name"]
    except errors.StatusError as exc:
        raise JoinError(f"the API server refused the certificate request: {exc}") from exc
    deadline = time.monotonic() + timeout
    while True:
        obj = client.get(CSRS, csr_name)
        status = obj.get("status") or {}
        for cond in status.get("conditions") or []:
            if cond.get("type") in ("Denied", "Failed"):
                raise JoinError(
                    f"certificate request {csr_name} was {cond['type'].lower()}: {cond.get('message', '')}"
                )
        if status.get("certificate"):
            return base64.b64decode(status["certificate"]), key_pem
        if time.monotonic() > deadline:
            raise JoinError(
                f"no certificate for request {csr_name} after {timeout:.0f}s; is the controller-manager running? "
                f"(`kubectl certificate approve {csr_name}` approves it by hand)"
            )
        time.sleep(poll)


def join(
    node_dir: str,
    name: str,
    server: str,
    token: str,
    ca_cert_hash: str | None = None,
    ca_file: str | None = None,
    timeout: float = 300,
) -> str:
    """The path of the node's kubeconfig, bootstrapping it with ``token`` if it does not exist yet."""
    path = os.path.join(node_dir, KUBECONFIG_NAME)
    if os.path.exists(path):
        return path
    if not TOKEN_RE.match(token or ""):
        raise JoinError("the token must look like <6 characters>.<16 characters> of [a-z0-9]")
    if not server.startswith("https://"):
        raise JoinError(f"--join needs an https:// URL, not {server!r}")
    if ca_file:
        with open(ca_file, "rb") as f:
            ca_pem = f.read()
        if ca_cert_hash and pki.ca_cert_hash(ca_pem).lower() != ca_cert_hash.strip().lower():
            raise JoinError(f"{ca_file} does not match --ca-cert-hash {ca_cert_hash}: refusing to join")
    elif ca_cert_hash:
        ca_pem = discover_ca(server, token, ca_cert_hash)
    else:
        raise JoinError("--join needs --ca-cert-hash sha256:<hash> or --ca-file to trust the cluster")
    cert_pem, key_pem = request_certificate(server, token, ca_pem, name, timeout)
    os.makedirs(node_dir, exist_ok=True)
    return kubeconfig.write(
        path, server, ca_pem, cert_pem=cert_pem, key_pem=key_pem, user=f"system:node:{name}"
    )
