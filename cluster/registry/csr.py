"""CertificateSigningRequest strategy: who asked, what may change through ``approval`` and ``status``.

- Create (``prepare_create``): ``spec.username/uid/groups/extra`` come from the requesting user,
  never from the body; ``spec.request`` must be a PEM certificate request with a valid signature,
  ``spec.signerName`` is required, every usage must be a known key usage.
- ``approval`` (``next_version``): only ``status.conditions`` changes; Approved and Denied are
  exclusive, and neither can be removed once set.
- ``status``: may set ``status.certificate`` only on an Approved (not Denied) request, once; the
  Approved/Denied conditions stay as they were.
- The main resource: ``spec`` is immutable (status is kept by the generic registry).

Every refusal is ``Invalid`` (422) with field causes, as Kubernetes answers.
"""

from __future__ import annotations

import base64
import binascii
import copy
from typing import Any

from cryptography import x509

from cluster import errors
from cluster.registry import meta

Obj = dict[str, Any]
QUALIFIED = "certificatesigningrequests.certificates.k8s.io"
KIND, GROUP = "CertificateSigningRequest", "certificates.k8s.io"
APPROVED, DENIED = "Approved", "Denied"
CONDITION_TYPES = (APPROVED, DENIED, "Failed")
KUBELET_CLIENT_SIGNER = "kubernetes.io/kube-apiserver-client-kubelet"
CLIENT_SIGNER = "kubernetes.io/kube-apiserver-client"
KNOWN_USAGES = frozenset(
    {
        "signing",
        "digital signature",
        "content commitment",
        "key encipherment",
        "key agreement",
        "data encipherment",
        "cert sign",
        "crl sign",
        "encipher only",
        "decipher only",
        "any",
        "server auth",
        "client auth",
        "code signing",
        "email protection",
        "s/mime",
        "ipsec end system",
        "ipsec tunnel",
        "ipsec user",
        "timestamping",
        "ocsp signing",
        "microsoft sgc",
        "netscape sgc",
    }
)
MIN_EXPIRATION_SECONDS = 600


def _invalid(obj: Obj, causes: list[errors.Cause]) -> errors.StatusError:
    return errors.invalid(KIND, GROUP, (obj.get("metadata") or {}).get("name", ""), causes)


