"""Table cells of CertificateSigningRequests, as ``kubectl get csr`` shows them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from .duration import human_duration
from .format import NONE

Obj = dict[str, Any]


def condition(obj: Obj) -> str:
    """``Pending``, or the condition types in order (``Approved``, ``Denied``, ``Failed``), plus
    ``Issued`` once a certificate is there: ``Approved,Issued``."""
    status = obj.get("status") or {}
    kinds = [str(c.get("type", "")) for c in status.get("conditions") or () if c.get("type")]
    if status.get("certificate"):
        kinds.append("Issued")
    return ",".join(kinds) or "Pending"


def requested_duration(obj: Obj) -> str:
    seconds = (obj.get("spec") or {}).get("expirationSeconds")
    if not seconds:
        return NONE
    return human_duration(timedelta(seconds=int(seconds)))
