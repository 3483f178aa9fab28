"""The certificate controllers: auto-approve kubelet client CSRs, sign approved client CSRs.

``CSRApprovingController`` (``csrapproving``) approves a CertificateSigningRequest for signer
``kubernetes.io/kube-apiserver-client-kubelet`` when the request is a node's client certificate
(CN ``system:node:<n>``, O exactly ``system:nodes``, client usages only, no alternative names) asked
for by a bootstrapping user (group ``system:bootstrappers``) or by ``system:node:<n>`` itself.
Anything else is left for a person (``kubectl certificate approve``).

``CSRSigningController`` (``csrsigning``) issues the certificate of every Approved, not Denied or
Failed, request of the signers ``kubernetes.io/kube-apiserver-client-kubelet`` and
``kubernetes.io/kube-apiserver-client``, with the cluster CA (settings
``cluster_signing_cert_file``/``cluster_signing_key_file``; default ``<pki>/ca.crt``/``ca.key``).
A request that cannot be signed gets a ``Failed`` condition. Both are keyed by the CSR's name and
idempotent: a request already decided or issued is left alone.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.x509.oid import NameOID

from cluster import errors, pki
from cluster.api.resources import lookup
from cluster.registry import csr as csrs
from cluster.registry import meta
from cluster.settings import Settings
from tasks.controllers.base import KeyedController
from tasks.runtime.controller import Context, Watch, own_key

Obj = dict[str, Any]
CSRS = lookup("certificates.k8s.io", "v1", "certificatesigningrequests")
NODE_PREFIX = "system:node:"
NODES_GROUP = "system:nodes"
BOOTSTRAPPERS = "system:bootstrappers"
KUBELET_CLIENT_USAGES = frozenset({"digital signature", "key encipherment", "client auth"})
SIGNERS = (csrs.KUBELET_CLIENT_SIGNER, csrs.CLIENT_SIGNER)
DEFAULT_DAYS = 365


def _decided(obj: Obj) -> bool:
    return any(csrs.condition(obj, t) is not None for t in csrs.CONDITION_TYPES)


def node_client_name(obj: Obj) -> str | None:
    """The node ``<n>`` a kubelet client request is for, or None if it is not one.

    A node client request: kubelet client signer, subject CN ``system:node:<n>`` and O exactly
    ``system:nodes``, usages within digital signature/key encipherment/client auth and including
    client auth, no subject alternative names.
    """
    spec = obj.get("spec") or {}
    if spec.get("signerName") != csrs.KUBELET_CLIENT_SIGNER:
        return None
    usages = set(spec.get("usages") or [])
    if "client auth" not in usages or not usages <= KUBELET_CLIENT_USAGES:
        return None
    try:
        req = csrs.parse_request(obj)
    except errors.StatusError:
        return None
    cns = [a.value for a in req.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    orgs = [a.value for a in req.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
    if len(cns) != 1 or not isinstance(cns[0], str) or not cns[0].startswith(NODE_PREFIX):
        return None
    if orgs != [NODES_GROUP]:
        return None
    try:
        req.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        return None
    except x509.ExtensionNotFound:
        pass
    name = cns[0][len(NODE_PREFIX) :]
    return name or None


def auto_approvable(obj: Obj) -> bool:
    """True for a node client request from a bootstrapper, or from that very node."""
    node = node_client_name(obj)
    if node is None:
        return False
    spec = obj.get("spec") or {}
    if BOOTSTRAPPERS in (spec.get("groups") or []):
        return True
    return spec.get("username") == NODE_PREFIX + node and NODES_GROUP in (spec.get("groups") or [])


class CSRApprovingController(KeyedController):
    """Approves node client certificate requests made while bootstrapping or renewing."""

    name = "csrapproving"
    resource = CSRS
    watches = (Watch(CSRS.qualified, own_key),)

    def sync(self, key: str, ctx: Context) -> float | None:
        obj = self.get(ctx, key)
        if obj is None or _decided(obj) or not auto_approvable(obj):
            return None
        now = meta.now()
        obj.setdefault("status", {}).setdefault("conditions", []).append(
            {
                "type": csrs.APPROVED,
                "status": "True",
                "reason": "AutoApproved",
                "message": "Auto approving kubelet client certificate after SubjectAccessReview.",
                "lastUpdateTime": now,
                "lastTransitionTime": now,
            }
        )
        try:
            ctx.client.update(obj, subresource="approval")
        except errors.NotFound:
            return None
        return None


@dataclass(frozen=True)
class SigningCA:
    """The CA the signer issues with (PEM bytes)."""

    cert_pem: bytes
    key_pem: bytes

    @classmethod
    def from_settings(cls, settings: Settings) -> SigningCA:
        """The files named in settings, else the cluster CA in ``<pki>``; OSError if missing."""
        cert = settings.cluster_signing_cert_file or os.path.join(settings.pki, "ca.crt")
        key = settings.cluster_signing_key_file or os.path.join(settings.pki, "ca.key")
        with open(cert, "rb") as c, open(key, "rb") as k:
            return cls(c.read(), k.read())


def issue(obj: Obj, ca: SigningCA) -> str:
    """The base64 PEM certificate for an approved request (``ValueError`` if it cannot be signed)."""
    spec = obj.get("spec") or {}
    raw = csrs.decode_pem(spec.get("request"))
    if raw is None:
        raise ValueError("spec.request is not base64")
    seconds = spec.get("expirationSeconds")
    days = max(1, int(seconds) // 86400) if isinstance(seconds, int) and seconds > 0 else DEFAULT_DAYS
    cert = pki.sign_csr(ca.cert_pem, ca.key_pem, raw, list(spec.get("usages") or []), days)
    return base64.b64encode(cert).decode()


class CSRSigningController(KeyedController):
    """Signs approved client certificate requests with the cluster CA."""

    name = "csrsigning"
    resource = CSRS
    watches = (Watch(CSRS.qualified, own_key),)

    def __init__(self, ca: SigningCA | None = None) -> None:
        self._ca = ca

    def ca(self) -> SigningCA:
        if self._ca is None:
            self._ca = SigningCA.from_settings(Settings.from_env())
        return self._ca

    def sync(self, key: str, ctx: Context) -> float | None:
        obj = self.get(ctx, key)
        if obj is None or (obj.get("status") or {}).get("certificate"):
            return None
        if (obj.get("spec") or {}).get("signerName") not in SIGNERS or not csrs.is_approved(obj):
            return None
        if csrs.condition(obj, "Failed") is not None:
            return None
        status = obj.setdefault("status", {})
        try:
            status["certificate"] = issue(obj, self.ca())
        except ValueError as exc:
            now = meta.now()
            status.setdefault("conditions", []).append(
                {
                    "type": "Failed",
                    "status": "True",
                    "reason": "SignerValidationFailure",
                    "message": str(exc),
                    "lastUpdateTime": now,
                    "lastTransitionTime": now,
                }
            )
        try:
            ctx.client.update(obj, subresource="status")
        except errors.NotFound:
            return None
        return None
