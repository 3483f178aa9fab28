"""Validation of Role, ClusterRole, RoleBinding and ClusterRoleBinding, in Kubernetes' words.

RBAC names are path segments (``system:node`` is fine; ``.``, ``..``, ``/`` and ``%`` are not).
Rules need verbs, and either resources with apiGroups or nonResourceURLs (never both; a Role has
no nonResourceURLs). A binding's roleRef names a Role (RoleBinding only) or ClusterRole in the RBAC
group and never changes; subjects are User, Group or ServiceAccount (the latter with a namespace).
"""

from __future__ import annotations

from typing import Any

from cluster.api.validation.errors import as_dict, as_list, invalid, not_supported, required
from cluster.errors import Cause

GROUP = "rbac.authorization.k8s.io"


def path_segment_name(value: str) -> list[str]:
    """Problems with ``value`` as a name that is one URL path segment."""
    if value in (".", ".."):
        return [f"may not be '{value}'"]
    return [f"may not contain '{c}'" for c in ("/", "%") if c in value]


def _rules(rules: Any, namespaced: bool) -> list[Cause]:
    out: list[Cause] = []
    for i, rule in enumerate(as_list(rules)):
        rule, at = as_dict(rule), f"rules[{i}]"
        if not as_list(rule.get("verbs")):
            out.append(required(f"{at}.verbs", "verbs must contain at least one value"))
        urls = as_list(rule.get("nonResourceURLs"))
        if urls:
            if namespaced:
                out.append(
                    invalid(
                        f"{at}.nonResourceURLs", urls, "namespaced rules cannot apply to non-resource URLs"
                    )
                )
            if as_list(rule.get("apiGroups")) or as_list(rule.get("resources")):
                out.append(
                    invalid(
                        f"{at}.nonResourceURLs",
                        urls,
                        "rules cannot apply to both regular resources and non-resource URLs",
                    )
                )
            continue
        if not as_list(rule.get("apiGroups")):
            out.append(required(f"{at}.apiGroups", "resource rules must supply at least one api group"))
        if not as_list(rule.get("resources")):
            out.append(required(f"{at}.resources", "resource rules must supply at least one resource"))
    return out


def validate_role(obj: dict) -> list[Cause]:
    return _rules(obj.get("rules"), namespaced=True)


def validate_cluster_role(obj: dict) -> list[Cause]:
    return _rules(obj.get("rules"), namespaced=False)


def _binding(obj: dict, kinds: tuple[str, ...], namespaced: bool) -> list[Cause]:
    out: list[Cause] = []
    ref = as_dict(obj.get("roleRef"))
    if ref.get("apiGroup") != GROUP:
        out.append(not_supported("roleRef.apiGroup", ref.get("apiGroup", ""), [GROUP]))
    if ref.get("kind") not in kinds:
        out.append(not_supported("roleRef.kind", ref.get("kind", ""), kinds))
    name = ref.get("name")
    if not name:
        out.append(required("roleRef.name"))
    else:
        out += [invalid("roleRef.name", name, m) for m in path_segment_name(str(name))]
    for i, subject in enumerate(as_list(obj.get("subjects"))):
        subject, at = as_dict(subject), f"subjects[{i}]"
        kind, group = subject.get("kind"), subject.get("apiGroup", "")
        if not subject.get("name"):
            out.append(required(f"{at}.name"))
        if kind == "ServiceAccount":
            if group:
                out.append(not_supported(f"{at}.apiGroup", group, [""]))
            if not namespaced and not subject.get("namespace"):
                out.append(required(f"{at}.namespace"))
        elif kind in ("User", "Group"):
            if group != GROUP:
                out.append(not_supported(f"{at}.apiGroup", group, [GROUP]))
        else:
            out.append(not_supported(f"{at}.kind", kind or "", ("ServiceAccount", "User", "Group")))
    return out


def validate_role_binding(obj: dict) -> list[Cause]:
    return _binding(obj, ("Role", "ClusterRole"), namespaced=True)


def validate_cluster_role_binding(obj: dict) -> list[Cause]:
    return _binding(obj, ("ClusterRole",), namespaced=False)


def validate_binding_update(obj: dict, old: dict) -> list[Cause]:
    """roleRef cannot change."""
    ref = as_dict(obj.get("roleRef"))
    if ref != as_dict(old.get("roleRef")):
        return [invalid("roleRef", ref, "cannot change roleRef")]
    return []
