"""Bootstrap tokens (``<id6>.<secret16>``) backed by Secrets ``kube-system/bootstrap-token-<id>``.

A token authenticates as ``system:bootstrap:<id>`` in group ``system:bootstrappers`` (plus the
Secret's ``auth-extra-groups``) when its Secret has type ``bootstrap.kubernetes.io/token``, the same
``token-secret``, ``usage-bootstrap-authentication: "true"`` and an ``expiration`` not yet past.
"""

from __future__ import annotations

import base64
import hmac
import re
from collections.abc import Sequence
from datetime import UTC, datetime

from cluster import errors
from cluster.api.resources import lookup
from cluster.apiserver.auth import UserInfo
from cluster.apiserver.authn import InvalidCredential, TokenResult
from cluster.registry import Registry

TOKEN = re.compile(r"^([a-z0-9]{6})\.([a-z0-9]{16})$")
SECRET_TYPE = "bootstrap.kubernetes.io/token"
GROUP = "system:bootstrappers"
_EXTRA_GROUP = re.compile(r"^system:bootstrappers:[a-z0-9:-]{0,255}[a-z0-9]$")
_SECRETS = lookup("", "v1", "secrets")


class BootstrapTokens:
    """Checks bootstrap tokens against their Secrets (read through the registry on each call)."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    def authenticate_token(self, token: str, audiences: Sequence[str]) -> TokenResult | None:
        found = TOKEN.match(token)
        if found is None:
            return None
        token_id, token_secret = found.groups()
        assert _SECRETS is not None
        try:
            secret = self.registry.get(_SECRETS, "kube-system", f"bootstrap-token-{token_id}")
        except errors.NotFound:
            raise InvalidCredential(f"no bootstrap token with id {token_id}") from None
        if secret.get("type") != SECRET_TYPE:
            raise InvalidCredential(f"bootstrap token {token_id}: wrong Secret type")
        data = _decoded(secret)
        if not hmac.compare_digest(data.get("token-secret", ""), token_secret):
            raise InvalidCredential(f"bootstrap token {token_id}: secret does not match")
        if data.get("token-id", token_id) != token_id:
            raise InvalidCredential(f"bootstrap token {token_id}: id does not match")
        if data.get("usage-bootstrap-authentication") != "true":
            raise InvalidCredential(f"bootstrap token {token_id}: not for authentication")
        if expired(data.get("expiration", "")):
            raise InvalidCredential(f"bootstrap token {token_id}: expired")
        if secret.get("metadata", {}).get("deletionTimestamp"):
            raise InvalidCredential(f"bootstrap token {token_id}: being deleted")
        extra = [g.strip() for g in data.get("auth-extra-groups", "").split(",") if g.strip()]
        if any(not _EXTRA_GROUP.match(g) for g in extra):
            raise InvalidCredential(f"bootstrap token {token_id}: bad auth-extra-groups")
        groups = tuple(dict.fromkeys([GROUP, *extra]))
        return TokenResult(UserInfo(f"system:bootstrap:{token_id}", groups=groups), tuple(audiences))


def expired(expiration: str, now: datetime | None = None) -> bool:
    """True when the RFC 3339 ``expiration`` is past (or unreadable); an empty one never expires."""
    if not expiration:
        return False
    try:
        when = datetime.fromisoformat(expiration.replace("Z", "+00:00"))
    except ValueError:
        return True
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when <= (now or datetime.now(UTC))


def _decoded(secret: dict[str, object]) -> dict[str, str]:
    """``data`` base64-decoded, with ``stringData`` (if any survived storage) on top."""
    out: dict[str, str] = {}
    data = secret.get("data") or {}
    if isinstance(data, dict):
        for key, value in data.items():
            try:
                out[key] = base64.b64decode(str(value)).decode()
            except (ValueError, UnicodeDecodeError):
                continue
    string_data = secret.get("stringData") or {}
    if isinstance(string_data, dict):
        out.update({k: str(v) for k, v in string_data.items()})
    return out
