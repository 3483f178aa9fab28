"""The RBAC authorizer over the stored Roles, ClusterRoles, RoleBindings and ClusterRoleBindings.

:class:`RBACAuthorizer` keeps an in-process :class:`PolicyIndex` of the four kinds. It looks at
the last entry of their change streams at most every ``refresh`` seconds (one pipelined round
trip) and re-reads them only when one changed, so a decision normally costs no Redis call and a
binding written through the API takes effect within ``refresh`` seconds.

Decisions: ``allow`` with Kubernetes' reason (``RBAC: allowed by ClusterRoleBinding "x" of
ClusterRole "y" to User "z"``) or ``no-opinion`` (RBAC never denies; the chain turns "nobody
allowed it" into a 403). Group ``system:masters`` is always allowed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from cluster import errors
from cluster.api.resources import Resource, lookup
from cluster.apiserver.auth import MASTERS, Attributes, Decision, UserInfo
from cluster.apiserver.authz import rules as rulesmod
from cluster.apiserver.authz.rules import Rule
from cluster.registry import Registry

GROUP = "rbac.authorization.k8s.io"
SA_PREFIX = "system:serviceaccount:"
NO_OPINION = Decision("no-opinion", "")


def _rbac(plural: str) -> Resource:
    resource = lookup(GROUP, "v1", plural)
    assert resource is not None, plural
    return resource


ROLES, CLUSTER_ROLES = _rbac("roles"), _rbac("clusterroles")
ROLE_BINDINGS, CLUSTER_ROLE_BINDINGS = _rbac("rolebindings"), _rbac("clusterrolebindings")
KINDS = (ROLES, CLUSTER_ROLES, ROLE_BINDINGS, CLUSTER_ROLE_BINDINGS)


@dataclass(frozen=True)
class Binding:
    """A RoleBinding (``namespace`` set) or ClusterRoleBinding, reduced to what decisions need."""

    name: str
    namespace: str
    role_kind: str  # Role | ClusterRole
    role_name: str

    def describe(self) -> str:
        if self.namespace:
            return f'RoleBinding "{self.name}/{self.namespace}"'
        return f'ClusterRoleBinding "{self.name}"'


def _subject_text(subject: dict[str, Any], namespace: str) -> str:
    kind = subject.get("kind", "")
    if kind == "ServiceAccount":
        return f'ServiceAccount "{subject.get("name", "")}/{subject.get("namespace") or namespace}"'
    return f'{kind} "{subject.get("name", "")}"'


@dataclass
class PolicyIndex:
    """Roles' rules and bindings keyed by the user name or group they grant to."""

    cluster_roles: dict[str, tuple[Rule, ...]] = field(default_factory=dict)
    roles: dict[tuple[str, str], tuple[Rule, ...]] = field(default_factory=dict)
    by_user: dict[str, list[tuple[Binding, str]]] = field(default_factory=dict)
    by_group: dict[str, list[tuple[Binding, str]]] = field(default_factory=dict)

    @classmethod
    def build(
        cls, roles: list[Any], cluster_roles: list[Any], bindings: list[Any], crbs: list[Any]
    ) -> PolicyIndex:
        index = cls()
        for role in cluster_roles:
            index.cluster_roles[role["metadata"]["name"]] = rulesmod.rules_of(role)
        for role in roles:
            md = role["metadata"]
            index.roles[(md.get("namespace", ""), md["name"])] = rulesmod.rules_of(role)
        for obj in [*bindings, *crbs]:
            index._add_binding(obj)
        return index

    def _add_binding(self, obj: dict[str, Any]) -> None:
        md, ref = obj["metadata"], obj.get("roleRef") or {}
        namespace = md.get("namespace", "") or ""
        binding = Binding(md["name"], namespace, ref.get("kind", ""), ref.get("name", ""))
        for subject in obj.get("subjects") or ():
            kind, name = subject.get("kind"), subject.get("name", "")
            text = _subject_text(subject, namespace)
            if kind == "User":
                self.by_user.setdefault(name, []).append((binding, text))
            elif kind == "Group":
                self.by_group.setdefault(name, []).append((binding, text))
            elif kind == "ServiceAccount":
                sa_ns = subject.get("namespace") or namespace
                if sa_ns:
                    self.by_user.setdefault(f"{SA_PREFIX}{sa_ns}:{name}", []).append((binding, text))

    def role_rules(self, binding: Binding) -> tuple[Rule, ...]:
        if binding.role_kind == "ClusterRole":
            return self.cluster_roles.get(binding.role_name, ())
        if binding.role_kind == "Role" and binding.namespace:
            return self.roles.get((binding.namespace, binding.role_name), ())
        return ()

    def bindings_for(self, user: UserInfo) -> Iterator[tuple[Binding, str]]:
        yield from self.by_user.get(user.name, ())
        for group in user.groups:
            yield from self.by_group.get(group, ())


