"""ServiceAccount tokens: RS256 JWTs signed by the cluster's ServiceAccount key.

:class:`ServiceAccountKeys` holds the keys and the issuer; :func:`claims_for` builds the claim set
of a new token and :class:`ServiceAccountTokens` checks one on a request: signature, ``iss``,
``aud`` against the asked audiences, ``exp``/``nbf``, that the ServiceAccount still exists with the
same uid, and for a token bound to a Pod or Secret that the object still exists with its uid.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa

from cluster import errors
from cluster.api.resources import lookup
from cluster.apiserver.auth import UserInfo
from cluster.apiserver.authn import InvalidCredential, TokenResult, jws
from cluster.registry import Registry

SA_GROUP = "system:serviceaccounts"
PREFIX = "system:serviceaccount:"
_LEEWAY = 60  # seconds of clock skew tolerated on nbf/iat


@dataclass(frozen=True)
class ServiceAccountKeys:
    """The signing key (None: this server cannot issue), the verifying keys and the issuer."""

    issuer: str
    public_keys: tuple[rsa.RSAPublicKey, ...] = ()
    private_key: rsa.RSAPrivateKey | None = None
    api_audiences: tuple[str, ...] = field(default=())

    @property
    def audiences(self) -> tuple[str, ...]:
        """What the API server itself accepts (kube-apiserver's ``--api-audiences``, default the issuer)."""
        return self.api_audiences or (self.issuer,)

    @classmethod
    def from_files(cls, issuer: str, public_file: str = "", private_file: str = "") -> ServiceAccountKeys:
        """Keys from PEM files (either may be empty; the private key's public half also verifies)."""
        private = jws.load_private_key(Path(private_file).read_bytes()) if private_file else None
        public = list(jws.load_public_keys(Path(public_file).read_bytes())) if public_file else []
        if private is not None and not any(
            k.public_numbers() == private.public_key().public_numbers() for k in public
        ):
            public.append(private.public_key())
        return cls(issuer, tuple(public), private)


def user_name(namespace: str, name: str) -> str:
    return f"{PREFIX}{namespace}:{name}"


def split_user_name(user: str) -> tuple[str, str] | None:
    """``(namespace, name)`` of ``system:serviceaccount:<ns>:<name>``, None for any other name."""
    if not user.startswith(PREFIX):
        return None
    namespace, sep, name = user[len(PREFIX) :].partition(":")
    if not sep or not namespace or not name or ":" in name:
        return None
    return namespace, name


def groups_for(namespace: str) -> tuple[str, ...]:
    return (SA_GROUP, f"{SA_GROUP}:{namespace}")


def claims_for(
    issuer: str,
    namespace: str,
    name: str,
    uid: str,
    audiences: Sequence[str],
    expiration_seconds: int,
    bound: dict[str, dict[str, str]] | None = None,
    now: float | None = None,
) -> dict[str, Any]:
    """The claim set of a new token; ``bound`` maps ``pod``/``secret`` to ``{name, uid}``."""
    issued = int(now if now is not None else time.time())
    private: dict[str, Any] = {"namespace": namespace, "serviceaccount": {"name": name, "uid": uid}}
    for kind, ref in (bound or {}).items():
        private[kind] = {"name": ref["name"], "uid": ref["uid"]}
    return {
        "aud": list(audiences),
        "exp": issued + int(expiration_seconds),
        "iat": issued,
        "iss": issuer,
        "jti": str(uuid.uuid4()),
        "kubernetes.io": private,
        "nbf": issued,
        "sub": user_name(namespace, name),
    }


class ServiceAccountTokens:
    """The request-time check of ServiceAccount JWTs."""

    def __init__(self, registry: Registry, keys: ServiceAccountKeys) -> None:
        self.registry = registry
        self.keys = keys

    def authenticate_token(self, token: str, audiences: Sequence[str]) -> TokenResult | None:
        if not jws.looks_like_jwt(token) or not self.keys.public_keys:
            return None
        try:
            claims = jws.verify(token, self.keys.public_keys)
        except jws.InvalidToken as exc:
            raise InvalidCredential(f"service account token: {exc}") from None
        if claims.get("iss") != self.keys.issuer:
            return None  # someone else's JWT
        now = time.time()
        _check_times(claims, now)
        token_aud = claims.get("aud")
        token_aud = [token_aud] if isinstance(token_aud, str) else list(token_aud or [])
        asked = list(audiences) or list(self.keys.audiences)
        matched = tuple(a for a in asked if a in token_aud)
        if not matched:
            raise InvalidCredential("service account token: audience not accepted")
        private = claims.get("kubernetes.io")
        if not isinstance(private, dict):
            raise InvalidCredential("service account token: no kubernetes.io claims")
        namespace = str(private.get("namespace", ""))
        account = private.get("serviceaccount") or {}
        name, uid = str(account.get("name", "")), str(account.get("uid", ""))
        if claims.get("sub") != user_name(namespace, name):
            raise InvalidCredential("service account token: subject does not match")
        self._still_there("serviceaccounts", namespace, name, uid)
        extra: dict[str, tuple[str, ...]] = {}
        if claims.get("jti"):
            extra["authentication.kubernetes.io/credential-id"] = (f"JTI={claims['jti']}",)
        pod = private.get("pod")
        if isinstance(pod, dict):
            self._still_there("pods", namespace, str(pod.get("name", "")), str(pod.get("uid", "")))
            extra["authentication.kubernetes.io/pod-name"] = (str(pod.get("name", "")),)
            extra["authentication.kubernetes.io/pod-uid"] = (str(pod.get("uid", "")),)
        secret = private.get("secret")
        if isinstance(secret, dict):
            self._still_there("secrets", namespace, str(secret.get("name", "")), str(secret.get("uid", "")))
        user = UserInfo(user_name(namespace, name), uid, groups_for(namespace), extra)
        return TokenResult(user, matched, float(claims["exp"]))

    def _still_there(self, plural: str, namespace: str, name: str, uid: str) -> None:
        resource = lookup("", "v1", plural)
        assert resource is not None
        try:
            obj = self.registry.get(resource, namespace, name)
        except errors.NotFound:
            raise InvalidCredential(f"service account token: {plural} {namespace}/{name} is gone") from None
        meta = obj.get("metadata", {})
        if meta.get("uid") != uid:
            raise InvalidCredential(f"service account token: {plural} {namespace}/{name} was recreated")
        if plural != "serviceaccounts" and meta.get("deletionTimestamp"):
            raise InvalidCredential(f"service account token: {plural} {namespace}/{name} is being deleted")


def _check_times(claims: dict[str, Any], now: float) -> None:
    exp, nbf = claims.get("exp"), claims.get("nbf")
    if not isinstance(exp, int | float):
        raise InvalidCredential("service account token: no expiry")
    if now >= exp:
        raise InvalidCredential("service account token: expired")
    if isinstance(nbf, int | float) and now + _LEEWAY < nbf:
        raise InvalidCredential("service account token: not valid yet")
