"""RBAC rule matching and rule coverage, as pure values."""

from __future__ import annotations

from cluster.apiserver.auth import Attributes, UserInfo
from cluster.apiserver.authz.rules import Rule, allows, covers, uncovered

ALICE = UserInfo("alice")


def res(
    verb: str, resource: str, sub: str = "", group: str = "", name: str = "", ns: str = "default"
) -> Attributes:
    return Attributes(ALICE, verb, True, group, "v1", resource, sub, ns, name)


def path(p: str, verb: str = "get") -> Attributes:
    return Attributes(ALICE, verb, False, path=p)


def test_verbs_groups_and_resources_must_all_match() -> None:
    rule = Rule(("get", "list"), ("apps",), ("deployments",))
    assert allows(rule, res("get", "deployments", group="apps"))
    assert not allows(rule, res("create", "deployments", group="apps"))
    assert not allows(rule, res("get", "deployments", group=""))
    assert not allows(rule, res("get", "replicasets", group="apps"))


def test_stars_match_everything() -> None:
    rule = Rule(("*",), ("*",), ("*",))
    assert allows(rule, res("deletecollection", "anything", "status", group="x.io"))


def test_subresources_need_their_own_entry() -> None:
    pods = Rule(("get",), ("",), ("pods",))
    assert not allows(pods, res("get", "pods", "log", name="p"))
    assert allows(Rule(("get",), ("",), ("pods/log",)), res("get", "pods", "log", name="p"))
    any_status = Rule(("update",), ("*",), ("*/status",))
    assert allows(any_status, res("update", "deployments", "status", group="apps", name="d"))
    assert not allows(any_status, res("update", "deployments", group="apps", name="d"))


def test_resource_names_narrow_to_named_requests() -> None:
    rule = Rule(("get", "list"), ("",), ("configmaps",), ("cluster-info",))
    assert allows(rule, res("get", "configmaps", name="cluster-info"))
    assert not allows(rule, res("get", "configmaps", name="other"))
    assert not allows(rule, res("list", "configmaps"))


def test_non_resource_urls_exact_or_prefix() -> None:
    rule = Rule(("get",), non_resource_urls=("/healthz", "/apis/*"))
    assert allows(rule, path("/healthz"))
    assert not allows(rule, path("/healthz/etcd"))
    assert allows(rule, path("/apis/apps/v1"))
    assert not allows(rule, path("/api"))
    assert not allows(rule, path("/healthz", "post"))
    assert not allows(rule, res("get", "pods"))


def test_coverage_for_escalation() -> None:
    owned = [Rule(("get", "list"), ("",), ("pods", "services")), Rule(("*",), ("apps",), ("deployments",))]
    assert covers(owned, Rule(("get",), ("",), ("pods",)))
    assert covers(owned, Rule(("get", "list"), ("",), ("pods", "services"), ("one",)))
    assert covers(owned, Rule(("delete", "patch"), ("apps",), ("deployments",)))
    assert not covers(owned, Rule(("create",), ("",), ("pods",)))
    assert not covers(owned, Rule(("get",), ("*",), ("pods",)))
    assert not covers(owned, Rule(("get",), ("",), ("pods/log",)))
    named = [Rule(("get",), ("",), ("secrets",), ("a",))]
    assert covers(named, Rule(("get",), ("",), ("secrets",), ("a",)))
    assert not covers(named, Rule(("get",), ("",), ("secrets",)))
    urls = [Rule(("get",), non_resource_urls=("/metrics*",))]
    assert covers(urls, Rule(("get",), non_resource_urls=("/metrics/x",)))
    assert uncovered(urls, [Rule(("post",), non_resource_urls=("/metrics",))]) == [
        Rule(("post",), non_resource_urls=("/metrics",))
    ]
