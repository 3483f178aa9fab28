"""DefaultPreemption: which node and which victims it offers when a higher-priority pod does not fit."""

from __future__ import annotations

import random

from tasks.scheduler.framework import Snapshot, schedule_one
from tests.scheduler.objects import node, pod


def _run(profile, incoming, nodes, placed):
    snap = Snapshot.from_objects(nodes, placed)
    before = {n.name: (n.req_cpu, len(n.pods)) for n in snap.nodes}
    res = schedule_one(profile, incoming, snap, random.Random(3))
    assert {n.name: (n.req_cpu, len(n.pods)) for n in snap.nodes} == before  # snapshot restored
    return res


def test_evicts_minimal_lowest_priority_set(profile):
    placed = [
        pod("low1", cpu="1", priority=1, node_name="a"),
        pod("low2", cpu="1", priority=2, node_name="a"),
        pod("mid", cpu="2", priority=50, node_name="a"),
    ]
    res = _run(profile, pod("urgent", cpu="1", priority=100), [node("a", cpu="4")], placed)
    assert res.node_name is None and res.nominated_node == "a"
    assert [v.name for v in res.victims] == ["low1"]


def test_prefers_node_whose_victims_have_lower_priority(profile):
    placed = [pod("x", cpu="4", priority=10, node_name="a"), pod("y", cpu="4", priority=5, node_name="b")]
    res = _run(profile, pod("urgent", cpu="2", priority=100), [node("a"), node("b")], placed)
    assert res.nominated_node == "b" and [v.name for v in res.victims] == ["y"]


def test_prefers_fewer_victims_at_equal_priority(profile):
    placed = [
        pod("a1", cpu="2", priority=1, node_name="a"),
        pod("a2", cpu="2", priority=1, node_name="a"),
        pod("b1", cpu="4", priority=1, node_name="b"),
    ]
    res = _run(profile, pod("urgent", cpu="3", priority=100), [node("a"), node("b")], placed)
    # a would need both a1 and a2 gone (sum of priorities higher), b only b1
    assert res.nominated_node == "b" and [v.name for v in res.victims] == ["b1"]


def test_never_evicts_equal_or_higher_priority(profile):
    placed = [pod("peer", cpu="4", priority=100, node_name="a")]
    res = _run(profile, pod("urgent", cpu="1", priority=100), [node("a")], placed)
    assert res.nominated_node is None
    assert res.message.endswith(
        "preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod."
    )


def test_does_not_preempt_for_unresolvable_reasons(profile):
    placed = [pod("low", cpu="4", priority=1, node_name="a")]
    res = _run(profile, pod("urgent", cpu="1", priority=100, nodeSelector={"x": "y"}), [node("a")], placed)
    assert res.nominated_node is None
    assert "1 Preemption is not helpful for scheduling" in res.message


def test_preemption_respects_other_filters(profile):
    # evicting frees the port on a; b has room but its port is held by a higher-priority pod
    web = [{"name": "c", "image": "x", "ports": [{"containerPort": 80, "hostPort": 80}]}]
    placed = [
        pod("low", priority=1, node_name="a", containers=web),
        pod("high", priority=1000, node_name="b", containers=web),
    ]
    res = _run(profile, pod("urgent", priority=100, containers=web), [node("a"), node("b")], placed)
    assert res.nominated_node == "a" and [v.name for v in res.victims] == ["low"]
