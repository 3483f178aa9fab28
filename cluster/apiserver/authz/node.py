"""The Node authorizer: what a node's credentials (``system:node:<name>``, group ``system:nodes``)
may do. Everyone else gets ``no-opinion``; a node gets ``allow`` or ``deny`` (never RBAC's say),
except for discovery paths and self-reviews, which it leaves to RBAC.

A node may read nodes, pods, services, endpoints and endpointslices; write only its own Node,
``nodes/status`` and Lease (in ``kube-node-lease``); update the status of, delete and evict only
pods bound to it (``spec.nodeName``); create events; read the ConfigMaps, Secrets and
ServiceAccounts (and request tokens for those) that pods bound to it refer to, plus the
``kube-root-ca.crt`` ConfigMaps and ``kube-system/kubeq-routes``; and create and read CSRs.

References are found by listing the pods bound to the node; the answer is cached per node for
``ttl`` seconds and read again at once when a request is not covered by it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

from cluster import errors
from cluster.api.resources import lookup
from cluster.apiserver.auth import Attributes, Decision, UserInfo
from cluster.registry import ListQuery, Registry

NODE_PREFIX = "system:node:"
NODES_GROUP = "system:nodes"
LEASE_NAMESPACE = "kube-node-lease"
ROUTES = ("kube-system", "kubeq-routes")
ROOT_CA = "kube-root-ca.crt"
READ = ("get", "list", "watch")
WRITE = ("create", "update", "patch", "delete")
NO_OPINION = Decision("no-opinion", "")
_SELF_REVIEWS = {
    ("authorization.k8s.io", "selfsubjectaccessreviews"),
    ("authorization.k8s.io", "selfsubjectrulesreviews"),
    ("authentication.k8s.io", "selfsubjectreviews"),
}
_READ_ANY = {("", "pods"), ("", "services"), ("", "endpoints"), ("discovery.k8s.io", "endpointslices")}

PODS = lookup("", "v1", "pods")
assert PODS is not None

Ref = tuple[str, str, str]  # (plural, namespace, name)


def node_name(attrs: Attributes) -> str | None:
    """The node a request comes from, or None when the caller is not a node."""
    user = attrs.user
    if NODES_GROUP in user.groups and user.name.startswith(NODE_PREFIX):
        return user.name[len(NODE_PREFIX) :] or None
    return None


def pod_references(pod: dict[str, Any]) -> Iterator[Ref]:
    """The ConfigMaps, Secrets and ServiceAccount a pod refers to."""
    spec = pod.get("spec") or {}
    ns = (pod.get("metadata") or {}).get("namespace", "")
    yield ("serviceaccounts", ns, spec.get("serviceAccountName") or spec.get("serviceAccount") or "default")
    for secret in spec.get("imagePullSecrets") or ():
        yield ("secrets", ns, secret.get("name", ""))
    for volume in spec.get("volumes") or ():
        if "configMap" in volume:
            yield ("configmaps", ns, (volume["configMap"] or {}).get("name", ""))
        if "secret" in volume:
            yield ("secrets", ns, (volume["secret"] or {}).get("secretName", ""))
        for source in ((volume.get("projected") or {}).get("sources")) or ():
            if "configMap" in source:
                yield ("configmaps", ns, (source["configMap"] or {}).get("name", ""))
            if "secret" in source:
                yield ("secrets", ns, (source["secret"] or {}).get("name", ""))
    for key in ("initContainers", "containers", "ephemeralContainers"):
        for container in spec.get(key) or ():
            for source in container.get("envFrom") or ():
                if "configMapRef" in source:
                    yield ("configmaps", ns, (source["configMapRef"] or {}).get("name", ""))
                if "secretRef" in source:
                    yield ("secrets", ns, (source["secretRef"] or {}).get("name", ""))
            for env in container.get("env") or ():
                value_from = env.get("valueFrom") or {}
                if "configMapKeyRef" in value_from:
                    yield ("configmaps", ns, (value_from["configMapKeyRef"] or {}).get("name", ""))
                if "secretKeyRef" in value_from:
                    yield ("secrets", ns, (value_from["secretKeyRef"] or {}).get("name", ""))


class NodeAuthorizer:
    """See the module doc."""

    def __init__(self, registry: Registry, ttl: float = 2.0) -> None:
        self.registry = registry
        self.ttl = ttl
        self._lock = threading.Lock()
        self._refs: dict[str, tuple[float, frozenset[Ref]]] = {}

    def authorize(self, attrs: Attributes) -> Decision:
        node = node_name(attrs)
        if node is None:
            return NO_OPINION
        if not attrs.resource_request:
            return NO_OPINION  # discovery, health, version: RBAC's system:discovery decides
        key = (attrs.api_group, attrs.resource)
        if key in _SELF_REVIEWS and attrs.verb == "create":
            return NO_OPINION
        if self._allowed(node, attrs, key):
            return Decision("allow", "")
        return Decision("deny", _deny_reason(node, attrs))

    # ---- the rules ---------------------------------------------------------------------
    def _allowed(self, node: str, a: Attributes, key: tuple[str, str]) -> bool:
        verb, sub = a.verb, a.subresource
        if key == ("", "nodes"):
            if sub == "status":
                return verb in ("get", "update", "patch") and a.name == node
            if sub:
                return False
            return verb in READ or (verb in WRITE and a.name in (node, "" if verb == "create" else node))
        if key == ("coordination.k8s.io", "leases"):
            own = a.name == node or (verb == "create" and not a.name)
            return a.namespace == LEASE_NAMESPACE and not sub and own and verb in (*READ, *WRITE)
        if key == ("", "pods"):
            return self._pods(node, a)
        if key in _READ_ANY:
            return verb in READ and not sub
        if key in (("", "events"), ("events.k8s.io", "events")):
            return verb in ("create", "update", "patch") and not sub
        if key in (("", "configmaps"), ("", "secrets")):
            return self._referenced_read(node, a)
        if key == ("", "serviceaccounts"):
            if (sub == "token" and verb == "create") or (not sub and verb == "get"):
                return self._references(node, ("serviceaccounts", a.namespace, a.name))
            return False
        if key == ("certificates.k8s.io", "certificatesigningrequests"):
            return not sub and verb in ("create", "get", "list", "watch")
        return False

    def _pods(self, node: str, a: Attributes) -> bool:
        verb, sub = a.verb, a.subresource
        if not sub and verb in READ:
            return True
        if (sub == "status" and verb in ("get", "update", "patch")) or (not sub and verb == "delete"):
            return self._bound_here(node, a.namespace, a.name)
        if sub == "eviction" and verb == "create":
            return self._bound_here(node, a.namespace, a.name)
        return False

    def _referenced_read(self, node: str, a: Attributes) -> bool:
        if a.subresource or not a.name:
            return False
        if a.verb not in READ:  # list/watch carry a name only with a metadata.name field selector
            return False
        if a.resource == "configmaps" and (a.name == ROOT_CA or (a.namespace, a.name) == ROUTES):
            return True
        return self._references(node, (a.resource, a.namespace, a.name))

    # ---- the pods bound to a node ------------------------------------------------------
    def _bound_here(self, node: str, namespace: str, name: str) -> bool:
        if not name or not namespace:
            return False
        try:
            pod = self.registry.get(PODS, namespace, name)
        except errors.NotFound:
            return False
        return (pod.get("spec") or {}).get("nodeName") == node

    def _references(self, node: str, ref: Ref) -> bool:
        if not ref[2]:
            return False
        now = time.monotonic()
        cached = self._refs.get(node)
        if cached is not None and now - cached[0] < self.ttl and ref in cached[1]:
            return True
        refs = self._load(node)
        with self._lock:
            self._refs[node] = (time.monotonic(), refs)
        return ref in refs

    def _load(self, node: str) -> frozenset[Ref]:
        query = ListQuery(field_selector=f"spec.nodeName={node}")
        pods = self.registry.list(PODS, None, query)["items"]
        return frozenset(ref for pod in pods for ref in pod_references(pod) if ref[2])


def _deny_reason(node: str, a: Attributes) -> str:
    what = f"{a.resource}/{a.subresource}" if a.subresource else a.resource
    target = f' "{a.namespace}/{a.name}"' if a.namespace and a.name else (f' "{a.name}"' if a.name else "")
    return f"node '{node}' cannot {a.verb} {what}{target}: no relationship found between node and this object"


def restrict_node_create(user: UserInfo, qualified: str, obj: dict[str, Any]) -> None:
    """NodeRestriction for creates, whose URL names no object: a node may create only its own Node and
    its own Lease; ``Forbidden`` otherwise. Everyone else, and other kinds, pass."""
    if not (NODES_GROUP in user.groups and user.name.startswith(NODE_PREFIX)):
        return
    node = user.name[len(NODE_PREFIX) :]
    name = str((obj.get("metadata") or {}).get("name") or "")
    if qualified in ("nodes", "leases.coordination.k8s.io") and name != node:
        raise errors.Forbidden(
            f'{qualified} "{name}" is forbidden: node "{node}" is not allowed to create an object '
            f'named "{name}" (only its own)',
            name=name,
            kind=qualified.split(".", 1)[0],
        )
