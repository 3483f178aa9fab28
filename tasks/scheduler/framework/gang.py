"""Gang scheduling: the pods of one group (``kubeq.io/pod-group``) are placed all together or not at all."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from tasks.scheduler.framework.algorithm import schedule_one
from tasks.scheduler.framework.diagnosis import Diagnosis
from tasks.scheduler.framework.podinfo import PodInfo
from tasks.scheduler.framework.profile import Profile
from tasks.scheduler.framework.snapshot import Snapshot, as_pod_info


@dataclass
class GangFailure:
    """Why a group was not placed; ``diagnosis`` is the first member that did not fit (if any)."""

    group: str
    message: str
    pod_key: str | None = None
    diagnosis: Diagnosis | None = None


def group_key(pod: PodInfo) -> str:
    """``namespace/group`` for a grouped pod, else ''."""
    return f"{pod.namespace}/{pod.group}" if pod.group else ""


def schedule_gang(
    profile: Profile,
    pods: list[dict[str, Any] | PodInfo],
    snapshot: Snapshot,
    rng: random.Random | None = None,
) -> dict[str, str] | GangFailure:
    """Place every pod of ``pods`` (one group's pending members) or none.

    Members are tried in queue order, each assumed in the snapshot before the next, so later members
    see earlier ones (resources, ports, affinity, spread). On success the placements stay assumed in
    the snapshot and ``{pod_key: node_name}`` is returned; on failure every tentative placement is
    rolled back and a ``GangFailure`` is returned. Members already placed in the snapshot count
    toward ``kubeq.io/pod-group-min-member``. No preemption is attempted for gang members.
    """
    rng = rng or random.Random()
    infos = [as_pod_info(p) for p in pods]
    if not infos:
        return {}
    group = group_key(infos[0])
    keys = {p.key for p in infos}
    want = max(p.group_min for p in infos)
    placed_before = sum(
        1 for p, _ in snapshot.pods() if p.group and group_key(p) == group and p.key not in keys
    ) if want else 0  # fmt: skip
    if want and len(infos) + placed_before < want:
        return GangFailure(
            group, f"pod group {group} has {len(infos) + placed_before} of {want} required members"
        )
    placed: dict[str, str] = {}
    previous: dict[str, tuple[str, PodInfo]] = {}
    for info in sorted(infos, key=profile.queue_sort.sort_key):
        result = schedule_one(profile, info, snapshot, rng, post_filter=False)
        if result.node_name is None:
            _rollback(snapshot, placed, previous)
            msg = (
                f"pod group {group}: {len(placed)}/{len(infos)} members placed; {info.key}: {result.message}"
            )
            return GangFailure(group, msg, info.key, result.diagnosis)
        old_node = snapshot.pod_node.get(info.key)
        if old_node is not None:
            previous[info.key] = (old_node, snapshot.by_name[old_node].pods[info.key])
        snapshot.add_pod(result.node_name, info)
        placed[info.key] = result.node_name
    return placed


def _rollback(snapshot: Snapshot, placed: dict[str, str], previous: dict[str, tuple[str, PodInfo]]) -> None:
    for key in placed:
        snapshot.remove_pod(key)
        if key in previous:
            node, info = previous[key]
            snapshot.add_pod(node, info)
