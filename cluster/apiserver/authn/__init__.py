"""Authenticators: each turns a credential into a :class:`UserInfo`.

A token authenticator answers ``authenticate_token(token, audiences)`` with a :class:`TokenResult`
when the token is one of its own and valid, None when the token is not its kind (the next one is
asked), and raises :class:`InvalidCredential` when the token is its kind but bad (expired, revoked,
wrong audience). The request pipeline turns a token nobody accepts into 401 Unauthorized.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from cluster.apiserver.auth import AUTHENTICATED, UserInfo


class InvalidCredential(Exception):
    """A credential of a known kind that does not authenticate (the reason is for logs, not clients)."""


@dataclass(frozen=True)
class TokenResult:
    """Who a token names and which of the asked audiences it is good for."""

    user: UserInfo
    audiences: tuple[str, ...] = ()
    expires_at: float | None = None  # unix time after which the token no longer authenticates


class TokenAuthenticator(Protocol):
    def authenticate_token(self, token: str, audiences: Sequence[str]) -> TokenResult | None: ...


def with_authenticated(user: UserInfo) -> UserInfo:
    """``user`` with group ``system:authenticated`` added (once)."""
    if AUTHENTICATED in user.groups:
        return user
    return UserInfo(user.name, user.uid, (*user.groups, AUTHENTICATED), user.extra)
