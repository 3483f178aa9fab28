"""Why a pod did not fit: per-node statuses, the reason histogram, and Kubernetes' message form."""

from __future__ import annotations

from dataclasses import dataclass, field

from tasks.scheduler.framework.status import Code, Status

NO_NODES_MESSAGE = "no nodes available to schedule pods"


@dataclass
class Diagnosis:
    """Filter outcomes of one failed cycle.

    ``message()`` gives ``0/N nodes are available: <count> <reason>, ... [preemption: ...]``,
    with the ``<count> <reason>`` strings sorted as text, exactly as kube-scheduler's FitError.
    """

    num_nodes: int
    node_status: dict[str, Status] = field(default_factory=dict)
    unschedulable_plugins: set[str] = field(default_factory=set)
    pre_filter_msg: str = ""
    post_filter_msg: str = ""

    def record(self, node_name: str, status: Status) -> None:
        self.node_status[node_name] = status
        if status.plugin:
            self.unschedulable_plugins.add(status.plugin)

    def reasons(self) -> dict[str, int]:
        """How many nodes gave each reason (a node with two reasons counts under both)."""
        out: dict[str, int] = {}
        for st in self.node_status.values():
            for r in st.reasons:
                out[r] = out.get(r, 0) + 1
        return out

    def unresolvable_everywhere(self) -> bool:
        return bool(self.node_status) and all(
            s.code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE for s in self.node_status.values()
        )

    def message(self) -> str:
        if self.num_nodes == 0:
            return NO_NODES_MESSAGE
        msg = f"0/{self.num_nodes} nodes are available:"
        if self.pre_filter_msg:
            msg += f" {self.pre_filter_msg}."
        else:
            parts = sorted(f"{count} {reason}" for reason, count in self.reasons().items())
            if parts:
                msg += f" {', '.join(parts)}."
        if self.post_filter_msg:
            msg += f" {self.post_filter_msg}"
        return msg
