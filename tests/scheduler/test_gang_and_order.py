"""Gang scheduling (all or nothing) and the deadline-aware queue order."""

from __future__ import annotations

import random

from tasks.scheduler.framework import GangFailure, Snapshot, pod_info, schedule_gang
from tests.scheduler.objects import node, pod


def _member(name, cpu="1", group="train", min_member="3", **kw):
    ann = {"kubeq.io/pod-group": group, "kubeq.io/pod-group-min-member": min_member}
    return pod(name, cpu=cpu, annotations=ann, **kw)


def test_gang_places_every_member_and_keeps_them_assumed(profile):
    snap = Snapshot.from_objects([node("a", cpu="2"), node("b", cpu="2")])
    out = schedule_gang(profile, [_member(f"w{i}") for i in range(4)], snap, random.Random(1))
    assert isinstance(out, dict) and len(out) == 4
    assert sorted(out.values()) == ["a", "a", "b", "b"]
    assert snap.by_name["a"].req_cpu == 2000 and snap.by_name["b"].req_cpu == 2000


def test_gang_is_all_or_nothing(profile):
    snap = Snapshot.from_objects([node("a", cpu="2"), node("b", cpu="2")])
    out = schedule_gang(profile, [_member(f"w{i}", min_member="5") for i in range(5)], snap, random.Random(1))
    assert isinstance(out, GangFailure)
    assert out.group == "default/train" and "4/5 members placed" in out.message
    assert "Insufficient cpu" in out.message
    assert all(not n.pods and n.req_cpu == 0 for n in snap.nodes)  # rolled back


def test_gang_waits_for_min_members(profile):
    snap = Snapshot.from_objects([node("a", cpu="8")])
    out = schedule_gang(profile, [_member("w0"), _member("w1")], snap, random.Random(1))
    assert (
        isinstance(out, GangFailure) and out.message == "pod group default/train has 2 of 3 required members"
    )
    # a member already bound counts toward the minimum
    snap.add_pod("a", _member("w2", node_name="a"))
    assert set(schedule_gang(profile, [_member("w0"), _member("w1")], snap, random.Random(1))) == {
        "default/w0",
        "default/w1",
    }


def test_gang_members_see_each_other(profile):
    anti = {
        "podAntiAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [
                {"labelSelector": {"matchLabels": {"job": "t"}}, "topologyKey": "kubernetes.io/hostname"}
            ]
        }
    }
    members = [_member(f"w{i}", labels={"job": "t"}, affinity=anti, min_member="2") for i in range(3)]
    snap = Snapshot.from_objects([node("a"), node("b")])
    assert isinstance(schedule_gang(profile, members, snap, random.Random(1)), GangFailure)
    snap = Snapshot.from_objects([node("a"), node("b"), node("c")])
    assert sorted(schedule_gang(profile, members, snap, random.Random(1)).values()) == ["a", "b", "c"]


def test_queue_order_priority_then_deadline_then_queue_time(profile):
    sort = profile.queue_sort
    early = "2024-01-01T00:00:00Z"
    later = "2024-01-01T00:05:00Z"
    pods = [
        pod_info(pod("old-no-deadline", created=early)),
        pod_info(
            pod("job-deadline-soon", created=later, annotations={"kubeq.io/deadline": "2024-01-01T00:10:00Z"})
        ),
        pod_info(pod("pod-deadline-later", created=early, activeDeadlineSeconds=3600)),
        pod_info(pod("new-no-deadline", created=later)),
        pod_info(pod("important", created=later, priority=1000)),
    ]
    ordered = [p.name for p in sorted(pods, key=sort.sort_key)]
    assert ordered == [
        "important",
        "job-deadline-soon",
        "pod-deadline-later",
        "old-no-deadline",
        "new-no-deadline",
    ]
    assert sort.less(pods[1], pods[2]) and not sort.less(pods[2], pods[1])
    assert sort.less(pods[4], pods[1])


def test_queue_time_overrides_creation_time():
    a = pod_info(pod("a", created="2024-01-01T00:00:00Z"), queued_at=2e9)
    b = pod_info(pod("b", created="2024-06-01T00:00:00Z"))
    from tasks.scheduler.plugins.queue_sort import PrioritySort

    assert PrioritySort().less(b, a)


def test_earlier_of_both_deadlines_counts():
    p = pod_info(
        pod(
            "p",
            created="2024-01-01T00:00:00Z",
            activeDeadlineSeconds=60,
            annotations={"kubeq.io/deadline": "2024-01-02T00:00:00Z"},
        )
    )
    assert p.deadline == p.created + 60
