"""Revisions: the pod-template-hash, which ReplicaSet is the new one, revision annotations, history.

A Deployment's ReplicaSets are named ``<deployment>-<hash>`` where the hash is a short, stable
digest of the pod template (and of ``status.collisionCount``). The ReplicaSet whose template equals
the Deployment's (ignoring the hash label) is the new one; every other one is old. Revisions count
up: the new ReplicaSet gets one more than the highest old revision.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from tasks.controllers.base import owner_reference
from tasks.controllers.deployment import counts

Obj = dict[str, Any]

HASH_LABEL = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
ROLLBACK_TO = "deprecated.deployment.rollback.to"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
# Deployment annotations that are not copied onto its ReplicaSets (kubectl rollout undo skips them too).
NOT_COPIED = frozenset(
    {LAST_APPLIED, REVISION, REVISION_HISTORY, DESIRED_REPLICAS, MAX_REPLICAS, ROLLBACK_TO}
)

_SAFE = "bcdfghjklmnpqrstvwxz2456789"  # no vowels (no words), no look-alike characters


def _fnv32a(data: bytes) -> int:
    value = 0x811C9DC5
    for byte in data:
        value = ((value ^ byte) * 0x01000193) & 0xFFFFFFFF
    return value


def template_hash(template: Obj, collision_count: int | None = None) -> str:
    """The ``pod-template-hash`` of ``template``: FNV-1a of its canonical JSON, as safe characters."""
    data = json.dumps(_pruned(template), sort_keys=True, separators=(",", ":")).encode()
    if collision_count:
        data += collision_count.to_bytes(4, "little")
    return "".join(_SAFE[ord(ch) % len(_SAFE)] for ch in str(_fnv32a(data)))


def _pruned(value: Any) -> Any:
    """``value`` without null members: a typed Kubernetes object reads ``null`` as absent (kubectl
    sends ``creationTimestamp: null`` in templates, e.g. with ``rollout undo``)."""
    if isinstance(value, dict):
        return {k: _pruned(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_pruned(v) for v in value]
    return value


def without_hash(template: Obj | None) -> Obj:
    """A copy of ``template`` without the ``pod-template-hash`` label and null members."""
    out = _pruned(copy.deepcopy(template or {}))
    labels = (out.get("metadata") or {}).get("labels")
    if isinstance(labels, dict):
        labels.pop(HASH_LABEL, None)
    return out


def same_template(a: Obj | None, b: Obj | None) -> bool:
    """Templates equal but for the hash label."""
    return without_hash(a) == without_hash(b)


def revision(rs: Obj | None) -> int:
    """The ``deployment.kubernetes.io/revision`` of an object (0 when absent or unreadable)."""
    text = ((rs or {}).get("metadata", {}).get("annotations") or {}).get(REVISION, "")
    try:
        return int(text)
    except ValueError:
        return 0


def find_new(d: Obj, rss: list[Obj]) -> Obj | None:
    """The oldest ReplicaSet whose template is the Deployment's (the others are duplicates)."""
    template = d["spec"].get("template")
    for rs in counts.oldest_first(rss):
        if same_template(rs["spec"].get("template"), template):
            return rs
    return None


def copied_annotations(d: Obj) -> dict[str, str]:
    """The Deployment annotations its ReplicaSets carry."""
    annotations = d["metadata"].get("annotations") or {}
    return {k: v for k, v in annotations.items() if k not in NOT_COPIED}


def replicas_annotations(d: Obj) -> dict[str, str]:
    """desired-replicas and max-replicas as the Deployment's spec now asks."""
    replicas = counts.spec_replicas(d)
    return {DESIRED_REPLICAS: str(replicas), MAX_REPLICAS: str(replicas + counts.max_surge(d))}


def new_replicaset(d: Obj, replicas: int, new_revision: int) -> Obj:
    """The ReplicaSet a Deployment creates for its current template."""
    template = copy.deepcopy(d["spec"]["template"])
    collisions = (d.get("status") or {}).get("collisionCount")
    hash_ = template_hash(template, collisions)
    template.setdefault("metadata", {}).setdefault("labels", {})[HASH_LABEL] = hash_
    selector = copy.deepcopy(d["spec"].get("selector") or {})
    selector.setdefault("matchLabels", {})[HASH_LABEL] = hash_
    labels = dict(template["metadata"]["labels"])
    annotations = {**copied_annotations(d), REVISION: str(new_revision), **replicas_annotations(d)}
    spec: Obj = {"replicas": replicas, "selector": selector, "template": template}
    if d["spec"].get("minReadySeconds"):
        spec["minReadySeconds"] = d["spec"]["minReadySeconds"]
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": f"{d['metadata']['name']}-{hash_}",
            "namespace": d["metadata"]["namespace"],
            "labels": labels,
            "annotations": annotations,
            "ownerReferences": [owner_reference(d)],
        },
        "spec": spec,
    }


def new_rs_annotation_changes(d: Obj, rs: Obj, new_revision: int) -> dict[str, str]:
    """Annotations to set on an existing new ReplicaSet: the Deployment's copied ones, and the new
    revision when the ReplicaSet's is lower (a rollback to it)."""
    have = rs["metadata"].get("annotations") or {}
    want = copied_annotations(d)
    if revision(rs) < new_revision:
        want[REVISION] = str(new_revision)
    return {k: v for k, v in want.items() if have.get(k) != v}


def history_to_delete(d: Obj, old: list[Obj]) -> list[Obj]:
    """Old ReplicaSets beyond ``revisionHistoryLimit`` that may go: lowest revisions first, only those
    scaled to zero with no pods left and their scale observed."""
    limit = d["spec"].get("revisionHistoryLimit")
    if limit is None:
        return []
    alive = [rs for rs in old if not rs["metadata"].get("deletionTimestamp")]
    extra = len(alive) - int(limit)
    if extra <= 0:
        return []
    ordered = sorted(alive, key=lambda rs: (revision(rs), counts.created(rs)))
    out = []
    for rs in ordered[:extra]:
        generation = int(rs["metadata"].get("generation") or 0)
        observed = counts.status_of(rs, "observedGeneration")
        if counts.status_of(rs, "replicas") or counts.spec_replicas(rs) or generation > observed:
            continue
        out.append(rs)
    return out
