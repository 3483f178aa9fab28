"""The snapshot's remembered spread counts stay equal to a fresh count as pods come and go."""

from __future__ import annotations

import random

from tasks.scheduler.framework import Snapshot, pod_info
from tasks.scheduler.framework.selectors import label_selector
from tests.scheduler.objects import node, pod

ZONE = "topology.kubernetes.io/zone"


def _fresh(snap: Snapshot, selector: object, namespace: str = "default") -> dict[str, int]:
    counts: dict[str, int] = {}
    for n in snap.nodes:
        if ZONE in n.labels:
            hits = sum(1 for p in n.pods.values() if p.namespace == namespace and selector.matches(p.labels))  # type: ignore[attr-defined]
            counts[n.labels[ZONE]] = counts.get(n.labels[ZONE], 0) + hits
    return counts


def test_counts_follow_adds_moves_and_removals() -> None:
    nodes = [node(f"n{i}", labels={ZONE: f"z{i % 3}"} if i % 7 else {}) for i in range(30)]
    snap = Snapshot.from_objects(nodes)
    selector = label_selector({"matchLabels": {"app": "web"}})
    assert snap.matching_per_domain("default", selector, ZONE, (ZONE,)) == {"z0": 0, "z1": 0, "z2": 0}
    rng = random.Random(7)
    placed: list[str] = []
    for i in range(300):
        roll = rng.random()
        if placed and roll < 0.25:
            snap.remove_pod(placed.pop(rng.randrange(len(placed))))
        elif placed and roll < 0.4:  # move a pod to another node
            snap.add_pod(f"n{rng.randrange(30)}", snap.by_name[snap.pod_node[placed[0]]].pods[placed[0]])
        else:
            labels = {"app": "web"} if rng.random() < 0.6 else {"app": "db"}
            info = pod_info(pod(f"p{i}", labels=labels))
            snap.add_pod(f"n{rng.randrange(30)}", info)
            placed.append(info.key)
        remembered = snap.matching_per_domain("default", selector, ZONE, (ZONE,))
        assert remembered == _fresh(snap, selector)
    assert sum(remembered.values()) > 0


def test_a_returned_count_is_a_copy() -> None:
    snap = Snapshot.from_objects([node("a", labels={ZONE: "z"})])
    selector = label_selector({"matchLabels": {"app": "web"}})
    first = snap.matching_per_domain("default", selector, ZONE, (ZONE,))
    first["z"] = 99
    snap.add_pod("a", pod("p", labels={"app": "web"}))
    assert snap.matching_per_domain("default", selector, ZONE, (ZONE,)) == {"z": 1}
