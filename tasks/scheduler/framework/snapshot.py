"""``Snapshot``: the nodes and their pods one scheduling cycle sees, with the indexes plugins share."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from tasks.scheduler.framework.nodeinfo import NodeInfo
from tasks.scheduler.framework.podinfo import PodInfo, pod_info


def as_pod_info(pod: dict[str, Any] | PodInfo) -> PodInfo:
    return pod if isinstance(pod, PodInfo) else pod_info(pod)


SPREAD_MEMO_SIZE = 256  # distinct spread selectors remembered per snapshot


def _counts_for(pod: PodInfo, namespace: str, selector: Any) -> bool:
    """Whether ``pod`` counts toward a spread constraint over ``selector`` in ``namespace``."""
    return (
        selector is not None
        and pod.namespace == namespace
        and selector.matches(pod.labels)
        and not (pod.pod.get("metadata") or {}).get("deletionTimestamp")
    )


class Snapshot:
    """Nodes in a stable order, lookups by name, and where each pod is.

    ``add_pod``/``remove_pod`` let the runtime assume a placement between pods of one batch.
    ``next_start`` is the rotating index the filter loop starts from (kept here so it survives cycles).
    ``namespaces`` maps namespace name to its labels (for affinity namespaceSelectors).
    """

    def __init__(
        self, nodes: Iterable[NodeInfo], namespaces: dict[str, dict[str, str]] | None = None
    ) -> None:
        self.nodes: list[NodeInfo] = list(nodes)
        self.by_name: dict[str, NodeInfo] = {n.name: n for n in self.nodes}
        self.namespaces: dict[str, dict[str, str]] = namespaces or {}
        self.pod_node: dict[str, str] = {k: n.name for n in self.nodes for k in n.pods}
        self.next_start = 0
        # per (namespace, selector, topology key, keys every node must carry): matching pods per
        # domain, kept current by add_pod/remove_pod and dropped on node changes
        self._spread: dict[tuple[Any, ...], dict[str, int]] = {}
        self.reindex()

    @classmethod
    def from_objects(
        cls,
        nodes: Iterable[dict[str, Any]],
        pods: Iterable[dict[str, Any]] = (),
        namespaces: Iterable[dict[str, Any]] = (),
    ) -> Snapshot:
        """Build from API objects: pods with ``spec.nodeName`` on a listed node and not finished count."""
        snap = cls((NodeInfo(n) for n in nodes), {
            (ns.get("metadata") or {}).get("name", ""): (ns.get("metadata") or {}).get("labels") or {}
            for ns in namespaces
        })  # fmt: skip
        for p in pods:
            node = (p.get("spec") or {}).get("nodeName")
            phase = (p.get("status") or {}).get("phase")
            if node in snap.by_name and phase not in ("Succeeded", "Failed"):
                snap.add_pod(node, p)
        return snap

    def reindex(self) -> None:
        """Recount the node-wide indexes (images, soft taints, affinity pods): after node changes."""
        self.image_nodes: dict[str, int] = {}
        for n in self.nodes:
            for image in n.images:
                self.image_nodes[image] = self.image_nodes.get(image, 0) + 1
        self.soft_tainted = sum(1 for n in self.nodes if n.soft_taints)
        self.affinity_pods = sum(len(n.affinity_pods) for n in self.nodes)
        self.anti_affinity_pods = sum(len(n.anti_affinity_pods) for n in self.nodes)

    def _count(self, pod: PodInfo, sign: int) -> None:
        if pod.has_affinity:
            self.affinity_pods += sign
        if pod.required_anti_affinity:
            self.anti_affinity_pods += sign

    # -- pods ---------------------------------------------------------------------------------

    def add_pod(self, node_name: str, pod: dict[str, Any] | PodInfo) -> PodInfo:
        """Place ``pod`` on ``node_name`` (moving it if it was elsewhere); KeyError for an unknown node."""
        info = as_pod_info(pod)
        node = self.by_name[node_name]
        old = self.pod_node.get(info.key)
        if old is not None and old != node_name:
            self.remove_pod(info.key)
        if info.key in node.pods:
            self._count(node.pods[info.key], -1)
            self._spread_adjust(node.pods[info.key], node, -1)
        node.add_pod(info)
        self._count(info, 1)
        self._spread_adjust(info, node, 1)
        self.pod_node[info.key] = node_name
        return info

    def remove_pod(self, pod_key: str) -> PodInfo | None:
        """Take the pod off its node; returns it, or None when the snapshot did not hold it."""
        node_name = self.pod_node.pop(pod_key, None)
        node = self.by_name.get(node_name) if node_name else None
        pod = node.remove_pod(pod_key) if node else None
        if pod is not None and node is not None:
            self._count(pod, -1)
            self._spread_adjust(pod, node, -1)
        return pod

    def matching_per_domain(
        self, namespace: str, selector: Any, key: str, keys: tuple[str, ...]
    ) -> dict[str, int]:
        """Pods of ``namespace`` matching ``selector`` (not being deleted) per value of node label
        ``key``, over the nodes carrying every label in ``keys`` (each such domain present, maybe 0).
        Computed once, then kept current as pods are added and removed; the caller gets a copy."""
        memo_key = (namespace, selector, key, keys)
        counts = self._spread.get(memo_key)
        if counts is None:
            if len(self._spread) >= SPREAD_MEMO_SIZE:
                self._spread.clear()
            counts = {}
            for node in self.nodes:
                labels = node.labels
                if any(k not in labels for k in keys):
                    continue
                domain = labels[key]
                counts[domain] = counts.get(domain, 0) + (
                    sum(1 for p in node.pods.values() if _counts_for(p, namespace, selector))
                    if node.pods
                    else 0
                )
            self._spread[memo_key] = counts
        return dict(counts)

    def _spread_adjust(self, pod: PodInfo, node: NodeInfo, sign: int) -> None:
        if not self._spread:
            return
        labels = node.labels
        for (namespace, selector, key, keys), counts in self._spread.items():
            if _counts_for(pod, namespace, selector) and all(k in labels for k in keys):
                counts[labels[key]] = counts.get(labels[key], 0) + sign

    def pods(self) -> Iterator[tuple[PodInfo, NodeInfo]]:
        """Every placed pod with its node."""
        for n in self.nodes:
            for p in n.pods.values():
                yield p, n

    # -- nodes --------------------------------------------------------------------------------

    def set_node(self, node: dict[str, Any], reindex: bool = True) -> NodeInfo:
        """Add a node or update one in place (its pods stay); ``reindex=False`` defers ``reindex()``."""
        name = (node.get("metadata") or {}).get("name", "")
        self._spread.clear()  # labels may have changed: domains are counted afresh
        info = self.by_name.get(name)
        if info is None:
            info = NodeInfo(node)
            self.nodes.append(info)
            self.by_name[name] = info
        else:
            info.set_node(node)
        if reindex:
            self.reindex()
        return info

    def remove_node(self, name: str, reindex: bool = True) -> NodeInfo | None:
        """Drop a node and forget its pods; ``reindex=False`` defers ``reindex()``."""
        info = self.by_name.pop(name, None)
        if info is not None:
            self._spread.clear()
            self.nodes.remove(info)
            for key in info.pods:
                self.pod_node.pop(key, None)
            if reindex:
                self.reindex()
        return info

    def __len__(self) -> int:
        return len(self.nodes)