class RBACAuthorizer:
    """RBAC decisions over the registry's RBAC objects (see the module doc)."""

    def __init__(self, registry: Registry, refresh: float = 0.5) -> None:
        self.registry = registry
        self.refresh = refresh
        self._lock = threading.Lock()
        self._index = PolicyIndex()
        self._stamp: tuple[str, ...] | None = None
        self._checked = 0.0

    # ---- the index ---------------------------------------------------------------------
    def index(self) -> PolicyIndex:
        """The current index, re-read if the RBAC objects changed (checked every ``refresh`` s)."""
        if time.monotonic() - self._checked < self.refresh:
            return self._index
        with self._lock:
            if time.monotonic() - self._checked >= self.refresh:
                stamp = self._current_stamp()
                if stamp != self._stamp:
                    self._index = self._load()
                    self._stamp = stamp
                self._checked = time.monotonic()
        return self._index

    def invalidate(self) -> None:
        """Check the store again on the next decision (e.g. after this process wrote RBAC)."""
        self._checked = 0.0

    def _current_stamp(self) -> tuple[str, ...]:
        store = self.registry.store
        pipe = store.client.pipeline(transaction=False)
        for resource in KINDS:
            pipe.xrevrange(store.keys(resource.qualified).stream, count=1)
        out = []
        for reply in pipe.execute():
            entry = reply[0][0] if reply else "0-0"
            out.append(entry.decode() if isinstance(entry, bytes) else str(entry))
        return tuple(out)

    def _load(self) -> PolicyIndex:
        store = self.registry.store
        items = [store.list(resource.qualified).items for resource in KINDS]
        return PolicyIndex.build(*items)

    # ---- decisions ---------------------------------------------------------------------
    def authorize(self, attrs: Attributes) -> Decision:
        if MASTERS in attrs.user.groups:
            return Decision("allow", "")
        index = self.index()
        for binding, subject in index.bindings_for(attrs.user):
            if binding.namespace and binding.namespace != attrs.namespace:
                continue  # a RoleBinding grants only inside its namespace
            if rulesmod.any_allows(index.role_rules(binding), attrs):
                role = f'{binding.role_kind} "{binding.role_name}"'
                return Decision("allow", f"RBAC: allowed by {binding.describe()} of {role} to {subject}")
        return NO_OPINION

    def rules_for(self, user: UserInfo, namespace: str) -> list[Rule]:
        """Every rule granted to ``user`` cluster-wide and (with ``namespace``) in ``namespace``."""
        if MASTERS in user.groups:
            return [Rule(("*",), ("*",), ("*",)), Rule(("*",), non_resource_urls=("*",))]
        index = self.index()
        out: list[Rule] = []
        seen: set[Binding] = set()
        for binding, _ in index.bindings_for(user):
            if binding in seen or (binding.namespace and binding.namespace != namespace):
                continue
            seen.add(binding)
            out.extend(r for r in index.role_rules(binding) if r not in out)
        return out

    # ---- escalation --------------------------------------------------------------------
    def check_escalation(
        self, user: UserInfo, resource: Resource, obj: dict[str, Any], namespace: str | None = None
    ) -> None:
        """Refuse (``Forbidden``) a Role/ClusterRole or binding write that grants more than ``user``
        holds, unless ``user`` may ``escalate`` that role or ``bind`` the role referenced.

        Call it for create, update and patch (with the patched object) of the four RBAC kinds;
        ``namespace`` is the request's (default: the object's). Other resources pass untouched.
        """
        if resource.group != GROUP or MASTERS in user.groups:
            return
        md = obj.get("metadata") or {}
        name = md.get("name", "")
        namespace = (namespace or md.get("namespace") or "") if resource.namespaced else ""
        if resource.plural in ("roles", "clusterroles"):
            special = Attributes(user, "escalate", True, GROUP, "v1", resource.plural, "", namespace, name)
            wanted = rulesmod.rules_of(obj)
        elif resource.plural in ("rolebindings", "clusterrolebindings"):
            ref = obj.get("roleRef") or {}
            ref_plural = "clusterroles" if ref.get("kind") == "ClusterRole" else "roles"
            special = Attributes(
                user, "bind", True, GROUP, "v1", ref_plural, "", namespace, ref.get("name", "")
            )
            wanted = self._referenced_rules(ref, namespace)
        else:
            return
        if self.authorize(special).allowed:
            return
        missing = rulesmod.uncovered(self.rules_for(user, namespace), wanted)
        if not missing:
            return
        groups = " ".join(f'"{g}"' for g in user.groups)
        listed = "\n".join(_rule_text(r) for r in missing)
        raise errors.Forbidden(
            f'{resource.qualified} "{name}" is forbidden: user "{user.name}" (groups=[{groups}]) is '
            f"attempting to grant RBAC permissions not currently held:\n{listed}",
            name=name,
            group=GROUP,
            kind=resource.plural,
        )

    def _referenced_rules(self, ref: dict[str, Any], namespace: str) -> tuple[Rule, ...]:
        kind, name = ref.get("kind"), ref.get("name", "")
        try:
            if kind == "ClusterRole":
                return rulesmod.rules_of(self.registry.get(CLUSTER_ROLES, None, name))
            if kind == "Role" and namespace:
                return rulesmod.rules_of(self.registry.get(ROLES, namespace, name))
        except errors.NotFound:
            return ()
        return ()


def _rule_text(rule: Rule) -> str:
    def q(values: tuple[str, ...]) -> str:
        return "[" + " ".join(f'"{v}"' for v in values) + "]"

    if rule.non_resource_urls:
        return f"{{NonResourceURLs:{q(rule.non_resource_urls)}, Verbs:{q(rule.verbs)}}}"
    names = f", ResourceNames:{q(rule.resource_names)}" if rule.resource_names else ""
    return f"{{APIGroups:{q(rule.api_groups)}, Resources:{q(rule.resources)}{names}, Verbs:{q(rule.verbs)}}}"
