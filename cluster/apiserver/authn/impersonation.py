"""Impersonation headers (``kubectl --as``, ``--as-group``, ``--as-uid``).

:func:`requested` reads ``Impersonate-User``, ``Impersonate-Group`` (repeatable), ``Impersonate-Uid``
and ``Impersonate-Extra-<key>``; :func:`checks` lists the ``impersonate`` permissions the real user
needs for them; :func:`impersonated_user` is the identity the request then runs as.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from cluster import errors
from cluster.apiserver.auth import AUTHENTICATED, UNAUTHENTICATED, Attributes, UserInfo
from cluster.apiserver.authn import serviceaccount

_EXTRA = "HTTP_IMPERSONATE_EXTRA_"
_AUTH_GROUP = "authentication.k8s.io"


@dataclass(frozen=True)
class Impersonation:
    user: str
    groups: tuple[str, ...] = ()
    uid: str = ""
    extra: dict[str, tuple[str, ...]] = field(default_factory=dict)


def _values(raw: str) -> list[str]:
    """One header's values (a server joins a repeated header with commas)."""
    return [v.strip() for v in raw.split(",") if v.strip()]


def requested(environ: dict[str, Any]) -> Impersonation | None:
    """The impersonation a request asks for, None without such headers.

    ``BadRequest`` for groups, uid or extras without a user.
    """
    user = environ.get("HTTP_IMPERSONATE_USER", "").strip()
    groups = tuple(_values(environ.get("HTTP_IMPERSONATE_GROUP", "")))
    uid = environ.get("HTTP_IMPERSONATE_UID", "").strip()
    extra = {
        unquote(key[len(_EXTRA) :].lower().replace("_", "-")): tuple(_values(value))
        for key, value in environ.items()
        if key.startswith(_EXTRA)
    }
    if not user:
        if groups or uid or extra:
            raise errors.BadRequest("requested impersonation of groups, uid or extras without a user")
        return None
    return Impersonation(user, groups, uid, extra)


def checks(real: UserInfo, wanted: Impersonation) -> list[Attributes]:
    """The ``impersonate`` requests the real user must be allowed, user first."""
    sa = serviceaccount.split_user_name(wanted.user)
    if sa is not None:
        out = [Attributes(real, "impersonate", resource="serviceaccounts", namespace=sa[0], name=sa[1])]
    else:
        out = [Attributes(real, "impersonate", resource="users", name=wanted.user)]
    out += [Attributes(real, "impersonate", resource="groups", name=g) for g in wanted.groups]
    if wanted.uid:
        out.append(Attributes(real, "impersonate", api_group=_AUTH_GROUP, resource="uids", name=wanted.uid))
    for key, values in wanted.extra.items():
        out += [
            Attributes(
                real, "impersonate", api_group=_AUTH_GROUP, resource="userextras", subresource=key, name=v
            )
            for v in values
        ]
    return out


def impersonated_user(wanted: Impersonation) -> UserInfo:
    """The identity the request runs as: the asked groups plus the implied ones."""
    groups = list(wanted.groups)
    sa = serviceaccount.split_user_name(wanted.user)
    if sa is not None and not groups:
        groups += serviceaccount.groups_for(sa[0])
    if wanted.user == "system:anonymous":
        implied = UNAUTHENTICATED
    else:
        implied = AUTHENTICATED
    if implied not in groups:
        groups.append(implied)
    return UserInfo(wanted.user, wanted.uid, tuple(groups), dict(wanted.extra))
