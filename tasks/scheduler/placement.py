"""One scheduling pass: order the pods, place gangs whole, place the rest one by one."""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from tasks.scheduler.config import load_profiles, profile_for
from tasks.scheduler.framework import (
    GangFailure,
    Profile,
    Snapshot,
    group_key,
    pod_info,
    schedule_gang,
    schedule_one,
)
from tasks.scheduler.framework.podinfo import GROUP_ANNOTATION

Obj = dict[str, Any]


@dataclass
class Decision:
    """Where a pod goes (``node``), or why not (``message``) and what preemption offers."""

    node: str | None
    message: str = ""
    nominated: str | None = None
    victims: list[Obj] = field(default_factory=list)


def profiles() -> dict[str, Profile]:
    return load_profiles()


def snapshot(nodes: Iterable[Obj], pods: Iterable[Obj]) -> Snapshot:
    return Snapshot.from_objects(nodes, pods)


def place(
    profiles: dict[str, Profile], pods: list[Obj], snap: Snapshot, pending: Iterable[Obj], rng: random.Random
) -> list[tuple[Obj, Decision]]:
    """Decisions for ``pods`` (and for the other pending members of their gangs, from ``pending``).

    Pods meant for another scheduler are left out. Placements are assumed in ``snap`` as they are
    made, so later pods of the pass see them.
    """
    mine = [(p, profile_for(profiles, p)) for p in pods]
    ordered = sorted(
        ((p, prof, pod_info(p)) for p, prof in mine if prof is not None),
        key=lambda t: t[1].queue_sort.sort_key(t[2]),
    )
    gangs: dict[str, list[Obj]] = {}
    for pod in pending:
        if (pod.get("metadata", {}).get("annotations") or {}).get(GROUP_ANNOTATION):
            gangs.setdefault(group_key(pod_info(pod)), []).append(pod)
    out: list[tuple[Obj, Decision]] = []
    done: set[str] = set()
    for pod, profile, info in ordered:
        if info.key in done:
            continue
        group = group_key(info)
        if group:
            members = gangs.get(group) or [pod]
            done.update(pod_info(m).key for m in members)
            out.extend(_place_gang(profile, members, snap, rng))
            continue
        result = schedule_one(profile, info, snap, rng)
        if result.node_name:
            snap.add_pod(result.node_name, info)
            out.append((pod, Decision(result.node_name)))
        else:
            victims = [v.pod for v in result.victims]
            out.append((pod, Decision(None, result.message, result.nominated_node, victims)))
    return out


def _place_gang(
    profile: Profile, members: list[Obj], snap: Snapshot, rng: random.Random
) -> list[tuple[Obj, Decision]]:
    result = schedule_gang(profile, members, snap, rng)
    if isinstance(result, GangFailure):
        return [(m, Decision(None, result.message)) for m in members]
    by_key = {pod_info(m).key: m for m in members}
    return [(by_key[key], Decision(node)) for key, node in result.items()]
