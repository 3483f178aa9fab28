"""``PodInfo``: everything the plugins need from one pod, parsed once from its JSON dict."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tasks.scheduler.framework import resources as res
from tasks.scheduler.framework.selectors import (
    LabelSelector,
    NodeSelector,
    NodeSelectorTerm,
    Toleration,
    label_selector,
    node_selector_term,
    tolerations,
)

GROUP_ANNOTATION = "kubeq.io/pod-group"
GROUP_MIN_ANNOTATION = "kubeq.io/pod-group-min-member"
DEADLINE_ANNOTATION = "kubeq.io/deadline"


def parse_time(text: Any) -> float | None:
    """RFC 3339 to epoch seconds; None when absent or malformed."""
    if not text or not isinstance(text, str):
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class AffinityTerm:
    """A pod (anti-)affinity term with its namespaces resolved against the owning pod."""

    selector: LabelSelector | None
    namespaces: frozenset[str]
    namespace_selector: LabelSelector | None
    topology_key: str
    weight: int = 0

    def matches(self, pod: PodInfo, ns_labels: dict[str, dict[str, str]]) -> bool:
        """True when ``pod`` is in the term's namespaces and its labels match the selector."""
        if self.selector is None:
            return False
        if pod.namespace not in self.namespaces:
            sel = self.namespace_selector
            if sel is None or not sel.matches(ns_labels.get(pod.namespace, {})):
                return False
        return self.selector.matches(pod.labels)


def _affinity_terms(raw: Any, namespace: str, weighted: bool) -> tuple[AffinityTerm, ...]:
    out = []
    for item in raw or ():
        weight = int(item.get("weight", 0)) if weighted else 0
        term = item.get("podAffinityTerm", {}) if weighted else item
        names = frozenset(term.get("namespaces") or ())
        ns_sel = label_selector(term.get("namespaceSelector"))
        if not names and ns_sel is None:
            names = frozenset((namespace,))
        out.append(
            AffinityTerm(
                label_selector(term.get("labelSelector")), names, ns_sel, term.get("topologyKey", ""), weight
            )
        )
    return tuple(out)


@dataclass(frozen=True, slots=True)
class SpreadConstraint:
    max_skew: int
    topology_key: str
    hard: bool  # whenUnsatisfiable: DoNotSchedule
    selector: LabelSelector | None
    min_domains: int
    honor_affinity: bool  # nodeAffinityPolicy Honor (default)
    honor_taints: bool  # nodeTaintsPolicy Honor (default Ignore)


def _spread(raw: Any, labels: dict[str, str]) -> tuple[SpreadConstraint, ...]:
    out = []
    for c in raw or ():
        sel = label_selector(c.get("labelSelector"))
        keys = [k for k in c.get("matchLabelKeys") or () if k in labels]
        if sel is not None and keys:
            sel = LabelSelector(
                tuple(sorted(sel.match_labels + tuple((k, labels[k]) for k in keys))), sel.expressions
            )
        out.append(
            SpreadConstraint(
                max_skew=int(c.get("maxSkew", 1)),
                topology_key=c.get("topologyKey", ""),
                hard=c.get("whenUnsatisfiable", "DoNotSchedule") == "DoNotSchedule",
                selector=sel,
                min_domains=int(c.get("minDomains") or 1),
                honor_affinity=c.get("nodeAffinityPolicy", "Honor") != "Ignore",
                honor_taints=c.get("nodeTaintsPolicy", "Ignore") == "Honor",
            )
        )
    return tuple(out)


def normalized_image(name: str) -> str:
    """An image reference with ``:latest`` added when it names neither tag nor digest."""
    if "@" in name or ":" in name.rsplit("/", 1)[-1]:
        return name
    return name + ":latest"


@dataclass(slots=True, eq=False)
class PodInfo:
    """One pod, parsed for scheduling. ``pod`` is the original dict (not copied, not modified)."""

    pod: dict[str, Any]
    key: str
    namespace: str
    name: str
    uid: str
    labels: dict[str, str]
    priority: int
    node_name: str
    scheduler_name: str
    requests: dict[str, int]
    cpu: int
    memory: int
    nonzero_cpu: int
    nonzero_memory: int
    scalar: dict[str, int]
    tolerations: tuple[Toleration, ...]
    node_selector: dict[str, str]
    required_node_affinity: NodeSelector | None
    preferred_node_affinity: tuple[tuple[int, NodeSelectorTerm], ...]
    host_ports: tuple[tuple[str, str, int], ...]  # (hostIP, protocol, hostPort)
    required_affinity: tuple[AffinityTerm, ...]
    required_anti_affinity: tuple[AffinityTerm, ...]
    preferred_affinity: tuple[AffinityTerm, ...]
    preferred_anti_affinity: tuple[AffinityTerm, ...]
    spread: tuple[SpreadConstraint, ...]
    images: tuple[str, ...]
    created: float
    deadline: float | None
    queued_at: float
    preempt_never: bool
    nominated_node: str
    group: str
    group_min: int
    start_time: float
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def has_affinity(self) -> bool:
        return bool(
            self.required_affinity
            or self.required_anti_affinity
            or self.preferred_affinity
            or self.preferred_anti_affinity
        )