def decode_pem(value: Any) -> bytes | None:
    """The bytes of a base64 ``[]byte`` field (what JSON carries), or None if it is not base64."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None


def parse_request(obj: Obj) -> x509.CertificateSigningRequest:
    """The x509 request in ``spec.request``; ``Invalid`` if it is missing or not a signed PEM CSR."""
    raw = decode_pem((obj.get("spec") or {}).get("request"))
    if raw is None:
        raise _invalid(obj, [errors.Cause("FieldValueRequired", "Required value", "spec.request")])
    try:
        csr = x509.load_pem_x509_csr(raw)
    except ValueError:
        raise _invalid(
            obj,
            [
                errors.Cause(
                    "FieldValueInvalid",
                    "Invalid value: []byte{...}: PEM block type must be CERTIFICATE REQUEST",
                    "spec.request",
                )
            ],
        ) from None
    if not csr.is_signature_valid:
        raise _invalid(
            obj,
            [errors.Cause("FieldValueInvalid", "Invalid value: the signature is not valid", "spec.request")],
        )
    return csr


def validate_spec(obj: Obj) -> None:
    """``Invalid`` unless the spec holds a signed PEM request, a signer name and known usages."""
    spec = obj.get("spec") or {}
    parse_request(obj)
    causes: list[errors.Cause] = []
    signer = spec.get("signerName")
    if not signer:
        causes.append(errors.Cause("FieldValueRequired", "Required value", "spec.signerName"))
    elif not isinstance(signer, str) or "/" not in signer or signer.startswith("/") or signer.endswith("/"):
        causes.append(
            errors.Cause(
                "FieldValueInvalid",
                f'Invalid value: "{signer}": must be a fully qualified domain and path of the form '
                "'example.com/signer-name'",
                "spec.signerName",
            )
        )
    usages = spec.get("usages")
    if not usages:
        causes.append(errors.Cause("FieldValueRequired", "Required value", "spec.usages"))
    for i, usage in enumerate(usages or []):
        if usage not in KNOWN_USAGES:
            causes.append(
                errors.Cause("FieldValueNotSupported", f'Unsupported value: "{usage}"', f"spec.usages[{i}]")
            )
    seconds = spec.get("expirationSeconds")
    if seconds is not None and (not isinstance(seconds, int) or seconds < MIN_EXPIRATION_SECONDS):
        causes.append(
            errors.Cause(
                "FieldValueInvalid",
                f"Invalid value: {seconds}: may not specify a duration less than 600 seconds (10 minutes)",
                "spec.expirationSeconds",
            )
        )
    if causes:
        raise _invalid(obj, causes)


def prepare_create(obj: Obj, user: Any) -> None:
    """Fill (in place) the requester fields of a new CSR from ``user`` (a ``UserInfo``) and validate it."""
    if not isinstance(obj, dict):
        return  # the registry answers a non-object body
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        spec = obj["spec"] = {}
    for key in ("username", "uid", "groups", "extra"):
        spec.pop(key, None)
    spec["username"] = user.name
    if user.uid:
        spec["uid"] = user.uid
    if user.groups:
        spec["groups"] = list(user.groups)
    if user.extra:
        spec["extra"] = {k: list(v) for k, v in user.extra.items()}
    obj.pop("status", None)
    validate_spec(obj)


def condition(obj: Obj, type_: str) -> Obj | None:
    """The ``status.conditions`` entry of ``type_`` with status True (absent status counts as True)."""
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if isinstance(cond, dict) and cond.get("type") == type_ and cond.get("status", "True") == "True":
            return cond
    return None


def is_approved(obj: Obj) -> bool:
    """Approved and not Denied."""
    return condition(obj, APPROVED) is not None and condition(obj, DENIED) is None


def next_version(subresource: str, old: Obj, obj: Obj) -> Obj | None:
    """The object an update of ``subresource`` leaves, or None to let the generic registry decide.

    ``Invalid`` when the write breaks the rules in the module docstring.
    """
    if subresource == "approval":
        return _approval(old, obj)
    if subresource == "status":
        return _status(old, obj)
    if subresource == "" and (obj.get("spec") or {}) != (old.get("spec") or {}):
        raise _invalid(obj, [errors.Cause("FieldValueInvalid", "field is immutable", "spec")])
    return None


def _base(old: Obj, obj: Obj) -> Obj:
    new = copy.deepcopy(old)
    rv = (obj.get("metadata") or {}).get("resourceVersion")
    if rv:
        new["metadata"]["resourceVersion"] = rv
    return new


def _conditions(obj: Obj) -> list[Obj]:
    conds = (obj.get("status") or {}).get("conditions") or []
    if not isinstance(conds, list) or not all(isinstance(c, dict) for c in conds):
        raise _invalid(
            obj, [errors.Cause("FieldValueInvalid", "must be a list of objects", "status.conditions")]
        )
    return conds


def _approval(old: Obj, obj: Obj) -> Obj:
    conds = copy.deepcopy(_conditions(obj))
    causes: list[errors.Cause] = []
    seen: set[str] = set()
    now = meta.now()
    for i, cond in enumerate(conds):
        type_ = cond.get("type")
        if not type_:
            causes.append(
                errors.Cause("FieldValueRequired", "Required value", f"status.conditions[{i}].type")
            )
            continue
        if type_ in seen and type_ in (APPROVED, DENIED):
            causes.append(
                errors.Cause(
                    "FieldValueDuplicate", f'Duplicate value: "{type_}"', f"status.conditions[{i}].type"
                )
            )
        seen.add(type_)
        if type_ in (APPROVED, DENIED) and cond.get("status", "True") != "True":
            causes.append(
                errors.Cause(
                    "FieldValueNotSupported",
                    f'Unsupported value: "{cond.get("status")}": supported values: "True"',
                    f"status.conditions[{i}].status",
                )
            )
        cond.setdefault("status", "True")
        cond.setdefault("lastUpdateTime", now)
        cond.setdefault("lastTransitionTime", cond["lastUpdateTime"])
    if APPROVED in seen and DENIED in seen:
        causes.append(
            errors.Cause(
                "FieldValueInvalid",
                "Invalid value: Approved and Denied conditions are mutually exclusive",
                "status.conditions",
            )
        )
    for type_ in (APPROVED, DENIED):
        if condition(old, type_) is not None and type_ not in seen:
            causes.append(
                errors.Cause(
                    "FieldValueForbidden",
                    f'Forbidden: updates may not remove a condition of type "{type_}"',
                    "status.conditions",
                )
            )
    if causes:
        raise _invalid(obj, causes)
    new = _base(old, obj)
    new.setdefault("status", {})["conditions"] = conds
    return new


def _status(old: Obj, obj: Obj) -> Obj:
    new = _base(old, obj)
    status = new.setdefault("status", {})
    # Approved/Denied belong to the approval subresource; other conditions (Failed) may change here.
    others = [c for c in _conditions(obj) if c.get("type") not in (APPROVED, DENIED)]
    kept = [c for c in (status.get("conditions") or []) if c.get("type") in (APPROVED, DENIED)]
    if kept or others:
        status["conditions"] = kept + others
    cert = (obj.get("status") or {}).get("certificate")
    if cert == status.get("certificate"):
        return new
    if status.get("certificate"):
        raise _invalid(
            obj,
            [
                errors.Cause(
                    "FieldValueForbidden",
                    "Forbidden: updates may not modify existing certificate",
                    "status.certificate",
                )
            ],
        )
    if not is_approved(old):
        raise _invalid(
            obj,
            [
                errors.Cause(
                    "FieldValueForbidden",
                    "Forbidden: certificate may only be set once the request is approved",
                    "status.certificate",
                )
            ],
        )
    raw = decode_pem(cert)
    try:
        if raw is None:
            raise ValueError("not base64")
        x509.load_pem_x509_certificates(raw)
    except ValueError:
        raise _invalid(
            obj,
            [
                errors.Cause(
                    "FieldValueInvalid",
                    "Invalid value: must contain PEM-encoded certificates",
                    "status.certificate",
                )
            ],
        ) from None
    status["certificate"] = cert
    return new
