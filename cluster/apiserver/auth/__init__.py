"""Who is asking and what they ask to do: the values authentication and authorization pass around.

Authentication turns a request into a :class:`UserInfo`; the request's path and verb become
:class:`Attributes`; each authorizer answers with a :class:`Decision`. These are the facts
Kubernetes' ``user.Info`` and ``authorizer.Attributes`` carry, as plain frozen values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol

AUTHENTICATED = "system:authenticated"
UNAUTHENTICATED = "system:unauthenticated"
MASTERS = "system:masters"


@dataclass(frozen=True)
class UserInfo:
    """An authenticated (or anonymous) caller."""

    name: str
    uid: str = ""
    groups: tuple[str, ...] = ()
    extra: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def to_wire(self) -> dict[str, object]:
        """The ``UserInfo`` shape of TokenReview, SelfSubjectReview and audit events."""
        out: dict[str, object] = {"username": self.name, "groups": list(self.groups)}
        if self.uid:
            out["uid"] = self.uid
        if self.extra:
            out["extra"] = {k: list(v) for k, v in self.extra.items()}
        return out


ANONYMOUS = UserInfo("system:anonymous", groups=(UNAUTHENTICATED,))
INSECURE = UserInfo("system:unsecured", groups=(MASTERS, AUTHENTICATED))  # --insecure: everything allowed


@dataclass(frozen=True)
class Attributes:
    """One request as an authorizer sees it.

    A resource request has ``resource`` set (``pods``; ``api_group`` ``""`` for core) and the
    Kubernetes verb (get, list, watch, create, update, patch, delete, deletecollection, or a special
    verb such as impersonate, bind, escalate, approve). A non-resource request has ``path`` set and
    the HTTP verb in lower case (get, post, ...).
    """

    user: UserInfo
    verb: str
    resource_request: bool = True
    api_group: str = ""
    api_version: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""
    path: str = ""


Verdict = Literal["allow", "deny", "no-opinion"]


@dataclass(frozen=True)
class Decision:
    """An authorizer's answer; ``reason`` explains it (shown in 403 messages and reviews)."""

    verdict: Verdict
    reason: str = ""

    @property
    def allowed(self) -> bool:
        return self.verdict == "allow"


class Authorizer(Protocol):
    """Anything that can judge an :class:`Attributes` (the node authorizer, RBAC, a chain of both)."""

    def authorize(self, attrs: Attributes) -> Decision: ...
