"""The RBAC authorizer and the default roles, on a real Redis registry."""

from __future__ import annotations

import time

import pytest

from cluster import errors
from cluster.api.resources import lookup
from cluster.apiserver.auth import ANONYMOUS, AUTHENTICATED, Attributes, UserInfo
from cluster.apiserver.authz import authorizer_for, check_escalation, forbidden
from cluster.apiserver.authz.rbac import RBACAuthorizer
from cluster.registry import Registry, WriteOptions, ensure_system_namespaces
from cluster.registry.rbac_defaults import AUTOUPDATE, ensure_default_rbac
from cluster.store import Store

G = "rbac.authorization.k8s.io"
ROLES, CLUSTER_ROLES = lookup(G, "v1", "roles"), lookup(G, "v1", "clusterroles")
BINDINGS, CLUSTER_BINDINGS = lookup(G, "v1", "rolebindings"), lookup(G, "v1", "clusterrolebindings")
ALICE = UserInfo("alice", groups=(AUTHENTICATED,))


@pytest.fixture
def registry(store: Store) -> Registry:
    reg = Registry(store)
    ensure_system_namespaces(reg)
    ensure_default_rbac(reg)
    return reg


@pytest.fixture
def rbac(registry: Registry) -> RBACAuthorizer:
    return RBACAuthorizer(registry, refresh=0.05)


def subject(kind: str, name: str, namespace: str = "") -> dict:
    out = {"kind": kind, "name": name}
    if kind == "ServiceAccount":
        out["namespace"] = namespace
    else:
        out["apiGroup"] = G
    return out


def bind(
    registry: Registry,
    name: str,
    role: str,
    subjects: list[dict],
    ns: str = "",
    role_kind: str = "ClusterRole",
):
    body = {
        "metadata": {"name": name},
        "roleRef": {"apiGroup": G, "kind": role_kind, "name": role},
        "subjects": subjects,
    }
    if ns:
        return registry.create(BINDINGS, ns, body, WriteOptions())
    return registry.create(CLUSTER_BINDINGS, None, body, WriteOptions())


def req(
    user: UserInfo,
    verb: str,
    resource: str,
    ns: str = "default",
    name: str = "",
    group: str = "",
    sub: str = "",
):
    return Attributes(user, verb, True, group, "v1", resource, sub, ns, name)


def wait_allowed(rbac: RBACAuthorizer, attrs: Attributes, timeout: float = 3.0) -> float:
    start = time.monotonic()
    while not rbac.authorize(attrs).allowed:
        assert time.monotonic() - start < timeout, "the binding never took effect"
        time.sleep(0.02)
    return time.monotonic() - start


def test_defaults_are_created_once_and_then_unchanged(registry: Registry) -> None:
    again = ensure_default_rbac(registry)
    assert set(again.values()) == {"unchanged"}
    admin = registry.get(CLUSTER_ROLES, None, "cluster-admin")
    assert admin["metadata"]["labels"]["kubernetes.io/bootstrapping"] == "rbac-defaults"
    assert admin["metadata"]["annotations"][AUTOUPDATE] == "true"
    assert "clusterroles/view" in again and "rolebindings/kube-public/kubeq:bootstrap-cluster-info" in again


def test_autoupdate_restores_edited_defaults_but_respects_false(registry: Registry) -> None:
    view = registry.get(CLUSTER_ROLES, None, "view")
    view["rules"] = []
    registry.update(CLUSTER_ROLES, None, "view", view, WriteOptions())
    edit = registry.get(CLUSTER_ROLES, None, "edit")
    edit["rules"] = []
    edit["metadata"]["annotations"][AUTOUPDATE] = "false"
    registry.update(CLUSTER_ROLES, None, "edit", edit, WriteOptions())
    outcome = ensure_default_rbac(registry)
    assert outcome["clusterroles/view"] == "updated"
    assert outcome["clusterroles/edit"] == "unchanged"
    assert registry.get(CLUSTER_ROLES, None, "view")["rules"]
    assert registry.get(CLUSTER_ROLES, None, "edit")["rules"] == []


def test_view_binding_reads_but_cannot_write(registry: Registry, rbac: RBACAuthorizer) -> None:
    bind(registry, "alice-view", "view", [subject("User", "alice")])
    decision = rbac.authorize(req(ALICE, "list", "pods"))
    assert decision.allowed
    assert (
        decision.reason
        == 'RBAC: allowed by ClusterRoleBinding "alice-view" of ClusterRole "view" to User "alice"'
    )
    assert rbac.authorize(req(ALICE, "get", "deployments", name="web", group="apps")).allowed
    create = req(ALICE, "create", "deployments", group="apps")
    refused = rbac.authorize(create)
    assert not refused.allowed
    err = forbidden(create, refused)
    assert err.code == 403
    assert err.message == (
        'deployments.apps is forbidden: User "alice" cannot create resource "deployments" in API group "apps" '
        'in the namespace "default"'
    )
    assert not rbac.authorize(req(ALICE, "get", "secrets", name="s")).allowed


