"""NodePorts: a pod's hostPorts must be free on the node (same protocol and port; 0.0.0.0 clashes with all)."""

from __future__ import annotations

from typing import Any

from tasks.scheduler.framework.interfaces import CycleState
from tasks.scheduler.framework.nodeinfo import NodeInfo
from tasks.scheduler.framework.podinfo import PodInfo
from tasks.scheduler.framework.status import SKIP, Status, unschedulable

PORTS_TAKEN = "node(s) didn't have free ports for the requested pod ports"
ANY_IP = "0.0.0.0"


def port_conflict(pod: PodInfo, node: NodeInfo) -> bool:
    for ip, proto, port in pod.host_ports:
        used = node.used_ports.get((proto, port))
        if used and (ip == ANY_IP or ANY_IP in used or ip in used):
            return True
    return False


class NodePorts:
    name = "NodePorts"

    def __init__(self, args: dict[str, Any] | None = None) -> None:
        self._refusal = unschedulable(PORTS_TAKEN, plugin=self.name)

    def pre_filter(self, state: CycleState, pod: PodInfo) -> Status | None:
        return None if pod.host_ports else SKIP

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        return self._refusal if port_conflict(pod, node) else None
