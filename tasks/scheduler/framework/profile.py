"""``Profile``: one scheduler name's plugins per extension point, with score weights."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tasks.scheduler.framework.interfaces import (
    BindPlugin,
    FilterPlugin,
    PostFilterPlugin,
    PreFilterPlugin,
    PreScorePlugin,
    QueueSortPlugin,
    ReservePlugin,
    ScorePlugin,
)


@dataclass
class Profile:
    """Plugins in the order they run at each point; ``score`` pairs each scorer with its weight."""

    scheduler_name: str
    queue_sort: QueueSortPlugin
    pre_filter: list[PreFilterPlugin] = field(default_factory=list)
    filter: list[FilterPlugin] = field(default_factory=list)
    post_filter: list[PostFilterPlugin] = field(default_factory=list)
    pre_score: list[PreScorePlugin] = field(default_factory=list)
    score: list[tuple[ScorePlugin, int]] = field(default_factory=list)
    reserve: list[ReservePlugin] = field(default_factory=list)
    bind: list[BindPlugin] = field(default_factory=list)
    percentage_of_nodes_to_score: int = 0  # 0: adaptive, as Kubernetes

    @classmethod
    def from_plugins(
        cls, scheduler_name: str, plugins: list[tuple[Any, int]], percentage_of_nodes_to_score: int = 0
    ) -> Profile:
        """Place each (plugin, weight) at every extension point it implements, keeping list order."""
        sorts = [p for p, _ in plugins if hasattr(p, "less")]
        if len(sorts) != 1:
            raise ValueError(
                f"profile {scheduler_name!r} needs exactly one queue sort plugin, has {len(sorts)}"
            )
        prof = cls(scheduler_name, sorts[0], percentage_of_nodes_to_score=percentage_of_nodes_to_score)
        for p, weight in plugins:
            for attr, bucket in (
                ("pre_filter", prof.pre_filter),
                ("filter", prof.filter),
                ("post_filter", prof.post_filter),
                ("pre_score", prof.pre_score),
                ("reserve", prof.reserve),
                ("bind", prof.bind),
            ):
                if hasattr(p, attr):
                    bucket.append(p)
            if hasattr(p, "score") and weight:
                prof.score.append((p, weight))
        return prof

    def plugin(self, name: str) -> Any | None:
        """The enabled plugin called ``name``, if any."""
        for group in (
            self.pre_filter,
            self.filter,
            self.post_filter,
            self.pre_score,
            self.reserve,
            self.bind,
        ):
            for p in group:
                if p.name == name:
                    return p
        for p, _ in self.score:
            if p.name == name:
                return p
        return self.queue_sort if self.queue_sort.name == name else None
