"""Tokens as API answers: TokenRequest, TokenReview and SelfSubjectReview.

``POST .../serviceaccounts/{name}/token`` issues a ServiceAccount JWT (``kubectl create token``);
``POST /apis/authentication.k8s.io/v1/tokenreviews`` says whom a token names;
``POST /apis/authentication.k8s.io/v1/selfsubjectreviews`` says whom the caller is
(``kubectl auth whoami``). None of them stores anything.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from cluster import errors
from cluster.api.resources import lookup
from cluster.apiserver.authn import jws, with_authenticated
from cluster.apiserver.authn.serviceaccount import ServiceAccountKeys, claims_for
from cluster.apiserver.handlers import Request
from cluster.apiserver.security import security_of, service_account_keys
from cluster.apiserver.virtual import answers
from cluster.registry import meta
from cluster.settings import Settings

Obj = dict[str, Any]
DEFAULT_EXPIRATION = 3600
MIN_EXPIRATION = 600
MAX_EXPIRATION = 2**32
_GROUP_VERSION = "authentication.k8s.io/v1"
_BINDABLE = {"Pod": "pods", "Secret": "secrets"}


def issue_service_account_token(
    settings_or_keys: Settings | ServiceAccountKeys,
    namespace: str,
    name: str,
    uid: str,
    audiences: list[str] | tuple[str, ...] = (),
    expiration_seconds: int = DEFAULT_EXPIRATION,
    bound_pod: Obj | None = None,
) -> tuple[str, datetime]:
    """A signed token for ServiceAccount ``namespace/name`` (``uid``) and when it expires.

    ``audiences`` defaults to the API server's; ``bound_pod`` (a Pod, or ``{name, uid}``) binds the
    token to that pod. ``ValueError`` when no signing key is configured.
    """
    keys = settings_or_keys
    if isinstance(keys, Settings):
        keys = service_account_keys(keys)
    bound = {"pod": _name_uid(bound_pod)} if bound_pod is not None else None
    return _issue(keys, namespace, name, uid, list(audiences), expiration_seconds, bound)


def _name_uid(obj: Obj) -> dict[str, str]:
    source = obj.get("metadata", obj)
    return {"name": str(source.get("name", "")), "uid": str(source.get("uid", ""))}


def _issue(
    keys: ServiceAccountKeys,
    namespace: str,
    name: str,
    uid: str,
    audiences: list[str],
    expiration_seconds: int,
    bound: dict[str, dict[str, str]] | None,
) -> tuple[str, datetime]:
    if keys.private_key is None:
        raise ValueError("no ServiceAccount signing key is configured")
    claims = claims_for(
        keys.issuer, namespace, name, uid, audiences or keys.audiences, expiration_seconds, bound
    )
    return jws.sign(keys.private_key, claims), datetime.fromtimestamp(claims["exp"], UTC)


def _invalid(name: str, field: str, message: str, reason: str = "FieldValueInvalid") -> errors.Invalid:
    return errors.invalid(
        "TokenRequest", "authentication.k8s.io", name, [errors.Cause(reason, message, field)]
    )


@answers("serviceaccounts", "token")
def token_request(req: Request, body: Obj) -> Obj:
    """Issue a token for the ServiceAccount in the path (404 if it does not exist)."""
    namespace, name = req.info.namespace or "", req.info.name
    spec = body.get("spec") or {}
    if not isinstance(spec, dict):
        raise errors.BadRequest("spec must be an object")
    seconds = spec.get("expirationSeconds") or DEFAULT_EXPIRATION
    if not isinstance(seconds, int) or seconds < MIN_EXPIRATION:
        raise _invalid(
            name,
            "spec.expirationSeconds",
            f"Invalid value: {seconds}: may not specify a duration less than 10 minutes",
        )
    if seconds > MAX_EXPIRATION:
        raise _invalid(
            name,
            "spec.expirationSeconds",
            f"Invalid value: {seconds}: may not specify a duration larger than 2^32 seconds",
        )
    audiences = [str(a) for a in spec.get("audiences") or []]
    accounts = lookup("", "v1", "serviceaccounts")
    assert accounts is not None
    account = req.registry.get(accounts, namespace, name)
    bound, ref = _bound_object(req, namespace, name, spec.get("boundObjectRef"))
    keys = security_of(req.registry).keys
    try:
        token, expires = _issue(
            keys, namespace, name, account["metadata"].get("uid", ""), audiences, seconds, bound
        )
    except ValueError as exc:
        raise errors.ServiceUnavailable(str(exc)) from None
    out_spec: Obj = {"audiences": audiences or list(keys.audiences), "expirationSeconds": seconds}
    if ref is not None:
        out_spec["boundObjectRef"] = ref
    return {
        "kind": "TokenRequest",
        "apiVersion": _GROUP_VERSION,
        "metadata": {"name": name, "namespace": namespace, "creationTimestamp": meta.now()},
        "spec": out_spec,
        "status": {"token": token, "expirationTimestamp": expires.strftime("%Y-%m-%dT%H:%M:%SZ")},
    }


def _bound_object(
    req: Request, namespace: str, name: str, ref: Any
) -> tuple[dict[str, dict[str, str]] | None, Obj | None]:
    """The ``kubernetes.io`` binding for ``boundObjectRef`` (checked against the stored object)."""
    if not ref:
        return None, None
    if not isinstance(ref, dict):
        raise errors.BadRequest("spec.boundObjectRef must be an object")
    kind = ref.get("kind", "")
    if kind not in _BINDABLE:
        raise _invalid(
            name,
            "spec.boundObjectRef.kind",
            f'Unsupported value: "{kind}": supported values: "Pod", "Secret"',
            "FieldValueNotSupported",
        )
    resource = lookup("", "v1", _BINDABLE[kind])
    assert resource is not None
    obj = req.registry.get(resource, namespace, str(ref.get("name", "")))
    uid = obj["metadata"].get("uid", "")
    if ref.get("uid") and ref["uid"] != uid:
        raise errors.Conflict(
            f"the UID in the bound object reference ({ref['uid']}) does not match the UID in record. "
            "The object might have been deleted and then recreated"
        )
    out = {"kind": kind, "apiVersion": "v1", "name": obj["metadata"]["name"], "uid": uid}
    return {kind.lower(): {"name": out["name"], "uid": uid}}, out


@answers("tokenreviews.authentication.k8s.io")
def token_review(req: Request, body: Obj) -> Obj:
    """Whom ``spec.token`` names for ``spec.audiences`` (``status.authenticated`` false if nobody)."""
    spec = body.get("spec") or {}
    if not isinstance(spec, dict) or not isinstance(spec.get("token", ""), str) or not spec.get("token"):
        raise errors.invalid(
            "TokenReview",
            "authentication.k8s.io",
            "",
            [errors.Cause("FieldValueRequired", "Required value", "spec.token")],
        )
    security = security_of(req.registry)
    asked = [str(a) for a in spec.get("audiences") or []]
    status: Obj
    try:
        result = security.authenticate_token(spec["token"], asked)
    except errors.Unauthorized:
        status = {"authenticated": False, "user": {}, "error": "invalid bearer token"}
    else:
        status = {
            "authenticated": True,
            "user": with_authenticated(result.user).to_wire(),
            "audiences": list(result.audiences),
        }
    return {
        "kind": "TokenReview",
        "apiVersion": _GROUP_VERSION,
        "metadata": {"creationTimestamp": meta.now()},
        "spec": spec,
        "status": status,
    }


@answers("selfsubjectreviews.authentication.k8s.io")
def self_subject_review(req: Request, body: Obj) -> Obj:
    """The caller as the server sees it (after impersonation)."""
    return {
        "kind": "SelfSubjectReview",
        "apiVersion": _GROUP_VERSION,
        "metadata": {"creationTimestamp": meta.now()},
        "status": {"userInfo": req.user.to_wire()},
    }