def pod_info(pod: dict[str, Any], queued_at: float | None = None) -> PodInfo:
    """Parse a v1.Pod dict. ``queued_at`` defaults to the creation time."""
    md = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    ns, name = md.get("namespace") or "default", md.get("name", "")
    labels = md.get("labels") or {}
    annotations = md.get("annotations") or {}
    reqs = res.pod_requests(spec)
    nonzero = res.pod_requests(spec, nonzero=True)
    affinity = spec.get("affinity") or {}
    node_aff = affinity.get("nodeAffinity") or {}
    required = node_aff.get("requiredDuringSchedulingIgnoredDuringExecution")
    pod_aff = affinity.get("podAffinity") or {}
    anti = affinity.get("podAntiAffinity") or {}
    created = parse_time(md.get("creationTimestamp")) or 0.0
    deadline = None
    if spec.get("activeDeadlineSeconds") is not None and created:
        deadline = created + float(spec["activeDeadlineSeconds"])
    annotated = parse_time(annotations.get(DEADLINE_ANNOTATION))
    if annotated is not None and (deadline is None or annotated < deadline):
        deadline = annotated
    ports = []
    for c in spec.get("containers") or ():
        for p in c.get("ports") or ():
            if p.get("hostPort"):
                ports.append((p.get("hostIP") or "0.0.0.0", p.get("protocol") or "TCP", int(p["hostPort"])))
    images = tuple(normalized_image(c["image"]) for c in spec.get("containers") or () if c.get("image"))
    try:
        group_min = int(annotations.get(GROUP_MIN_ANNOTATION, 0))
    except ValueError:
        group_min = 0
    return PodInfo(
        pod=pod,
        key=f"{ns}/{name}",
        namespace=ns,
        name=name,
        uid=md.get("uid", ""),
        labels=labels,
        priority=int(spec.get("priority") or 0),
        node_name=spec.get("nodeName") or "",
        scheduler_name=spec.get("schedulerName") or "default-scheduler",
        requests=reqs,
        cpu=reqs.get(res.CPU, 0),
        memory=reqs.get(res.MEMORY, 0),
        nonzero_cpu=nonzero[res.CPU],
        nonzero_memory=nonzero[res.MEMORY],
        scalar={k: v for k, v in reqs.items() if res.is_scalar(k) and v},
        tolerations=tolerations(spec.get("tolerations")),
        node_selector=spec.get("nodeSelector") or {},
        required_node_affinity=(
            NodeSelector(tuple(node_selector_term(t) for t in required.get("nodeSelectorTerms") or ()))
            if required is not None
            else None
        ),
        preferred_node_affinity=tuple(
            (int(p.get("weight", 0)), node_selector_term(p.get("preference") or {}))
            for p in node_aff.get("preferredDuringSchedulingIgnoredDuringExecution") or ()
        ),
        host_ports=tuple(ports),
        required_affinity=_affinity_terms(
            pod_aff.get("requiredDuringSchedulingIgnoredDuringExecution"), ns, False
        ),
        required_anti_affinity=_affinity_terms(
            anti.get("requiredDuringSchedulingIgnoredDuringExecution"), ns, False
        ),
        preferred_affinity=_affinity_terms(
            pod_aff.get("preferredDuringSchedulingIgnoredDuringExecution"), ns, True
        ),
        preferred_anti_affinity=_affinity_terms(
            anti.get("preferredDuringSchedulingIgnoredDuringExecution"), ns, True
        ),
        spread=_spread(spec.get("topologySpreadConstraints"), labels),
        images=images,
        created=created,
        deadline=deadline,
        queued_at=created if queued_at is None else queued_at,
        preempt_never=spec.get("preemptionPolicy") == "Never",
        nominated_node=status.get("nominatedNodeName") or "",
        group=annotations.get(GROUP_ANNOTATION, ""),
        group_min=group_min,
        start_time=parse_time(status.get("startTime")) or created,
    )
