"""One small protocol per extension point, and ``CycleState``: what one pod's cycle carries.

Plugins are classes with a ``name``; a plugin joins every extension point whose method it has.
Filter-like methods return ``None`` for Success (the common case, free of allocation) or a ``Status``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from tasks.scheduler.framework.nodeinfo import NodeInfo
from tasks.scheduler.framework.podinfo import PodInfo
from tasks.scheduler.framework.snapshot import Snapshot
from tasks.scheduler.framework.status import Status

if TYPE_CHECKING:
    from tasks.scheduler.framework.diagnosis import Diagnosis
    from tasks.scheduler.framework.profile import Profile


class CycleState:
    """Per-pod scratch space shared by the plugins of one scheduling cycle."""

    __slots__ = ("snapshot", "profile", "data", "skip_filter", "skip_score")

    def __init__(self, snapshot: Snapshot, profile: Profile) -> None:
        self.snapshot = snapshot
        self.profile = profile
        self.data: dict[str, Any] = {}
        self.skip_filter: set[str] = set()
        self.skip_score: set[str] = set()


@runtime_checkable
class Plugin(Protocol):
    name: str


@runtime_checkable
class QueueSortPlugin(Protocol):
    name: str

    def less(self, a: PodInfo, b: PodInfo) -> bool: ...

    def sort_key(self, pod: PodInfo) -> tuple[Any, ...]: ...


@runtime_checkable
class PreFilterPlugin(Protocol):
    name: str

    def pre_filter(self, state: CycleState, pod: PodInfo) -> Status | None:
        """Precompute for Filter; SKIP drops this plugin's Filter for the cycle; a rejection fails it."""


@runtime_checkable
class FilterPlugin(Protocol):
    name: str

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None: ...


@dataclass
class PostFilterResult:
    """What a PostFilter offers: a node to nominate and the pods to evict there, or why not."""

    status: Status
    nominated_node: str | None = None
    victims: list[PodInfo] = field(default_factory=list)


@runtime_checkable
class PostFilterPlugin(Protocol):
    name: str

    def post_filter(self, state: CycleState, pod: PodInfo, diagnosis: Diagnosis) -> PostFilterResult: ...


@runtime_checkable
class PreScorePlugin(Protocol):
    name: str

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> Status | None:
        """Precompute for Score over the feasible ``nodes``; SKIP drops this plugin's Score."""


@runtime_checkable
class ScorePlugin(Protocol):
    name: str

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int: ...


@runtime_checkable
class ScoreNormalizer(Protocol):
    def normalize(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo], scores: list[int]) -> None:
        """Rewrite ``scores`` (parallel to ``nodes``) in place into 0..100."""


@runtime_checkable
class ReservePlugin(Protocol):
    name: str

    def reserve(self, state: CycleState, pod: PodInfo, node_name: str) -> Status | None: ...

    def unreserve(self, state: CycleState, pod: PodInfo, node_name: str) -> None: ...


@runtime_checkable
class BindPlugin(Protocol):
    name: str

    def bind(self, state: CycleState, pod: PodInfo, node_name: str) -> dict[str, Any] | Status:
        """The v1.Binding to post, or a Status (SKIP lets the next binder decide)."""


MAX_NODE_SCORE = 100
