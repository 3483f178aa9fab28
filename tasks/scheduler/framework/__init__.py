"""The scheduling framework: data model, extension-point protocols, and the per-pod algorithm."""

from tasks.scheduler.framework.algorithm import (
    ScheduleResult,
    fits,
    num_feasible_nodes_to_find,
    run_bind,
    run_reserve,
    run_unreserve,
    schedule_one,
)
from tasks.scheduler.framework.diagnosis import Diagnosis
from tasks.scheduler.framework.gang import GangFailure, group_key, schedule_gang
from tasks.scheduler.framework.interfaces import CycleState, PostFilterResult
from tasks.scheduler.framework.nodeinfo import NodeInfo
from tasks.scheduler.framework.podinfo import PodInfo, pod_info
from tasks.scheduler.framework.profile import Profile
from tasks.scheduler.framework.snapshot import Snapshot
from tasks.scheduler.framework.status import Code, Status

__all__ = [
    "Code",
    "CycleState",
    "Diagnosis",
    "GangFailure",
    "NodeInfo",
    "PodInfo",
    "PostFilterResult",
    "Profile",
    "ScheduleResult",
    "Snapshot",
    "Status",
    "fits",
    "group_key",
    "num_feasible_nodes_to_find",
    "pod_info",
    "run_bind",
    "run_reserve",
    "run_unreserve",
    "schedule_gang",
    "schedule_one",
]