def test_forbidden_wording_for_named_cluster_and_path_requests() -> None:
    from cluster.apiserver.auth import Decision

    named = forbidden(req(ALICE, "get", "nodes", ns="", name="n1"), Decision("no-opinion"))
    assert (
        named.message
        == 'nodes "n1" is forbidden: User "alice" cannot get resource "nodes" in API group "" at the cluster scope'
    )
    assert named.details() == {"name": "n1", "kind": "nodes"}
    sub = forbidden(req(ALICE, "patch", "pods", name="p", sub="status"), Decision("deny", "no way"))
    assert sub.message.endswith(
        'cannot patch resource "pods/status" in API group "" in the namespace "default": no way'
    )
    url = forbidden(Attributes(ANONYMOUS, "get", False, path="/api"), Decision("no-opinion"))
    assert url.message == 'forbidden: User "system:anonymous" cannot get path "/api"'


def test_role_binding_grants_only_in_its_namespace(registry: Registry, rbac: RBACAuthorizer) -> None:
    registry.create(lookup("", "v1", "namespaces"), None, {"metadata": {"name": "team"}}, WriteOptions())
    bind(registry, "alice-edit", "edit", [subject("User", "alice")], ns="team")
    allowed = rbac.authorize(req(ALICE, "create", "pods", ns="team"))
    assert (
        allowed.reason
        == 'RBAC: allowed by RoleBinding "alice-edit/team" of ClusterRole "edit" to User "alice"'
    )
    assert not rbac.authorize(req(ALICE, "create", "pods", ns="default")).allowed
    assert not rbac.authorize(req(ALICE, "list", "pods", ns="")).allowed


