"""Client certificates: the TLS layer verified the chain; this reads who the certificate names.

The subject's Common Name is the user name and each Organization a group (as kube-apiserver does).
"""

from __future__ import annotations

from typing import Any

from cryptography import x509
from cryptography.x509.oid import NameOID

from cluster.apiserver.auth import UserInfo


def peer_certificate(environ: dict[str, Any]) -> bytes | None:
    """The DER client certificate of the request's TLS connection, None without one."""
    sock = environ.get("gunicorn.socket")
    getpeercert = getattr(sock, "getpeercert", None)
    if getpeercert is None:
        return None
    try:
        der = getpeercert(binary_form=True)
    except (ValueError, OSError):  # not a TLS socket, or the handshake is gone
        return None
    return der or None


def user_from_certificate(der: bytes) -> UserInfo | None:
    """The user a DER certificate names; None when it has no Common Name."""
    cert = x509.load_der_x509_certificate(der)
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not names or not str(names[0].value):
        return None
    groups = tuple(
        dict.fromkeys(str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME))
    )
    return UserInfo(str(names[0].value), groups=groups)
