"""Indexed Jobs: a pod's completion index, the compressed index string, pods stamped with an index."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

Obj = dict[str, Any]

INDEX_KEY = "batch.kubernetes.io/job-completion-index"  # annotation and label
INDEX_ENV = "JOB_COMPLETION_INDEX"


def completion_index(pod: Obj) -> int | None:
    """The pod's completion index (annotation, else label), None when absent or not a number."""
    md = pod.get("metadata") or {}
    for source in (md.get("annotations") or {}, md.get("labels") or {}):
        text = source.get(INDEX_KEY)
        if isinstance(text, str) and text.isdigit():
            return int(text)
    return None


def format_indexes(indexes: Iterable[int]) -> str:
    """Sorted indexes as Kubernetes writes ``completedIndexes``: ``{0,1,2,4,6,7}`` -> ``"0-2,4,6,7"``.

    Runs of three or more become ``a-b``; a run of two is written ``a,b``.
    """
    ordered = sorted(set(indexes))
    parts: list[str] = []
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        if j - i >= 2:
            parts.append(f"{ordered[i]}-{ordered[j]}")
        else:
            parts.extend(str(n) for n in ordered[i : j + 1])
        i = j + 1
    return ",".join(parts)


def parse_indexes(text: str | None) -> set[int]:
    """The indexes a ``completedIndexes`` string names (the inverse of ``format_indexes``)."""
    out: set[int] = set()
    for part in (text or "").split(","):
        first, dash, last = part.strip().partition("-")
        if first.isdigit():
            out.update(range(int(first), int(last) + 1) if dash and last.isdigit() else [int(first)])
    return out


def stamp_index(pod: Obj, index: int, job_name: str) -> Obj:
    """``pod`` (a new pod body) marked with ``index``: annotation, label, env in every container,
    hostname ``<job>-<index>`` unless the template set one. Modifies and returns ``pod``."""
    md = pod["metadata"]
    md.setdefault("annotations", {})[INDEX_KEY] = str(index)
    md.setdefault("labels", {})[INDEX_KEY] = str(index)
    md["generateName"] = f"{job_name}-{index}-"
    spec = pod["spec"]
    spec.setdefault("hostname", f"{job_name}-{index}")
    for key in ("initContainers", "containers"):
        for container in spec.get(key) or []:
            env = [e for e in container.get("env") or [] if e.get("name") != INDEX_ENV]
            env.append(
                {
                    "name": INDEX_ENV,
                    "valueFrom": {"fieldRef": {"fieldPath": f"metadata.annotations['{INDEX_KEY}']"}},
                }
            )
            container["env"] = env
    return pod