def test_role_with_resource_names_and_subresources(registry: Registry, rbac: RBACAuthorizer) -> None:
    role = {
        "metadata": {"name": "one-cm"},
        "rules": [
            {
                "apiGroups": [""],
                "resources": ["configmaps"],
                "resourceNames": ["app"],
                "verbs": ["get", "update"],
            },
            {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
        ],
    }
    registry.create(ROLES, "default", role, WriteOptions())
    bind(registry, "bob-cm", "one-cm", [subject("Group", "devs")], ns="default", role_kind="Role")
    bob = UserInfo("bob", groups=("devs",))
    assert rbac.authorize(req(bob, "update", "configmaps", name="app")).allowed
    assert not rbac.authorize(req(bob, "update", "configmaps", name="other")).allowed
    assert not rbac.authorize(req(bob, "list", "configmaps")).allowed
    assert rbac.authorize(req(bob, "get", "pods", name="p", sub="log")).allowed
    assert not rbac.authorize(req(bob, "get", "pods", name="p")).allowed


def test_service_account_subjects(registry: Registry, rbac: RBACAuthorizer) -> None:
    bind(registry, "sa-view", "view", [subject("ServiceAccount", "robot", "default")], ns="default")
    sa = UserInfo("system:serviceaccount:default:robot", groups=("system:serviceaccounts", AUTHENTICATED))
    decision = rbac.authorize(req(sa, "list", "pods"))
    assert decision.reason.endswith('to ServiceAccount "robot/default"')
    other = UserInfo("system:serviceaccount:kube-system:robot", groups=("system:serviceaccounts",))
    assert not rbac.authorize(req(other, "list", "pods")).allowed


def test_new_binding_takes_effect_within_a_second(registry: Registry) -> None:
    rbac = authorizer_for(registry).rbac  # the production refresh interval
    assert not rbac.authorize(req(ALICE, "list", "pods")).allowed
    bind(registry, "late", "view", [subject("User", "alice")])
    assert wait_allowed(rbac, req(ALICE, "list", "pods")) < 1.0
    registry.store.delete(CLUSTER_BINDINGS.qualified, "late")
    start = time.monotonic()
    while rbac.authorize(req(ALICE, "list", "pods")).allowed:
        assert time.monotonic() - start < 1.5
        time.sleep(0.02)


def test_anonymous_reaches_only_health_and_version(rbac: RBACAuthorizer) -> None:
    for p in ("/healthz", "/livez", "/readyz", "/version", "/version/"):
        assert rbac.authorize(Attributes(ANONYMOUS, "get", False, path=p)).allowed, p
    for p in ("/api", "/apis", "/openapi/v3", "/metrics"):
        assert not rbac.authorize(Attributes(ANONYMOUS, "get", False, path=p)).allowed, p
    assert not rbac.authorize(req(ANONYMOUS, "list", "pods")).allowed
    assert rbac.authorize(Attributes(ALICE, "get", False, path="/apis/apps/v1")).allowed
    ssar = req(ALICE, "create", "selfsubjectaccessreviews", ns="", group="authorization.k8s.io")
    assert rbac.authorize(ssar).allowed


def test_masters_and_components(rbac: RBACAuthorizer) -> None:
    admin = UserInfo("kubernetes-admin", groups=("system:masters", AUTHENTICATED))
    assert rbac.authorize(req(admin, "escalate", "anything", group="x.io")).allowed
    scheduler = UserInfo("system:kube-scheduler", groups=(AUTHENTICATED,))
    assert rbac.authorize(req(scheduler, "create", "pods", name="p", sub="binding")).allowed
    assert not rbac.authorize(req(scheduler, "create", "secrets")).allowed
    cm = UserInfo("system:kube-controller-manager", groups=(AUTHENTICATED,))
    assert rbac.authorize(req(cm, "create", "replicasets", group="apps")).allowed
    assert rbac.authorize(req(cm, "delete", "widgets", group="example.com", name="w")).allowed
    boot = UserInfo("system:bootstrap:abcdef", groups=("system:bootstrappers", AUTHENTICATED))
    csr = req(boot, "create", "certificatesigningrequests", ns="", group="certificates.k8s.io")
    assert rbac.authorize(csr).allowed
    assert rbac.authorize(req(boot, "get", "configmaps", ns="kube-public", name="cluster-info")).allowed
    assert not rbac.authorize(req(boot, "get", "configmaps", ns="kube-public", name="other")).allowed


def test_escalation_is_refused_without_escalate_or_bind(registry: Registry) -> None:
    registry.create(lookup("", "v1", "namespaces"), None, {"metadata": {"name": "team"}}, WriteOptions())
    bind(registry, "alice-admin", "admin", [subject("User", "alice")], ns="team")
    small = {"metadata": {"name": "pods-reader", "namespace": "team"},
             "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]}  # fmt: skip
    check_escalation(registry, ALICE, ROLES, small)  # held: fine
    big = {"metadata": {"name": "nodes", "namespace": "team"},
           "rules": [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["delete"]}]}  # fmt: skip
    with pytest.raises(errors.Forbidden) as refused:
        check_escalation(registry, ALICE, ROLES, big)
    assert "attempting to grant RBAC permissions not currently held" in refused.value.message
    assert '{APIGroups:[""], Resources:["nodes"], Verbs:["delete"]}' in refused.value.message
    binding = {"metadata": {"name": "b", "namespace": "team"}, "subjects": [subject("User", "eve")],
               "roleRef": {"apiGroup": G, "kind": "ClusterRole", "name": "cluster-admin"}}  # fmt: skip
    with pytest.raises(errors.Forbidden):
        check_escalation(registry, ALICE, BINDINGS, binding)
    binding["roleRef"]["name"] = "view"
    check_escalation(registry, ALICE, BINDINGS, binding)  # admin holds all of view in team
    registry.create(CLUSTER_ROLES, None, {"metadata": {"name": "binder"}, "rules": [
        {"apiGroups": [G], "resources": ["clusterroles"], "verbs": ["bind", "escalate"]}]}, WriteOptions())  # fmt: skip
    bind(registry, "alice-binder", "binder", [subject("User", "alice")], ns="team")
    authorizer_for(registry).rbac.invalidate()
    binding["roleRef"]["name"] = "cluster-admin"
    check_escalation(registry, ALICE, BINDINGS, binding)  # bind held in team


def test_authorize_cost_with_default_roles(registry: Registry, rbac: RBACAuthorizer) -> None:
    bind(registry, "alice-view", "view", [subject("User", "alice")])
    wait_allowed(rbac, req(ALICE, "list", "pods"))
    rbac.refresh = 60.0
    attrs = [req(ALICE, "list", "pods"), req(ALICE, "create", "deployments", group="apps")]
    n = 20000
    start = time.perf_counter()
    for i in range(n):
        rbac.authorize(attrs[i % 2])
    per_call = (time.perf_counter() - start) / n
    print(f"\nRBAC authorize(): {per_call * 1e6:.1f} us per call (default roles + 1 binding)")
    assert per_call < 0.001
