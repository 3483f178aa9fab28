"""The root CA publisher: a ``kube-root-ca.crt`` ConfigMap in every live namespace.

Keys are namespace names. A namespace added or changed, and a ``kube-root-ca.crt`` ConfigMap
changed or deleted, queue their namespace; the sync makes the ConfigMap hold exactly
``data: {ca.crt: <cluster CA PEM>}`` (created when missing, rewritten when edited). Pods read it
through their ``kube-api-access-*`` volume to trust the API server.

The CA comes from ``settings.client_ca_file``, else ``cluster_signing_cert_file``, else the CA data
of the component's kubeconfig (``settings.kubeconfig``), else (secure clusters only)
``<pki>/ca.crt``. With none of them (an insecure development cluster) nothing is published; the
kubelet then writes an empty ``ca.crt``.
"""

from __future__ import annotations

import os
from typing import Any

from cluster import errors, kubeconfig
from cluster.api.resources import lookup
from cluster.settings import Settings
from tasks.controllers.base import KeyedController, own_key_while_live
from tasks.runtime.controller import Change, Context, Watch

Obj = dict[str, Any]
NAMESPACES = lookup("", "v1", "namespaces")
CONFIGMAPS = lookup("", "v1", "configmaps")
CONFIGMAP = "kube-root-ca.crt"
KEY = "ca.crt"
# Kubernetes marks the published ConfigMap with this annotation (its source, empty: the root CA file).
DESCRIPTION = "kubernetes.io/description"
DESCRIPTION_TEXT = (
    "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints "
    "such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across "
    "distributions of Kubernetes clusters."
)


def ca_file(settings: Settings) -> str:
    """The path of the CA to publish, or "" when the cluster has none."""
    for path in (settings.client_ca_file, settings.cluster_signing_cert_file):
        if path:
            return path
    fallback = os.path.join(settings.pki, "ca.crt")
    if not settings.insecure and os.path.isfile(fallback):
        return fallback
    return ""


def read_ca(settings: Settings | None = None) -> str:
    """The cluster CA as PEM text; "" when there is none. ``OSError`` if a named file is unreadable."""
    settings = settings or Settings.from_env()
    if not (settings.client_ca_file or settings.cluster_signing_cert_file) and settings.kubeconfig:
        ca_pem = kubeconfig.read(settings.kubeconfig).ca_pem
        if ca_pem:
            return ca_pem.decode()
    path = ca_file(settings)
    if not path:
        return ""
    with open(path, encoding="utf-8") as f:
        return f.read()


def _published_changed(change: Change) -> list[str]:
    md = change.object.get("metadata", {})
    if md.get("name") != CONFIGMAP or not md.get("namespace"):
        return []
    return [md["namespace"]]


class RootCAController(KeyedController):
    """Keeps ``kube-root-ca.crt`` equal to the cluster CA in each namespace (see the module doc)."""

    name = "rootca"
    resource = NAMESPACES
    watches = (
        Watch("namespaces", own_key_while_live),
        Watch("configmaps", _published_changed),
    )

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings  # None: read from the environment at each sync

    def sync(self, key: str, ctx: Context) -> float | None:
        ca = read_ca(self.settings)
        if not ca:
            return None
        ns = self.get(ctx, key)
        if ns is None or ns["metadata"].get("deletionTimestamp"):
            return None
        if (ns.get("status") or {}).get("phase") == "Terminating":
            return None
        try:
            current: Obj | None = ctx.client.get(CONFIGMAPS, CONFIGMAP, key)
        except errors.NotFound:
            current = None
        if current is None:
            body = {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": CONFIGMAP, "annotations": {DESCRIPTION: DESCRIPTION_TEXT}},
                "data": {KEY: ca},
            }
            try:
                ctx.client.create(body, key)
            except (errors.AlreadyExists, errors.Forbidden, errors.NotFound):
                pass  # made meanwhile (its change queues us again), or the namespace went away
            return None
        if current.get("data") == {KEY: ca} and not current.get("binaryData"):
            return None
        current["data"] = {KEY: ca}
        current.pop("binaryData", None)
        try:
            ctx.client.update(current)
        except (errors.Conflict, errors.NotFound):
            pass  # changed or deleted meanwhile: that change queues the namespace again
        return None
