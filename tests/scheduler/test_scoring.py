"""Scoring plugins: the node each one prefers when everything else is equal."""

from __future__ import annotations

import random

from tasks.scheduler.config import parse_config
from tasks.scheduler.framework import Snapshot, schedule_one
from tests.scheduler.objects import node, pod


def test_least_allocated_prefers_emptier_node(place):
    placed = [pod("busy", cpu="3", memory="6Gi", node_name="a")]
    assert place(pod("p", cpu="500m", memory="512Mi"), [node("a"), node("b")], placed).node_name == "b"


def test_most_allocated_profile_packs(profiles):
    placed = [pod("busy", cpu="3", memory="6Gi", node_name="a")]
    snap = Snapshot.from_objects([node("a"), node("b")], placed)
    packed = pod("p", cpu="500m", memory="512Mi", schedulerName="bin-packing-scheduler")
    assert schedule_one(profiles["bin-packing-scheduler"], packed, snap, random.Random(1)).node_name == "a"


def test_resource_weights_from_config():
    doc = {
        "profiles": [
            {
                "schedulerName": "cpu-only",
                "plugins": {"multiPoint": {"disabled": [{"name": "NodeResourcesBalancedAllocation"}]}},
                "pluginConfig": [
                    {
                        "name": "NodeResourcesFit",
                        "args": {
                            "scoringStrategy": {
                                "type": "LeastAllocated",
                                "resources": [{"name": "cpu", "weight": 1}],
                            }
                        },
                    }
                ],
            }
        ]
    }
    prof = parse_config(doc)["cpu-only"]
    # a has less cpu in use but more memory in use: only cpu counts
    placed = [pod("x", cpu="1", memory="7Gi", node_name="a"), pod("y", cpu="3", node_name="b")]
    snap = Snapshot.from_objects([node("a"), node("b")], placed)
    assert schedule_one(prof, pod("p", cpu="100m"), snap, random.Random(1)).node_name == "a"


def test_balanced_allocation_prefers_even_use():
    doc = {
        "profiles": [
            {
                "plugins": {
                    "multiPoint": {
                        "disabled": [{"name": "NodeResourcesFit"}],
                        "enabled": [{"name": "NodeResourcesFit", "weight": 0}],
                    }
                }
            }
        ]
    }
    prof = parse_config(doc)["default-scheduler"]
    assert all(p.name != "NodeResourcesFit" for p, _ in prof.score)
    # a: cpu 50%, memory 0% after placing; b: 50% / 50%
    placed = [pod("m", memory="4Gi", node_name="b")]
    snap = Snapshot.from_objects([node("a"), node("b")], placed)
    assert schedule_one(prof, pod("p", cpu="2"), snap, random.Random(1)).node_name == "b"


def test_prefer_no_schedule_taint_scores_lower(place):
    soft = {"key": "k", "value": "v", "effect": "PreferNoSchedule"}
    for seed in range(5):
        assert place(pod(f"p{seed}"), [node("a", taints=[soft]), node("b")]).node_name == "b"
    tol = [{"key": "k", "operator": "Exists", "effect": "PreferNoSchedule"}]
    res = place(pod("p", tolerations=tol), [node("a", taints=[soft]), node("b", cpu="3")])
    assert res.node_name == "a"  # tolerated: the bigger node wins on resources


def test_preferred_node_affinity_weights(place):
    pref = {
        "nodeAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {
                    "weight": 10,
                    "preference": {
                        "matchExpressions": [{"key": "disk", "operator": "In", "values": ["ssd"]}]
                    },
                },
                {"weight": 80, "preference": {"matchExpressions": [{"key": "gpu", "operator": "Exists"}]}},
            ]
        }
    }
    nodes = [node("plain"), node("ssd", labels={"disk": "ssd"}), node("gpu", labels={"gpu": "1"})]
    assert place(pod("p", affinity=pref), nodes).node_name == "gpu"
    assert place(pod("p", affinity=pref), nodes[:2]).node_name == "ssd"


def test_image_locality_prefers_node_with_image(place):
    big = 500 * 1024 * 1024
    nodes = [node("cold"), node("warm", images=[("docker.io/ml/trainer:v1", big)])]
    assert place(pod("p", image="docker.io/ml/trainer:v1"), nodes).node_name == "warm"


def test_soft_topology_spread_prefers_emptier_domain(place):
    web = {"app": "web"}
    nodes = [node("a1", labels={"zone": "a"}), node("b1", labels={"zone": "b"})]
    placed = [pod("w1", labels=web, node_name="a1"), pod("w2", labels=web, node_name="a1")]
    c = {
        "maxSkew": 1,
        "topologyKey": "zone",
        "whenUnsatisfiable": "ScheduleAnyway",
        "labelSelector": {"matchLabels": web},
    }
    # a1 is emptier on resources only if we ignore the pods: they request nothing, so spread decides
    assert place(pod("w3", labels=web, topologySpreadConstraints=[c]), nodes, placed).node_name == "b1"


def _pref(kind, labels, weight=100, key="zone"):
    term = {
        "weight": weight,
        "podAffinityTerm": {"labelSelector": {"matchLabels": labels}, "topologyKey": key},
    }
    return {kind: {"preferredDuringSchedulingIgnoredDuringExecution": [term]}}


def test_preferred_pod_affinity_and_anti_affinity(place):
    nodes = [node("a1", labels={"zone": "a"}), node("b1", labels={"zone": "b"})]
    placed = [pod("cache", labels={"app": "cache"}, node_name="b1")]
    assert place(pod("p", affinity=_pref("podAffinity", {"app": "cache"})), nodes, placed).node_name == "b1"
    assert (
        place(pod("p", affinity=_pref("podAntiAffinity", {"app": "cache"})), nodes, placed).node_name == "a1"
    )


def test_existing_pods_preferred_affinity_attracts_new_pod(place):
    nodes = [node("a1", labels={"zone": "a"}), node("b1", labels={"zone": "b"})]
    placed = [
        pod("fan", labels={"app": "fan"}, node_name="a1", affinity=_pref("podAffinity", {"app": "star"}))
    ]
    assert place(pod("star", labels={"app": "star"}), nodes, placed).node_name == "a1"
