"""Kubeconfig files: write one cluster/user/context, and read the current context back.

The written file is what kubectl and the Python ``kubernetes`` client load: the CA, client certificate and
key are embedded as ``*-data`` fields (base64 PEM); a bearer token goes in ``token``. Reading also accepts
the file-path forms (``certificate-authority``, ``client-certificate``, ``client-key``, ``tokenFile``),
resolved relative to the kubeconfig's directory.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass
from typing import Any

import yaml


@dataclass(frozen=True)
class KubeConfig:
    """The connection facts of one context."""

    server: str
    ca_pem: bytes | None = None
    token: str | None = None
    cert_pem: bytes | None = None
    key_pem: bytes | None = None
    namespace: str = "default"
    insecure_skip_tls_verify: bool = False


def _b64(data: bytes | str) -> str:
    return base64.b64encode(data.encode() if isinstance(data, str) else data).decode()


def render(
    server: str,
    ca_pem: bytes | str | None = None,
    *,
    token: str | None = None,
    cert_pem: bytes | str | None = None,
    key_pem: bytes | str | None = None,
    user: str = "kubernetes-admin",
    namespace: str = "",
    cluster: str = "kubeq",
) -> dict[str, Any]:
    """The kubeconfig document (a dict) for one context named ``<user>@<cluster>``."""
    cluster_entry: dict[str, Any] = {"server": server}
    if ca_pem:
        cluster_entry["certificate-authority-data"] = _b64(ca_pem)
    user_entry: dict[str, Any] = {}
    if token:
        user_entry["token"] = token
    if cert_pem and key_pem:
        user_entry["client-certificate-data"] = _b64(cert_pem)
        user_entry["client-key-data"] = _b64(key_pem)
    context: dict[str, Any] = {"cluster": cluster, "user": user}
    if namespace:
        context["namespace"] = namespace
    name = f"{user}@{cluster}"
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": cluster, "cluster": cluster_entry}],
        "users": [{"name": user, "user": user_entry}],
        "contexts": [{"name": name, "context": context}],
        "current-context": name,
        "preferences": {},
    }


def write(path: str, server: str, ca_pem: bytes | str | None = None, **kwargs: Any) -> str:
    """Write a kubeconfig (mode 0600: it holds credentials) atomically; returns ``path``.

    ``kwargs`` are those of ``render`` (token, cert_pem, key_pem, user, namespace, cluster).
    """
    doc = render(server, ca_pem, **kwargs)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        yaml.safe_dump(doc, f, sort_keys=False)
    os.replace(tmp, path)
    return path


def _data(entry: dict[str, Any], key: str, base: str) -> bytes | None:
    if entry.get(f"{key}-data"):
        return base64.b64decode(entry[f"{key}-data"])
    if entry.get(key):
        with open(os.path.join(base, entry[key]), "rb") as f:
            return f.read()
    return None


def parse(doc: dict[str, Any], base: str = ".", context: str = "") -> KubeConfig:
    """The connection facts of ``context`` (default: the current one) of a kubeconfig document."""
    wanted = context or doc.get("current-context", "")
    contexts = doc.get("contexts") or []
    ctx = next((c.get("context") or {} for c in contexts if c.get("name") == wanted), None)
    if ctx is None:
        if not contexts:
            raise ValueError("the kubeconfig has no contexts")
        ctx = contexts[0].get("context") or {}
    cluster = next(
        (c.get("cluster") or {} for c in doc.get("clusters") or [] if c.get("name") == ctx.get("cluster")),
        None,
    )
    if cluster is None:
        raise ValueError(f"the kubeconfig has no cluster {ctx.get('cluster')!r}")
    user = next((u.get("user") or {} for u in doc.get("users") or [] if u.get("name") == ctx.get("user")), {})
    token = user.get("token")
    if not token and user.get("tokenFile"):
        with open(os.path.join(base, user["tokenFile"])) as f:
            token = f.read().strip()
    return KubeConfig(
        server=cluster["server"],
        ca_pem=_data(cluster, "certificate-authority", base),
        token=token or None,
        cert_pem=_data(user, "client-certificate", base),
        key_pem=_data(user, "client-key", base),
        namespace=ctx.get("namespace") or "default",
        insecure_skip_tls_verify=bool(cluster.get("insecure-skip-tls-verify")),
    )


def read(path: str, context: str = "") -> KubeConfig:
    """Load a kubeconfig file and return the facts of ``context`` (default: current-context)."""
    with open(path) as f:
        doc = yaml.safe_load(f) or {}
    return parse(doc, os.path.dirname(os.path.abspath(path)), context)
