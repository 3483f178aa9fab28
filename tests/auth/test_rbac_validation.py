"""RBAC objects are validated as Kubernetes does, and print with Kubernetes' columns."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from cluster import errors
from cluster.api.printers.columns import columns_for
from cluster.api.resources import lookup
from cluster.registry import Registry, WriteOptions, ensure_system_namespaces
from cluster.store import Store

G = "rbac.authorization.k8s.io"
ROLES, CLUSTER_ROLES = lookup(G, "v1", "roles"), lookup(G, "v1", "clusterroles")
BINDINGS, CLUSTER_BINDINGS = lookup(G, "v1", "rolebindings"), lookup(G, "v1", "clusterrolebindings")


@pytest.fixture
def registry(store: Store) -> Registry:
    reg = Registry(store)
    ensure_system_namespaces(reg)
    return reg


def messages(err: errors.Invalid) -> list[str]:
    return [f"{c.field}: {c.message}" for c in err.causes]


def test_names_with_colons_are_fine_but_slashes_are_not(registry: Registry) -> None:
    registry.create(CLUSTER_ROLES, None, {"metadata": {"name": "system:thing"}, "rules": []}, WriteOptions())
    with pytest.raises(errors.Invalid) as bad:
        registry.create(CLUSTER_ROLES, None, {"metadata": {"name": "a/b"}}, WriteOptions())
    assert messages(bad.value) == ["metadata.name: Invalid value: \"a/b\": may not contain '/'"]


def test_rule_shapes(registry: Registry) -> None:
    role = {
        "metadata": {"name": "r"},
        "rules": [
            {"apiGroups": [""], "resources": ["pods"], "verbs": []},
            {"nonResourceURLs": ["/x"], "verbs": ["get"]},
            {"verbs": ["get"]},
        ],
    }
    with pytest.raises(errors.Invalid) as bad:
        registry.create(ROLES, "default", role, WriteOptions())
    assert messages(bad.value) == [
        "rules[0].verbs: Required value: verbs must contain at least one value",
        'rules[1].nonResourceURLs: Invalid value: ["/x"]: namespaced rules cannot apply to non-resource URLs',
        "rules[2].apiGroups: Required value: resource rules must supply at least one api group",
        "rules[2].resources: Required value: resource rules must supply at least one resource",
    ]
    role["rules"] = [{"nonResourceURLs": ["/x"], "verbs": ["get"]}]
    registry.create(CLUSTER_ROLES, None, role, WriteOptions())


def test_binding_shapes_and_immutable_role_ref(registry: Registry) -> None:
    bad = {
        "metadata": {"name": "b"},
        "roleRef": {"apiGroup": G, "kind": "Role", "name": "r"},
        "subjects": [{"kind": "ServiceAccount", "name": "sa"}, {"kind": "Robot", "name": "x"}],
    }
    with pytest.raises(errors.Invalid) as refused:
        registry.create(CLUSTER_BINDINGS, None, bad, WriteOptions())
    assert messages(refused.value) == [
        'roleRef.kind: Unsupported value: "Role": supported values: "ClusterRole"',
        "subjects[0].namespace: Required value",
        'subjects[1].kind: Unsupported value: "Robot": supported values: "ServiceAccount", "User", "Group"',
    ]
    good = {
        "metadata": {"name": "b"},
        "roleRef": {"apiGroup": G, "kind": "Role", "name": "r"},
        "subjects": [{"kind": "ServiceAccount", "name": "sa"}, {"kind": "User", "apiGroup": G, "name": "u"}],
    }
    stored = registry.create(BINDINGS, "default", good, WriteOptions())
    stored["roleRef"]["name"] = "other"
    with pytest.raises(errors.Invalid) as changed:
        registry.update(BINDINGS, "default", "b", stored, WriteOptions())
    assert "roleRef: Invalid value" in messages(changed.value)[0]
    assert messages(changed.value)[0].endswith("cannot change roleRef")


def test_printer_columns() -> None:
    binding = {
        "metadata": {"name": "b", "creationTimestamp": "2026-01-01T00:00:00Z"},
        "roleRef": {"apiGroup": G, "kind": "ClusterRole", "name": "view"},
        "subjects": [
            {"kind": "User", "name": "u1"},
            {"kind": "User", "name": "u2"},
            {"kind": "Group", "name": "g"},
            {"kind": "ServiceAccount", "name": "sa", "namespace": "ns"},
        ],
    }
    now = datetime(2026, 1, 1, 0, 5, tzinfo=UTC)
    cols = columns_for(G, "clusterrolebindings")
    assert [c.name for c in cols] == ["Name", "Role", "Age", "Users", "Groups", "ServiceAccounts"]
    assert [c.cell(binding, now) for c in cols] == ["b", "ClusterRole/view", "5m", "u1, u2", "g", "ns/sa"]
    role_cols = columns_for(G, "roles")
    assert [c.name for c in role_cols] == ["Name", "Created At"]
    assert role_cols[1].cell(binding, now) == "2026-01-01T00:00:00Z"
