"""schedule_one as a whole: message form, adaptive node sampling, rotation, profiles, binding."""

from __future__ import annotations

import random

import pytest

from tasks.scheduler.config import load_profiles, profile_for
from tasks.scheduler.framework import (
    Code,
    Profile,
    Snapshot,
    Status,
    num_feasible_nodes_to_find,
    pod_info,
    run_bind,
    run_reserve,
    schedule_one,
)
from tests.scheduler.objects import node, pod

UNREACHABLE = {"key": "node.kubernetes.io/unreachable", "effect": "NoExecute"}


def test_failure_message_form_counts_and_sorts_reasons(place):
    nodes = [node("a", cpu="1"), node("b", cpu="1"), node("c", taints=[UNREACHABLE])]
    res = place(pod("p", cpu="2"), nodes)
    assert res.node_name is None and res.status.code == Code.UNSCHEDULABLE
    assert res.message == (
        "0/3 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/unreachable: }, "
        "2 Insufficient cpu. preemption: 0/3 nodes are available: 1 Preemption is not helpful for scheduling, "
        "2 No preemption victims found for incoming pod."
    )
    assert res.diagnosis.reasons() == {
        "Insufficient cpu": 2,
        "node(s) had untolerated taint {node.kubernetes.io/unreachable: }": 1,
    }
    assert res.diagnosis.unschedulable_plugins == {"NodeResourcesFit", "TaintToleration"}
    assert res.status.message == res.message


def test_preemption_policy_never_message(place):
    res = place(pod("p", cpu="2", preemptionPolicy="Never"), [node("a", cpu="1")])
    assert res.message == (
        "0/1 nodes are available: 1 Insufficient cpu. preemption: not eligible due to preemptionPolicy=Never."
    )


def test_no_nodes(place):
    assert place(pod("p"), []).message == "no nodes available to schedule pods"


@pytest.mark.parametrize(
    ("nodes", "expected"),
    [
        (1, 1),
        (99, 99),
        (100, 100),
        (150, 100),
        (200, 100),
        (1000, 420),
        (5000, 500),
        (6000, 300),
        (20000, 1000),
    ],
)
def test_adaptive_percentage_of_nodes_to_score(nodes, expected):
    assert num_feasible_nodes_to_find(0, nodes) == expected


def test_configured_percentage():
    assert num_feasible_nodes_to_find(30, 1000) == 300
    assert num_feasible_nodes_to_find(1, 1000) == 100
    assert num_feasible_nodes_to_find(100, 1000) == 1000


def test_filter_stops_after_enough_feasible_nodes_and_rotates(profile):
    snap = Snapshot.from_objects([node(f"n{i}") for i in range(1000)])
    first = schedule_one(profile, pod("p"), snap, random.Random(1))
    assert (first.evaluated, first.feasible) == (420, 420)
    assert snap.next_start == 420
    second = schedule_one(profile, pod("q"), snap, random.Random(1))
    assert second.evaluated == 420 and snap.next_start == 840
    schedule_one(profile, pod("r"), snap, random.Random(1))
    assert snap.next_start == (840 + 420) % 1000


def test_infeasible_nodes_are_evaluated_beyond_the_sample(profile):
    nodes = [node(f"full{i}", cpu="100m") for i in range(300)] + [node("roomy")]
    snap = Snapshot.from_objects(nodes)
    res = schedule_one(profile, pod("p", cpu="1"), snap, random.Random(1))
    assert res.node_name == "roomy" and res.evaluated == 301 and res.feasible == 1


def test_profiles_selected_by_scheduler_name(profiles):
    assert profile_for(profiles, pod("p")).scheduler_name == "default-scheduler"
    assert (
        profile_for(profiles, pod("p", schedulerName="bin-packing-scheduler")).scheduler_name
        == "bin-packing-scheduler"
    )
    assert profile_for(profiles, pod("p", schedulerName="someone-else")) is None
    bin_packing = profiles["bin-packing-scheduler"]
    assert bin_packing.plugin("NodeResourcesBalancedAllocation") is None
    assert bin_packing.plugin("NodeResourcesFit").strategy == "MostAllocated"
    weights = {p.name: w for p, w in profiles["default-scheduler"].score}
    assert weights == {
        "TaintToleration": 3,
        "NodeAffinity": 2,
        "NodeResourcesFit": 1,
        "PodTopologySpread": 2,
        "InterPodAffinity": 2,
        "NodeResourcesBalancedAllocation": 1,
        "ImageLocality": 1,
    }


