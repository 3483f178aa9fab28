"""Compiled label selectors, node selector terms and tolerations: parsed once, matched many times."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

Labels = dict[str, str]


@dataclass(frozen=True, slots=True)
class LabelSelector:
    """A metav1.LabelSelector. ``None`` where Kubernetes has a nil selector (matches nothing)."""

    match_labels: tuple[tuple[str, str], ...]
    expressions: tuple[tuple[str, str, frozenset[str]], ...]

    def matches(self, labels: Labels) -> bool:
        for key, value in self.match_labels:
            if labels.get(key) != value:
                return False
        for key, op, values in self.expressions:
            present = key in labels
            if op == "In":
                if not present or labels[key] not in values:
                    return False
            elif op == "NotIn":
                if present and labels[key] in values:
                    return False
            elif op == "Exists":
                if not present:
                    return False
            elif op == "DoesNotExist":
                if present:
                    return False
            else:
                return False
        return True


def label_selector(raw: Any) -> LabelSelector | None:
    """Compile a selector dict; None for a missing (nil) selector. ``{}`` matches every label set."""
    if raw is None:
        return None
    labels = tuple(sorted((raw.get("matchLabels") or {}).items()))
    exprs = tuple(
        (e.get("key", ""), e.get("operator", ""), frozenset(e.get("values") or ()))
        for e in raw.get("matchExpressions") or ()
    )
    return LabelSelector(labels, exprs)


def _int(value: str) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True, slots=True)
class NodeSelectorTerm:
    """One v1.NodeSelectorTerm: every expression and field requirement must hold (AND)."""

    expressions: tuple[tuple[str, str, tuple[str, ...]], ...]
    fields: tuple[tuple[str, str, tuple[str, ...]], ...]

    def matches(self, labels: Labels, node_name: str) -> bool:
        if not self.expressions and not self.fields:
            return False
        for key, op, values in self.expressions:
            if not _requirement(labels.get(key), key in labels, op, values):
                return False
        for key, op, values in self.fields:
            if key != "metadata.name" or not _requirement(node_name, True, op, values):
                return False
        return True


def _requirement(value: str | None, present: bool, op: str, values: tuple[str, ...]) -> bool:
    if op == "In":
        return present and value in values
    if op == "NotIn":
        return not present or value not in values
    if op == "Exists":
        return present
    if op == "DoesNotExist":
        return not present
    if op in ("Gt", "Lt"):
        if not present or len(values) != 1:
            return False
        have, want = _int(value or ""), _int(values[0])
        if have is None or want is None:
            return False
        return have > want if op == "Gt" else have < want
    return False


def node_selector_term(raw: dict[str, Any]) -> NodeSelectorTerm:
    def reqs(items: Any) -> tuple[tuple[str, str, tuple[str, ...]], ...]:
        return tuple(
            (r.get("key", ""), r.get("operator", ""), tuple(r.get("values") or ())) for r in items or ()
        )

    return NodeSelectorTerm(reqs(raw.get("matchExpressions")), reqs(raw.get("matchFields")))


@dataclass(frozen=True, slots=True)
class NodeSelector:
    """A v1.NodeSelector: any term may match (OR)."""

    terms: tuple[NodeSelectorTerm, ...]

    def matches(self, labels: Labels, node_name: str) -> bool:
        return any(t.matches(labels, node_name) for t in self.terms)


@dataclass(frozen=True, slots=True)
class Taint:
    key: str
    value: str
    effect: str


@dataclass(frozen=True, slots=True)
class Toleration:
    key: str
    operator: str
    value: str
    effect: str

    def tolerates(self, taint: Taint) -> bool:
        if self.effect and self.effect != taint.effect:
            return False
        if self.key and self.key != taint.key:
            return False
        if self.operator == "Exists":
            return True
        return self.operator in ("", "Equal") and self.value == taint.value


def taints(raw: Any) -> tuple[Taint, ...]:
    return tuple(Taint(t.get("key", ""), t.get("value", "") or "", t.get("effect", "")) for t in raw or ())


def tolerations(raw: Any) -> tuple[Toleration, ...]:
    return tuple(
        Toleration(
            t.get("key", "") or "",
            t.get("operator", "") or "",
            t.get("value", "") or "",
            t.get("effect", "") or "",
        )
        for t in raw or ()
    )


def tolerated(taint: Taint, tols: tuple[Toleration, ...]) -> bool:
    return any(t.tolerates(taint) for t in tols)
