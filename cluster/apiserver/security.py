"""Who is asking and may they: authentication, impersonation and authorization for the API server.

:class:`Security` is what :class:`~cluster.apiserver.app.APIServer` consults on every request.
``authenticate(environ)`` returns the caller (x509 client certificate first, then a bearer token,
else :data:`ANONYMOUS`) and raises ``Unauthorized`` (401) for a presented credential that does not
authenticate. ``impersonate`` applies ``Impersonate-*`` headers (403 unless the authorizer allows),
``authorize`` raises ``Forbidden`` (403). An insecure Security lets everything through as
:data:`INSECURE`. :func:`security_from_settings` builds the one a server runs with.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
import weakref
from collections.abc import Sequence
from typing import Any

from cluster import errors
from cluster.apiserver.audit import AuditLog
from cluster.apiserver.auth import ANONYMOUS, INSECURE, Attributes, Authorizer, Decision, UserInfo
from cluster.apiserver.authn import (
    InvalidCredential,
    TokenAuthenticator,
    TokenResult,
    impersonation,
    with_authenticated,
    x509,
)
from cluster.apiserver.authn.bootstrap import BootstrapTokens
from cluster.apiserver.authn.serviceaccount import ServiceAccountKeys, ServiceAccountTokens
from cluster.apiserver.authn.tokenfile import StaticTokens
from cluster.registry import Registry
from cluster.settings import Settings

log = logging.getLogger("kubeq.apiserver.security")
_WS_BEARER = "base64url.bearer.authorization.k8s.io."
_CACHE_SECONDS = 10.0
_CACHE_SIZE = 4096
_BY_REGISTRY: weakref.WeakKeyDictionary[Registry, Security] = weakref.WeakKeyDictionary()


def unauthorized() -> errors.Unauthorized:
    return errors.Unauthorized("Unauthorized")


class Security:
    """The authentication chain, the authorizer and the audit log of one API server."""

    def __init__(
        self,
        *,
        insecure: bool = False,
        tokens: Sequence[TokenAuthenticator] = (),
        authorizer: Authorizer | None = None,
        keys: ServiceAccountKeys | None = None,
        audit: AuditLog | None = None,
        client_certificates: bool = True,
        cache_seconds: float = _CACHE_SECONDS,
    ) -> None:
        if not insecure and authorizer is None:
            raise ValueError("a secure Security needs an authorizer")
        self.insecure = insecure
        self.tokens = tuple(tokens)
        self.authorizer = authorizer
        self.keys = keys or ServiceAccountKeys(Settings.service_account_issuer)
        self.audit = audit
        self.client_certificates = client_certificates
        self.cache_seconds = cache_seconds
        self._cache: dict[bytes, tuple[TokenResult, float]] = {}
        self._lock = threading.Lock()

    # ---- authentication ----------------------------------------------------------------
    def authenticate(self, environ: dict[str, Any]) -> UserInfo:
        """The caller of a request; ``Unauthorized`` for a credential that does not authenticate."""
        if self.insecure:
            return INSECURE
        if self.client_certificates:
            der = x509.peer_certificate(environ)
            if der is not None:
                user = x509.user_from_certificate(der)
                if user is not None:
                    return with_authenticated(user)
        token = bearer_token(environ)
        if token is None:
            return ANONYMOUS
        return with_authenticated(self.authenticate_token(token).user)

    def authenticate_token(self, token: str, audiences: Sequence[str] = ()) -> TokenResult:
        """Who ``token`` names for ``audiences`` (default: the API server's); ``Unauthorized`` otherwise."""
        audiences = tuple(audiences) or self.keys.audiences
        key = hashlib.sha256(token.encode() + b"\0" + "\0".join(audiences).encode()).digest()
        now = time.time()
        cached = self._cache.get(key)
        if cached is not None and cached[1] > now:
            return cached[0]
        for authenticator in self.tokens:
            try:
                result = authenticator.authenticate_token(token, audiences)
            except InvalidCredential as exc:
                log.info("token rejected: %s", exc)  # the reason only, never the token
                raise unauthorized() from None
            if result is not None:
                until = now + self.cache_seconds
                if result.expires_at is not None:
                    until = min(until, result.expires_at)
                with self._lock:
                    if len(self._cache) >= _CACHE_SIZE:
                        self._cache.clear()
                    self._cache[key] = (result, until)
                return result
        raise unauthorized()

    # ---- impersonation and authorization -----------------------------------------------
    def impersonate(self, environ: dict[str, Any], user: UserInfo) -> UserInfo | None:
        """The user the request impersonates (None without ``Impersonate-*`` headers).

        ``Forbidden`` unless ``user`` may impersonate every part of it.
        """
        wanted = impersonation.requested(environ)
        if wanted is None:
            return None
        if not self.insecure:
            for attrs in impersonation.checks(user, wanted):
                self.authorize(attrs)
        return impersonation.impersonated_user(wanted)

    def decide(self, attrs: Attributes) -> Decision:
        if self.insecure or self.authorizer is None:
            return Decision("allow", "insecure")
        return self.authorizer.authorize(attrs)

    def authorize(self, attrs: Attributes) -> None:
        """Return when ``attrs`` is allowed; raise ``Forbidden`` (403) otherwise."""
        decision = self.decide(attrs)
        if not decision.allowed:
            raise forbidden(attrs, decision)

    # ---- registration for the answers that need it (TokenReview, TokenRequest) ---------
    def attach(self, registry: Registry) -> None:
        _BY_REGISTRY[registry] = self


def security_of(registry: Registry) -> Security:
    """The Security of the server over ``registry`` (insecure when none was attached)."""
    found = _BY_REGISTRY.get(registry)
    if found is None:
        found = Security(insecure=True)
        found.attach(registry)
    return found


def bearer_token(environ: dict[str, Any]) -> str | None:
    """The bearer token of a request: ``Authorization: Bearer``, or the WebSocket subprotocol form."""
    header = environ.get("HTTP_AUTHORIZATION", "")
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    for protocol in environ.get("HTTP_SEC_WEBSOCKET_PROTOCOL", "").split(","):
        protocol = protocol.strip()
        if protocol.startswith(_WS_BEARER):
            from cluster.apiserver.authn.jws import InvalidToken, b64url_decode

            try:
                return b64url_decode(protocol[len(_WS_BEARER) :]).decode() or None
            except (InvalidToken, UnicodeDecodeError):
                return None
    return None


def forbidden(attrs: Attributes, decision: Decision) -> errors.StatusError:
    """The 403 for a denied request (the authorizer package's wording when it is there)."""
    try:
        from cluster.apiserver.authz import forbidden as authz_forbidden
    except ImportError:
        return _fallback_forbidden(attrs, decision)
    return authz_forbidden(attrs, decision)


def _fallback_forbidden(attrs: Attributes, decision: Decision) -> errors.Forbidden:
    who = attrs.user.name
    if not attrs.resource_request:
        message = f'forbidden: User "{who}" cannot {attrs.verb} path "{attrs.path}"'
    else:
        resource = attrs.resource + (f"/{attrs.subresource}" if attrs.subresource else "")
        scope = f'in the namespace "{attrs.namespace}"' if attrs.namespace else "at the cluster scope"
        subject = f'{attrs.resource} "{attrs.name}"' if attrs.name else attrs.resource
        message = (
            f'{subject} is forbidden: User "{who}" cannot {attrs.verb} resource "{resource}" '
            f'in API group "{attrs.api_group}" {scope}'
        )
    if decision.reason:
        message += f": {decision.reason}"
    return errors.Forbidden(message, name=attrs.name, group=attrs.api_group, kind=attrs.resource)


# ---- construction from settings ------------------------------------------------------------
def _first_existing(configured: str, *fallbacks: str) -> str:
    if configured:
        return configured
    return next((path for path in fallbacks if os.path.exists(path)), "")


def service_account_keys(settings: Settings) -> ServiceAccountKeys:
    """The ServiceAccount keys the settings name (``<pki>/sa.pub``, ``<pki>/sa.key`` when unset)."""
    public = _first_existing(settings.service_account_key_file, os.path.join(settings.pki, "sa.pub"))
    private = _first_existing(settings.service_account_signing_key_file, os.path.join(settings.pki, "sa.key"))
    return ServiceAccountKeys.from_files(settings.service_account_issuer, public, private)


def security_from_settings(settings: Settings, registry: Registry) -> Security:
    """The Security a server with ``settings`` runs with; insecure settings let everything through."""
    audit = AuditLog(settings.audit_log_path) if settings.audit_log_path else None
    keys = service_account_keys(settings)
    tokens: list[TokenAuthenticator] = []  # insecure servers use them only for TokenReview
    token_file = _first_existing(settings.token_auth_file, os.path.join(settings.pki, "tokens.csv"))
    if token_file:
        tokens.append(StaticTokens.from_file(token_file))
    tokens.append(BootstrapTokens(registry))
    tokens.append(ServiceAccountTokens(registry, keys))
    if settings.insecure:
        return Security(insecure=True, tokens=tokens, keys=keys, audit=audit)
    from cluster.apiserver.authz import authorizer_for

    return Security(tokens=tokens, authorizer=authorizer_for(registry), keys=keys, audit=audit)
