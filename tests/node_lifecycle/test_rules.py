"""The pure rules behind the node lifecycle controllers: toleration matching and eviction times,
taints wanted for a Ready status, free pod ranges, budget arithmetic, default tolerations."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta

import pytest

from cluster.registry.admission import add_default_tolerations
from tasks.controllers.disruption import scaled
from tasks.controllers.nodeipam import RangeFull, next_free
from tasks.controllers.nodelifecycle import wanted_taints
from tasks.controllers.taint_eviction import evict_at, tolerates

NOW = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)
UNREACHABLE = {
    "key": "node.kubernetes.io/unreachable",
    "effect": "NoExecute",
    "timeAdded": "2025-01-01T11:59:58Z",
}


def pod(*tolerations: dict) -> dict:
    return {"metadata": {"name": "p"}, "spec": {"tolerations": list(tolerations)}}


def test_toleration_matching() -> None:
    assert tolerates({"operator": "Exists"}, UNREACHABLE)
    assert tolerates({"key": UNREACHABLE["key"], "operator": "Exists", "effect": "NoExecute"}, UNREACHABLE)
    assert not tolerates(
        {"key": UNREACHABLE["key"], "operator": "Exists", "effect": "NoSchedule"}, UNREACHABLE
    )
    assert tolerates({"key": "k", "value": "v"}, {"key": "k", "value": "v", "effect": "NoExecute"})
    assert not tolerates({"key": "k", "value": "w"}, {"key": "k", "value": "v", "effect": "NoExecute"})


def test_eviction_time_follows_the_smallest_toleration_seconds() -> None:
    assert evict_at(pod(), [UNREACHABLE], NOW) == NOW  # not tolerated: now
    forever = {"key": UNREACHABLE["key"], "operator": "Exists"}
    assert evict_at(pod(forever), [UNREACHABLE], NOW) is None
    short = {**forever, "tolerationSeconds": 5}
    assert evict_at(pod(short), [UNREACHABLE], NOW) == NOW + timedelta(seconds=3)
    assert evict_at(pod(short, {**forever, "tolerationSeconds": 1}), [UNREACHABLE], NOW) == NOW - timedelta(
        seconds=1
    )


def test_taints_follow_the_ready_condition_and_keep_their_time() -> None:
    node = {"spec": {"taints": [{"key": "user", "effect": "NoSchedule"}]}, "status": {"conditions": []}}
    node["status"]["conditions"] = [{"type": "Ready", "status": "Unknown"}]
    taints = wanted_taints(node, NOW)
    keys = {(t["key"], t["effect"]) for t in taints}
    assert keys == {
        ("user", "NoSchedule"),
        ("node.kubernetes.io/unreachable", "NoSchedule"),
        ("node.kubernetes.io/unreachable", "NoExecute"),
    }
    node["spec"]["taints"] = taints
    assert wanted_taints(node, NOW + timedelta(minutes=1)) == taints  # timeAdded kept
    node["status"]["conditions"] = [{"type": "Ready", "status": "False"}]
    assert {t["key"] for t in wanted_taints(node, NOW)} == {"user", "node.kubernetes.io/not-ready"}
    node["status"]["conditions"] = [{"type": "Ready", "status": "True"}]
    assert wanted_taints(node, NOW) == [{"key": "user", "effect": "NoSchedule"}]


def test_next_free_pod_range() -> None:
    net = ipaddress.ip_network("10.244.0.0/22")
    assert next_free(net, 24, set()) == "10.244.0.0/24"
    assert next_free(net, 24, {"10.244.0.0/24", "10.128.0.0/24", "10.244.2.0/24"}) == "10.244.1.0/24"
    with pytest.raises(RangeFull):
        next_free(net, 24, {"10.244.0.0/23", "10.244.2.0/23"})


def test_percentages_round_as_kubernetes_does() -> None:
    assert scaled(2, 10, round_up=True) == 2
    assert scaled("33%", 3, round_up=True) == 1
    assert scaled("34%", 3, round_up=True) == 2
    assert scaled("50%", 3, round_up=False) == 1


def test_default_tolerations_are_added_once() -> None:
    p = {"spec": {"containers": []}}
    add_default_tolerations(p)
    assert [(t["key"], t["tolerationSeconds"]) for t in p["spec"]["tolerations"]] == [
        ("node.kubernetes.io/not-ready", 300),
        ("node.kubernetes.io/unreachable", 300),
    ]
    everything = {"spec": {"tolerations": [{"operator": "Exists"}]}}
    add_default_tolerations(everything)
    assert everything["spec"]["tolerations"] == [{"operator": "Exists"}]
