"""Authorization: the Node authorizer, then RBAC; the first ``allow`` or ``deny`` wins.

``authorizer_for(registry)`` returns the chain for a registry (one per registry per process, so
RBAC's index is shared); ``forbidden(attrs, decision)`` is the 403 Kubernetes sends for a refusal;
``check_escalation(registry, user, resource, obj)`` guards writes of the RBAC kinds.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any

from cluster import errors
from cluster.api.resources import Resource
from cluster.apiserver.auth import Attributes, Decision, UserInfo
from cluster.apiserver.authz.node import NodeAuthorizer
from cluster.apiserver.authz.rbac import RBACAuthorizer
from cluster.registry import Registry

__all__ = ["Chain", "authorizer_for", "check_escalation", "forbidden", "forbidden_message"]


class Chain:
    """Asks each authorizer in turn; the first that allows or denies decides, else no-opinion."""

    def __init__(self, node: NodeAuthorizer, rbac: RBACAuthorizer) -> None:
        self.node, self.rbac = node, rbac

    def authorize(self, attrs: Attributes) -> Decision:
        reasons = []
        for authorizer in (self.node, self.rbac):
            decision = authorizer.authorize(attrs)
            if decision.verdict != "no-opinion":
                return decision
            if decision.reason:
                reasons.append(decision.reason)
        return Decision("no-opinion", "; ".join(reasons))


_CHAINS: weakref.WeakKeyDictionary[Registry, Chain] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def authorizer_for(registry: Registry) -> Chain:
    """The Node-then-RBAC chain over ``registry``, made once per registry."""
    with _LOCK:
        chain = _CHAINS.get(registry)
        if chain is None:
            chain = _CHAINS[registry] = Chain(NodeAuthorizer(registry), RBACAuthorizer(registry))
        return chain


def check_escalation(
    registry: Registry, user: UserInfo, resource: Resource, obj: dict[str, Any], namespace: str | None = None
) -> None:
    """``Forbidden`` when a create/update of a Role, ClusterRole or binding by ``user`` would grant
    permissions ``user`` does not hold (without ``escalate``/``bind``); no-op for other kinds and for
    ``system:masters`` (so also for the insecure user). ``namespace``: the request's namespace."""
    chain = authorizer_for(registry)
    chain.rbac.check_escalation(user, resource, obj, namespace)


def forbidden_message(attrs: Attributes) -> str:
    """``User "u" cannot list resource "pods" in API group "" in the namespace "ns"`` and kin."""
    user = attrs.user.name
    if not attrs.resource_request:
        return f'User "{user}" cannot {attrs.verb} path "{attrs.path}"'
    resource = f"{attrs.resource}/{attrs.subresource}" if attrs.subresource else attrs.resource
    where = f'in the namespace "{attrs.namespace}"' if attrs.namespace else "at the cluster scope"
    return f'User "{user}" cannot {attrs.verb} resource "{resource}" in API group "{attrs.api_group}" {where}'


def forbidden(attrs: Attributes, decision: Decision) -> errors.Forbidden:
    """The 403 for a refused request, worded and detailed as kube-apiserver does."""
    text = forbidden_message(attrs)
    if decision.reason:
        text = f"{text}: {decision.reason}"
    if not attrs.resource_request or not attrs.resource:
        return errors.Forbidden(f"forbidden: {text}")
    qualified = f"{attrs.resource}.{attrs.api_group}" if attrs.api_group else attrs.resource
    message = (
        f'{qualified} "{attrs.name}" is forbidden: {text}'
        if attrs.name
        else f"{qualified} is forbidden: {text}"
    )
    return errors.Forbidden(message, name=attrs.name, group=attrs.api_group, kind=attrs.resource)
