"""RBAC policy rules as values: matching a request, and one rule set covering another.

A :class:`Rule` is one entry of a Role's ``rules``. :func:`allows` says whether a rule grants an
:class:`Attributes`; :func:`covers` says whether a set of rules grants at least everything another
rule does (the escalation check). Both follow Kubernetes' RBAC semantics: ``*`` in verbs, apiGroups
and resources; ``resource/subresource`` and ``*/subresource``; ``resourceNames`` only narrow
requests that name an object; ``nonResourceURLs`` exact or ending in ``*``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from cluster.apiserver.auth import Attributes

ALL = "*"


@dataclass(frozen=True)
class Rule:
    """One RBAC ``PolicyRule``."""

    verbs: tuple[str, ...] = ()
    api_groups: tuple[str, ...] = ()
    resources: tuple[str, ...] = ()
    resource_names: tuple[str, ...] = ()
    non_resource_urls: tuple[str, ...] = ()

    @classmethod
    def from_wire(cls, rule: dict[str, Any]) -> Rule:
        def strings(key: str) -> tuple[str, ...]:
            return tuple(str(v) for v in rule.get(key) or ())

        return cls(
            strings("verbs"),
            strings("apiGroups"),
            strings("resources"),
            strings("resourceNames"),
            strings("nonResourceURLs"),
        )

    def to_wire(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {"verbs": list(self.verbs)}
        if self.non_resource_urls:
            out["nonResourceURLs"] = list(self.non_resource_urls)
            return out
        out["apiGroups"] = list(self.api_groups)
        out["resources"] = list(self.resources)
        if self.resource_names:
            out["resourceNames"] = list(self.resource_names)
        return out


def rules_of(role: dict[str, Any] | None) -> tuple[Rule, ...]:
    """The rules of a stored Role or ClusterRole (none for None)."""
    if not role:
        return ()
    return tuple(Rule.from_wire(r) for r in role.get("rules") or () if isinstance(r, dict))


def _verb(rule: Rule, verb: str) -> bool:
    return ALL in rule.verbs or verb in rule.verbs


def _resource(rule: Rule, resource: str, subresource: str) -> bool:
    wanted = f"{resource}/{subresource}" if subresource else resource
    for r in rule.resources:
        if r == ALL or r == wanted:
            return True
        if subresource and r == f"*/{subresource}":
            return True
    return False


def _url(pattern: str, path: str) -> bool:
    if pattern == ALL or pattern == path:
        return True
    return pattern.endswith("*") and path.startswith(pattern[:-1])


def allows(rule: Rule, attrs: Attributes) -> bool:
    """True when ``rule`` grants the request described by ``attrs``."""
    if not _verb(rule, attrs.verb):
        return False
    if not attrs.resource_request:
        return any(_url(p, attrs.path) for p in rule.non_resource_urls)
    if not (ALL in rule.api_groups or attrs.api_group in rule.api_groups):
        return False
    if not _resource(rule, attrs.resource, attrs.subresource):
        return False
    return not rule.resource_names or attrs.name in rule.resource_names


def any_allows(rules: Iterable[Rule], attrs: Attributes) -> bool:
    return any(allows(r, attrs) for r in rules)


def _covers_value(owned: tuple[str, ...], value: str) -> bool:
    return ALL in owned or value in owned


def _covers_resource(owned: tuple[str, ...], value: str) -> bool:
    if ALL in owned or value in owned:
        return True
    if "/" in value:
        return f"*/{value.split('/', 1)[1]}" in owned
    return False


def _covers_one(owner: Rule, rule: Rule) -> bool:
    """Whether ``owner`` alone grants everything ``rule`` does."""
    if not all(_covers_value(owner.verbs, v) for v in rule.verbs):
        return False
    if rule.non_resource_urls:
        return all(any(_url(p, u) for p in owner.non_resource_urls) for u in rule.non_resource_urls)
    if not all(_covers_value(owner.api_groups, g) for g in rule.api_groups):
        return False
    if not all(_covers_resource(owner.resources, r) for r in rule.resources):
        return False
    if not owner.resource_names:
        return True
    return bool(rule.resource_names) and all(n in owner.resource_names for n in rule.resource_names)


def _atoms(rule: Rule) -> Iterable[Rule]:
    """``rule`` split into single-verb, single-group, single-resource, single-name rules."""
    if rule.non_resource_urls:
        for verb in rule.verbs:
            for url in rule.non_resource_urls:
                yield Rule((verb,), non_resource_urls=(url,))
        return
    names: tuple[tuple[str, ...], ...] = tuple((n,) for n in rule.resource_names) or ((),)
    for verb in rule.verbs:
        for group in rule.api_groups:
            for resource in rule.resources:
                for name in names:
                    yield Rule((verb,), (group,), (resource,), name)


def covers(owned: Iterable[Rule], rule: Rule) -> bool:
    """True when the rules ``owned`` together grant everything ``rule`` grants."""
    owned = tuple(owned)
    return all(any(_covers_one(o, atom) for o in owned) for atom in _atoms(rule))


def uncovered(owned: Iterable[Rule], wanted: Iterable[Rule]) -> list[Rule]:
    """The rules of ``wanted`` that ``owned`` does not cover."""
    owned = tuple(owned)
    return [r for r in wanted if not covers(owned, r)]
