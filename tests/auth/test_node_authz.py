"""The Node authorizer on a real Redis registry: a node touches only what its pods need."""

from __future__ import annotations

import pytest

from cluster.api.resources import lookup
from cluster.apiserver.auth import AUTHENTICATED, Attributes, UserInfo
from cluster.apiserver.authz import authorizer_for
from cluster.apiserver.authz.node import NodeAuthorizer, pod_references
from cluster.registry import Registry, WriteOptions, ensure_system_namespaces
from cluster.registry.rbac_defaults import ensure_default_rbac
from cluster.store import Store

PODS = lookup("", "v1", "pods")
N1 = UserInfo("system:node:n1", groups=("system:nodes", AUTHENTICATED))


def pod(name: str, node: str, **spec: object) -> dict:
    containers = spec.pop("containers", [{"name": "c", "image": "busybox"}])
    return {"metadata": {"name": name}, "spec": {"nodeName": node, "containers": containers, **spec}}


@pytest.fixture
def registry(store: Store) -> Registry:
    reg = Registry(store)
    ensure_system_namespaces(reg)
    reg.create(
        lookup("", "v1", "serviceaccounts"), "default", {"metadata": {"name": "robot"}}, WriteOptions()
    )
    env = [
        {"name": "A", "valueFrom": {"configMapKeyRef": {"name": "env-cm", "key": "a"}}},
        {"name": "B", "valueFrom": {"secretKeyRef": {"name": "env-secret", "key": "b"}}},
    ]
    mine = pod(
        "mine",
        "n1",
        serviceAccountName="robot",
        imagePullSecrets=[{"name": "pull"}],
        volumes=[
            {"name": "v1", "configMap": {"name": "vol-cm"}},
            {"name": "v2", "secret": {"secretName": "vol-secret"}},
            {"name": "v3", "projected": {"sources": [{"secret": {"name": "proj-secret"}}]}},
        ],
        containers=[
            {"name": "c", "image": "busybox", "env": env, "envFrom": [{"secretRef": {"name": "from-secret"}}]}
        ],
    )
    reg.create(PODS, "default", mine, WriteOptions())
    reg.create(
        PODS,
        "default",
        pod("theirs", "n2", volumes=[{"name": "v", "secret": {"secretName": "n2-secret"}}]),
        WriteOptions(),
    )
    return reg


@pytest.fixture
def node(registry: Registry) -> NodeAuthorizer:
    return NodeAuthorizer(registry)


def a(
    verb: str,
    resource: str,
    ns: str = "default",
    name: str = "",
    sub: str = "",
    group: str = "",
    user: UserInfo = N1,
):
    return Attributes(user, verb, True, group, "v1", resource, sub, ns, name)


def test_pod_references_cover_every_kind_of_reference(registry: Registry) -> None:
    refs = set(pod_references(registry.get(PODS, "default", "mine")))
    names = {(plural, name) for plural, _, name in refs}
    assert names >= {
        ("serviceaccounts", "robot"),
        ("secrets", "pull"),
        ("configmaps", "vol-cm"),
        ("secrets", "vol-secret"),
        ("secrets", "proj-secret"),
        ("configmaps", "env-cm"),
        ("secrets", "env-secret"),
        ("secrets", "from-secret"),
    }


def test_node_writes_only_its_own_node_and_lease(node: NodeAuthorizer) -> None:
    assert node.authorize(a("get", "nodes", "", "n2")).allowed
    assert node.authorize(a("list", "nodes", "")).allowed
    assert node.authorize(a("create", "nodes", "")).allowed
    assert node.authorize(a("patch", "nodes", "", "n1")).allowed
    assert node.authorize(a("patch", "nodes", "", "n1", "status")).allowed
    for verb, sub in (("patch", ""), ("delete", ""), ("patch", "status"), ("update", "status")):
        assert node.authorize(a(verb, "nodes", "", "n2", sub)).verdict == "deny"
    lease = "coordination.k8s.io"
    assert node.authorize(a("patch", "leases", "kube-node-lease", "n1", group=lease)).allowed
    assert node.authorize(a("create", "leases", "kube-node-lease", group=lease)).allowed
    assert not node.authorize(a("patch", "leases", "kube-node-lease", "n2", group=lease)).allowed
    assert not node.authorize(a("patch", "leases", "kube-system", "n1", group=lease)).allowed