def test_profiles_from_json_file(tmp_path):
    path = tmp_path / "sched.json"
    path.write_text('{"percentageOfNodesToScore": 50, "profiles": [{"schedulerName": "fast"}]}')
    profiles = load_profiles(path)
    assert list(profiles) == ["fast"] and profiles["fast"].percentage_of_nodes_to_score == 50
    path.write_text('{"profiles": [{"plugins": {"multiPoint": {"enabled": [{"name": "Nope"}]}}}]}')
    with pytest.raises(ValueError, match="unknown plugin"):
        load_profiles(path)


def test_nominated_node_is_tried_first(profile):
    snap = Snapshot.from_objects([node(f"n{i}") for i in range(10)])
    p = pod("p")
    p["status"]["nominatedNodeName"] = "n7"
    res = schedule_one(profile, p, snap, random.Random(1))
    assert res.node_name == "n7" and res.evaluated == 1


def test_bind_returns_binding_and_reserve_passes(profile):
    snap = Snapshot.from_objects([node("a")])
    res = schedule_one(profile, pod("p", namespace="team"), snap, random.Random(1))
    assert run_reserve(profile, res.state, res.pod, res.node_name) is None
    assert run_bind(profile, res.state, res.pod, res.node_name) == {
        "apiVersion": "v1",
        "kind": "Binding",
        "metadata": {"name": "p", "namespace": "team", "uid": "uid-p"},
        "target": {"apiVersion": "v1", "kind": "Node", "name": "a"},
    }


def test_snapshot_add_and_remove_pod_are_inverse():
    snap = Snapshot.from_objects([node("a", cpu="2"), node("b", cpu="2")])
    info = pod_info(pod("p", cpu="1500m", memory="1Gi"))
    snap.add_pod("a", info)
    a = snap.by_name["a"]
    assert (a.req_cpu, a.req_memory, len(a.pods)) == (1500, 1024**3, 1)
    snap.add_pod("b", info)  # moving a pod takes it off its old node
    assert a.req_cpu == 0 and snap.by_name["b"].req_cpu == 1500
    assert snap.remove_pod(info.key) is info
    assert snap.by_name["b"].req_cpu == 0 and snap.remove_pod(info.key) is None


def test_assumed_pods_fill_nodes_within_a_batch(profile):
    snap = Snapshot.from_objects([node("a", cpu="1"), node("b", cpu="1")])
    placed = []
    for i in range(3):
        res = schedule_one(profile, pod(f"p{i}", cpu="600m"), snap, random.Random(i))
        if res.node_name:
            snap.add_pod(res.node_name, res.pod)
            placed.append(res.node_name)
    assert sorted(placed) == ["a", "b"]


class _Quota:
    """A custom Reserve plugin: admits ``limit`` pods, then refuses."""

    name = "Quota"

    def __init__(self, limit: int, log: list[str]) -> None:
        self.limit, self.log = limit, log

    def reserve(self, state, pod, node_name):
        self.log.append(f"reserve {self.name} {pod.name}")
        if self.limit <= 0:
            return Status(Code.UNSCHEDULABLE, ("quota exhausted",))
        self.limit -= 1
        return None

    def unreserve(self, state, pod, node_name):
        self.log.append(f"unreserve {self.name} {pod.name}")


def test_custom_plugins_join_their_extension_points():
    from tasks.scheduler.plugins import REGISTRY

    log: list[str] = []
    first, second = _Quota(5, log), _Quota(0, log)
    second.name = "Quota2"
    plugins = [
        (REGISTRY[n](None), w)
        for n, w in (("PrioritySort", 0), ("NodeResourcesFit", 1), ("DefaultBinder", 0))
    ]
    prof = Profile.from_plugins("custom", plugins + [(first, 0), (second, 0)])
    assert [p.name for p in prof.reserve] == ["Quota", "Quota2"]
    res = schedule_one(prof, pod("p"), Snapshot.from_objects([node("a")]), random.Random(1))
    st = run_reserve(prof, res.state, res.pod, res.node_name)
    assert st.code == Code.UNSCHEDULABLE and st.plugin == "Quota2"
    assert log == ["reserve Quota p", "reserve Quota2 p", "unreserve Quota2 p", "unreserve Quota p"]
