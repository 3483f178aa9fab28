"""``schedule_one``: kube-scheduler's cycle for one pod over a snapshot, as a pure function."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import chain
from typing import Any

from tasks.scheduler.framework.diagnosis import NO_NODES_MESSAGE, Diagnosis
from tasks.scheduler.framework.interfaces import CycleState
from tasks.scheduler.framework.nodeinfo import NodeInfo
from tasks.scheduler.framework.podinfo import PodInfo
from tasks.scheduler.framework.profile import Profile
from tasks.scheduler.framework.snapshot import Snapshot, as_pod_info
from tasks.scheduler.framework.status import SUCCESS, Code, Status, error

MIN_FEASIBLE_NODES = 100
MIN_FEASIBLE_PERCENTAGE = 5


def num_feasible_nodes_to_find(percentage: int, num_nodes: int) -> int:
    """How many feasible nodes to look for before scoring (Kubernetes' adaptive rule when 0)."""
    if num_nodes < MIN_FEASIBLE_NODES or percentage >= 100:
        return num_nodes
    if percentage <= 0:
        percentage = max(50 - num_nodes // 125, MIN_FEASIBLE_PERCENTAGE)
    return max(num_nodes * percentage // 100, MIN_FEASIBLE_NODES)


@dataclass
class ScheduleResult:
    """The cycle's outcome. ``node_name`` is set on success; on failure ``diagnosis`` says why and
    ``nominated_node``/``victims`` carry what preemption offers (evict victims, then nominate)."""

    node_name: str | None
    status: Status
    evaluated: int = 0
    feasible: int = 0
    diagnosis: Diagnosis | None = None
    nominated_node: str | None = None
    victims: list[PodInfo] = field(default_factory=list)
    state: CycleState | None = None
    pod: PodInfo | None = None

    @property
    def message(self) -> str:
        return self.diagnosis.message() if self.diagnosis else self.status.message


def run_pre_filter(profile: Profile, state: CycleState, pod: PodInfo) -> Status | None:
    """PreFilter in order; records skips in ``state``; returns the first rejection or error."""
    return _run_pre(profile.pre_filter, lambda pl: pl.pre_filter(state, pod), state.skip_filter)


def _run_pre(plugins: list[Any], call: Callable[[Any], Status | None], skipped: set[str]) -> Status | None:
    """Run a pre-extension point: SKIP results join ``skipped``; the first other failure is returned."""
    for pl in plugins:
        st = call(pl)
        if st is None or st.code == Code.SUCCESS:
            continue
        if st.code == Code.SKIP:
            skipped.add(pl.name)
            continue
        return st.with_plugin(pl.name)
    return None


def run_filters(profile: Profile, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
    """Every non-skipped Filter on one node; the first non-success Status (tagged with its plugin)."""
    for pl in profile.filter:
        if pl.name in state.skip_filter:
            continue
        st = pl.filter(state, pod, node)
        if st is not None:
            return st.with_plugin(pl.name)
    return None


def fits(profile: Profile, pod: PodInfo, snapshot: Snapshot, node: NodeInfo) -> Status | None:
    """A fresh PreFilter + Filter of ``pod`` against one node (what-if checks: preemption, gangs)."""
    state = CycleState(snapshot, profile)
    return run_pre_filter(profile, state, pod) or run_filters(profile, state, pod, node)


def _find_feasible(
    profile: Profile, state: CycleState, pod: PodInfo, snapshot: Snapshot, diag: Diagnosis
) -> tuple[list[NodeInfo], int, Status | None]:
    nodes = snapshot.nodes
    n = len(nodes)
    want = num_feasible_nodes_to_find(profile.percentage_of_nodes_to_score, n)
    filters = [(pl.name, pl.filter) for pl in profile.filter if pl.name not in state.skip_filter]
    start = snapshot.next_start % n
    feasible: list[NodeInfo] = []
    evaluated = 0
    for idx in chain(range(start, n), range(start)):
        node = nodes[idx]
        evaluated += 1
        for name, f in filters:
            st = f(state, pod, node)
            if st is not None:
                if st.code == Code.ERROR:
                    return [], evaluated, st.with_plugin(name)
                diag.record(node.name, st.with_plugin(name))
                break
        else:
            feasible.append(node)
            if len(feasible) >= want:
                break
    snapshot.next_start = (start + evaluated) % n
    return feasible, evaluated, None


def _scores(profile: Profile, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> list[int] | Status:
    failed = _run_pre(profile.pre_score, lambda pl: pl.pre_score(state, pod, nodes), state.skip_score)
    if failed is not None:
        return failed
    totals = [0] * len(nodes)
    for pl, weight in profile.score:
        if pl.name in state.skip_score:
            continue
        many = getattr(pl, "score_nodes", None)  # a plugin may score every node in one call
        scores = (
            many(state, pod, nodes) if many is not None else [pl.score(state, pod, node) for node in nodes]
        )
        normalize = getattr(pl, "normalize", None)
        if normalize is not None:
            normalize(state, pod, nodes, scores)
        totals = [t + s * weight for t, s in zip(totals, scores, strict=True)]
    return totals


def schedule_one(
    profile: Profile,
    pod: dict[str, Any] | PodInfo,
    snapshot: Snapshot,
    rng: random.Random | None = None,
    post_filter: bool = True,
) -> ScheduleResult:
    """Pick a node for ``pod``: PreFilter, Filter (adaptive sample from a rotating start), PreScore,
    weighted Score, highest total with a random tie-break; PostFilter (preemption) on failure.

    The snapshot is not changed except for its rotating start index; the caller assumes the
    placement with ``snapshot.add_pod`` once it commits to it. ``post_filter=False`` skips preemption.
    """
    rng = rng or random.Random()
    info = as_pod_info(pod)
    state = CycleState(snapshot, profile)
    n = len(snapshot.nodes)
    diag = Diagnosis(n)
    if n == 0:
        return ScheduleResult(None, Status(Code.UNSCHEDULABLE, (NO_NODES_MESSAGE,)), diagnosis=diag, pod=info)
    st = run_pre_filter(profile, state, info)
    if st is not None:
        if st.code == Code.ERROR:
            return ScheduleResult(None, st, state=state, pod=info)
        diag.pre_filter_msg = st.message
        diag.unschedulable_plugins.add(st.plugin)
        for node in snapshot.nodes:
            diag.node_status[node.name] = st
        return _fail(profile, state, info, diag, 0, post_filter)
    nominated = snapshot.by_name.get(info.nominated_node) if info.nominated_node else None
    if nominated is not None and run_filters(profile, state, info, nominated) is None:
        return ScheduleResult(nominated.name, SUCCESS, 1, 1, state=state, pod=info)
    feasible, evaluated, err = _find_feasible(profile, state, info, snapshot, diag)
    if err is not None:
        return ScheduleResult(None, err, evaluated, state=state, pod=info)
    if not feasible:
        return _fail(profile, state, info, diag, evaluated, post_filter)
    if len(feasible) == 1:
        return ScheduleResult(feasible[0].name, SUCCESS, evaluated, 1, state=state, pod=info)
    totals = _scores(profile, state, info, feasible)
    if isinstance(totals, Status):
        return ScheduleResult(None, totals, evaluated, len(feasible), state=state, pod=info)
    best = max(totals)
    ties = [i for i, t in enumerate(totals) if t == best]
    chosen = feasible[ties[0] if len(ties) == 1 else rng.choice(ties)]
    return ScheduleResult(chosen.name, SUCCESS, evaluated, len(feasible), state=state, pod=info)


def _fail(
    profile: Profile, state: CycleState, pod: PodInfo, diag: Diagnosis, evaluated: int, post_filter: bool
) -> ScheduleResult:
    result = ScheduleResult(None, SUCCESS, evaluated, 0, diag, state=state, pod=pod)
    for pl in profile.post_filter if post_filter else ():
        post = pl.post_filter(state, pod, diag)
        if post.status.code == Code.SUCCESS and post.nominated_node:
            result.nominated_node, result.victims = post.nominated_node, post.victims
            break
        if post.status.rejected and post.status.message:
            diag.post_filter_msg = post.status.message
    result.status = Status(Code.UNSCHEDULABLE, (diag.message(),), "")
    return result


def run_reserve(profile: Profile, state: CycleState, pod: PodInfo, node_name: str) -> Status | None:
    """Reserve in order; on a failure, Unreserve everything (reverse order) and return the Status."""
    for pl in profile.reserve:
        st = pl.reserve(state, pod, node_name)
        if st is not None and st.code != Code.SUCCESS:
            run_unreserve(profile, state, pod, node_name)
            return st.with_plugin(pl.name)
    return None


def run_unreserve(profile: Profile, state: CycleState, pod: PodInfo, node_name: str) -> None:
    for pl in reversed(profile.reserve):
        pl.unreserve(state, pod, node_name)


def run_bind(profile: Profile, state: CycleState, pod: PodInfo, node_name: str) -> dict[str, Any] | Status:
    """The first binder's answer that is not SKIP: a v1.Binding for the runtime to post, or an error."""
    for pl in profile.bind:
        out = pl.bind(state, pod, node_name)
        if isinstance(out, Status) and out.code == Code.SKIP:
            continue
        return out
    return error("no bind plugin bound the pod")