def test_node_changes_only_pods_bound_to_it(node: NodeAuthorizer) -> None:
    assert node.authorize(a("list", "pods", "")).allowed
    assert node.authorize(a("watch", "pods", "")).allowed
    assert node.authorize(a("patch", "pods", name="mine", sub="status")).allowed
    assert node.authorize(a("delete", "pods", name="mine")).allowed
    assert node.authorize(a("create", "pods", name="mine", sub="eviction")).allowed
    denied = node.authorize(a("patch", "pods", name="theirs", sub="status"))
    assert denied.verdict == "deny" and "no relationship found" in denied.reason
    assert not node.authorize(a("delete", "pods", name="theirs")).allowed
    assert not node.authorize(a("patch", "pods", name="missing", sub="status")).allowed
    assert not node.authorize(a("create", "pods")).allowed
    assert not node.authorize(a("update", "pods", name="mine")).allowed


def test_node_reads_only_referenced_secrets_and_configmaps(node: NodeAuthorizer) -> None:
    for plural, name in (("secrets", "vol-secret"), ("secrets", "env-secret"), ("secrets", "pull"),
                         ("secrets", "proj-secret"), ("secrets", "from-secret"), ("configmaps", "env-cm"),
                         ("configmaps", "vol-cm")):  # fmt: skip
        assert node.authorize(a("get", plural, name=name)).allowed, name
    assert not node.authorize(a("get", "secrets", name="n2-secret")).allowed
    assert not node.authorize(a("list", "secrets")).allowed
    assert not node.authorize(a("get", "secrets", "kube-system", "vol-secret")).allowed
    assert node.authorize(a("get", "configmaps", "anywhere", "kube-root-ca.crt")).allowed
    assert node.authorize(a("watch", "configmaps", "kube-system", "kubeq-routes")).allowed
    assert node.authorize(a("get", "serviceaccounts", name="robot")).allowed
    assert node.authorize(a("create", "serviceaccounts", name="robot", sub="token")).allowed
    assert not node.authorize(a("create", "serviceaccounts", name="default", sub="token")).allowed


def test_new_pod_references_are_seen_at_once(registry: Registry, node: NodeAuthorizer) -> None:
    assert not node.authorize(a("get", "secrets", name="late")).allowed
    registry.create(
        PODS,
        "default",
        pod("late", "n1", volumes=[{"name": "v", "secret": {"secretName": "late"}}]),
        WriteOptions(),
    )
    assert node.authorize(a("get", "secrets", name="late")).allowed


def test_other_reads_and_everything_else(node: NodeAuthorizer) -> None:
    for resource, group in (("services", ""), ("endpoints", ""), ("endpointslices", "discovery.k8s.io")):
        assert node.authorize(a("list", resource, "", group=group)).allowed
        assert not node.authorize(a("create", resource, group=group)).allowed
    assert node.authorize(a("create", "events")).allowed
    csr = "certificates.k8s.io"
    assert node.authorize(a("create", "certificatesigningrequests", "", group=csr)).allowed
    assert not node.authorize(a("update", "certificatesigningrequests", "", "x", "approval", csr)).allowed
    assert node.authorize(a("create", "namespaces", "")).verdict == "deny"
    assert node.authorize(a("list", "deployments", group="apps")).verdict == "deny"
    assert (
        node.authorize(a("create", "selfsubjectaccessreviews", "", group="authorization.k8s.io")).verdict
        == "no-opinion"
    )
    assert node.authorize(Attributes(N1, "get", False, path="/version")).verdict == "no-opinion"


def test_not_a_node_gets_no_opinion(node: NodeAuthorizer) -> None:
    impostor = UserInfo("system:node:n1", groups=(AUTHENTICATED,))  # not in system:nodes
    assert (
        node.authorize(a("patch", "pods", name="theirs", sub="status", user=impostor)).verdict == "no-opinion"
    )


def test_chain_denies_a_node_even_if_rbac_would_allow(registry: Registry) -> None:
    ensure_default_rbac(registry)
    chain = authorizer_for(registry)
    crb = lookup("rbac.authorization.k8s.io", "v1", "clusterrolebindings")
    registry.create(crb, None, {
        "metadata": {"name": "nodes-edit"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit"},
        "subjects": [{"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": "system:nodes"}],
    }, WriteOptions())  # fmt: skip
    chain.rbac.invalidate()
    assert chain.authorize(a("patch", "pods", name="theirs", sub="status")).verdict == "deny"
    assert chain.authorize(a("create", "selfsubjectaccessreviews", "", group="authorization.k8s.io")).allowed
    assert chain.authorize(Attributes(N1, "get", False, path="/apis")).allowed
