"""``NodeInfo``: one node with its pods and running totals, parsed once from the Node dict."""

from __future__ import annotations

from typing import Any

from tasks.scheduler.framework import resources as res
from tasks.scheduler.framework.podinfo import PodInfo, normalized_image
from tasks.scheduler.framework.selectors import Taint, taints

PortKey = tuple[str, int]  # (protocol, hostPort)


class NodeInfo:
    """A node, its pods and what they request. Mutated only through ``add_pod`` / ``remove_pod``."""

    __slots__ = (
        "node", "name", "labels", "taints", "hard_taints", "soft_taints", "unschedulable", "allocatable",
        "alloc_cpu", "alloc_memory", "alloc_pods", "alloc_ephemeral", "alloc_scalar", "pods", "req_cpu",
        "req_memory", "req_ephemeral", "req_scalar", "nonzero_cpu", "nonzero_memory", "used_ports",
        "images", "affinity_pods", "anti_affinity_pods",
    )  # fmt: skip

    def __init__(self, node: dict[str, Any], pods: Any = ()) -> None:
        self.set_node(node)
        self.pods: dict[str, PodInfo] = {}
        self.req_cpu = self.req_memory = self.req_ephemeral = 0
        self.nonzero_cpu = self.nonzero_memory = 0
        self.req_scalar: dict[str, int] = {}
        self.used_ports: dict[PortKey, dict[str, int]] = {}
        self.affinity_pods: dict[str, PodInfo] = {}
        self.anti_affinity_pods: dict[str, PodInfo] = {}
        for p in pods:
            self.add_pod(p)

    def set_node(self, node: dict[str, Any]) -> None:
        """Replace the Node object (labels, taints, allocatable, images); pods stay."""
        md, spec, status = node.get("metadata") or {}, node.get("spec") or {}, node.get("status") or {}
        self.node = node
        self.name: str = md.get("name", "")
        self.labels: dict[str, str] = md.get("labels") or {}
        self.taints: tuple[Taint, ...] = taints(spec.get("taints"))
        self.hard_taints = tuple(t for t in self.taints if t.effect in ("NoSchedule", "NoExecute"))
        self.soft_taints = tuple(t for t in self.taints if t.effect == "PreferNoSchedule")
        self.unschedulable = bool(spec.get("unschedulable"))
        alloc = res.resource_list(status.get("allocatable") or status.get("capacity"))
        self.allocatable = alloc
        self.alloc_cpu = alloc.get(res.CPU, 0)
        self.alloc_memory = alloc.get(res.MEMORY, 0)
        self.alloc_pods = alloc.get(res.PODS, 0)
        self.alloc_ephemeral = alloc.get(res.EPHEMERAL, 0)
        self.alloc_scalar = {k: v for k, v in alloc.items() if res.is_scalar(k)}
        images: dict[str, int] = {}
        for image in status.get("images") or ():
            for n in image.get("names") or ():
                images[normalized_image(n)] = int(image.get("sizeBytes") or 0)
        self.images = images

    def add_pod(self, pod: PodInfo) -> None:
        """Account ``pod`` on this node (a pod already here is replaced)."""
        if pod.key in self.pods:
            self.remove_pod(pod.key)
        self.pods[pod.key] = pod
        self._account(pod, 1)

    def remove_pod(self, key: str) -> PodInfo | None:
        """Take the pod ``key`` off this node; returns it, or None when it was not here."""
        pod = self.pods.pop(key, None)
        if pod is not None:
            self._account(pod, -1)
        return pod

    def _account(self, pod: PodInfo, sign: int) -> None:
        self.req_cpu += sign * pod.cpu
        self.req_memory += sign * pod.memory
        self.req_ephemeral += sign * pod.requests.get(res.EPHEMERAL, 0)
        self.nonzero_cpu += sign * pod.nonzero_cpu
        self.nonzero_memory += sign * pod.nonzero_memory
        for name, v in pod.scalar.items():
            self.req_scalar[name] = self.req_scalar.get(name, 0) + sign * v
        for ip, proto, port in pod.host_ports:
            ips = self.used_ports.setdefault((proto, port), {})
            ips[ip] = ips.get(ip, 0) + sign
            if ips[ip] <= 0:
                del ips[ip]
                if not ips:
                    del self.used_ports[(proto, port)]
        if pod.has_affinity:
            if sign > 0:
                self.affinity_pods[pod.key] = pod
            else:
                self.affinity_pods.pop(pod.key, None)
        if pod.required_anti_affinity:
            if sign > 0:
                self.anti_affinity_pods[pod.key] = pod
            else:
                self.anti_affinity_pods.pop(pod.key, None)

    def clone(self) -> NodeInfo:
        """An independent copy (pods are shared, totals copied): for what-if checks like preemption."""
        return NodeInfo(self.node, self.pods.values())

    def __repr__(self) -> str:
        return f"NodeInfo({self.name!r}, pods={len(self.pods)})"
