"""A Deployment's ReplicaSets: claiming them, finding or creating the new one, cleaning history."""

from __future__ import annotations

from typing import Any

from cluster import errors
from tasks.controllers.base import controller_ref, owner_reference
from tasks.controllers.deployment import progress, revisions
from tasks.controllers.deployment.run import REPLICASETS, Run
from tasks.scheduler.framework.selectors import label_selector

Obj = dict[str, Any]


def claim(run: Run) -> list[Obj]:
    """The ReplicaSets the Deployment controls after adopting matching orphans and releasing owned
    ones its selector no longer matches (a Deployment being deleted adopts nothing)."""
    d = run.d
    uid = d["metadata"]["uid"]
    selector = label_selector(d["spec"].get("selector"))
    deleting = bool(d["metadata"].get("deletionTimestamp"))
    out: list[Obj] = []
    for rs in run.ctx.client.list(REPLICASETS, run.namespace).get("items", []):
        rs.setdefault("apiVersion", "apps/v1")
        rs.setdefault("kind", "ReplicaSet")
        labels = rs["metadata"].get("labels") or {}
        matches = selector is not None and selector.matches(labels)
        ref = controller_ref(rs)
        if ref is not None:
            if ref.get("uid") != uid:
                continue
            if matches or deleting:
                out.append(rs)
                continue
            _release(run, rs, uid)
            continue
        if not matches or deleting or rs["metadata"].get("deletionTimestamp"):
            continue
        refs = [*(rs["metadata"].get("ownerReferences") or []), owner_reference(d)]
        body = {"metadata": {"ownerReferences": refs, "resourceVersion": rs["metadata"]["resourceVersion"]}}
        try:
            out.append(run.patch_rs(rs, body))
        except (errors.Conflict, errors.NotFound):
            continue  # changed meanwhile: the change brings this Deployment back
    return out


def _release(run: Run, rs: Obj, uid: str) -> None:
    refs = [r for r in rs["metadata"].get("ownerReferences") or [] if r.get("uid") != uid]
    body = {"metadata": {"ownerReferences": refs, "resourceVersion": rs["metadata"]["resourceVersion"]}}
    try:
        run.patch_rs(rs, body)
    except (errors.Conflict, errors.NotFound):
        pass


def split(run: Run, rss: list[Obj], create: bool) -> tuple[Obj | None, list[Obj]]:
    """(new ReplicaSet, old ones), syncing revision annotations; with ``create`` the new ReplicaSet
    is made when missing (sized as the strategy allows)."""
    d = run.d
    new_rs = revisions.find_new(d, rss)
    old = [rs for rs in rss if rs is not new_rs]
    next_revision = max((revisions.revision(rs) for rs in old), default=0) + 1
    if new_rs is not None:
        _sync_existing(run, new_rs, next_revision)
    elif create:
        new_rs = _create(run, rss, next_revision)
    return new_rs, old


def _sync_existing(run: Run, rs: Obj, next_revision: int) -> None:
    d = run.d
    changes = revisions.new_rs_annotation_changes(d, rs, next_revision)
    body: Obj = {}
    if changes:
        body["metadata"] = {"annotations": changes}
    min_ready = d["spec"].get("minReadySeconds") or 0
    if (rs["spec"].get("minReadySeconds") or 0) != min_ready:
        body["spec"] = {"minReadySeconds": min_ready}
    if body:
        run.patch_rs(rs, body)
    run.set_annotations({revisions.REVISION: str(revisions.revision(rs))})
    status = run.d.get("status") or {}
    if progress.has_deadline(run.d) and progress.condition(status, progress.PROGRESSING) is None:
        status = {**status, "conditions": list(status.get("conditions") or [])}
        name = rs["metadata"]["name"]
        progress.set_condition(
            status,
            progress.make_condition(
                progress.PROGRESSING, "True", "FoundNewReplicaSet", f'Found new replica set "{name}"'
            ),
        )
        run.write_status(status)


def _create(run: Run, rss: list[Obj], next_revision: int) -> Obj:
    """Create the new ReplicaSet; a name taken by another template bumps ``collisionCount`` and fails
    (the retry hashes differently)."""
    d = run.d
    from tasks.controllers.deployment.rollout import new_rs_replicas

    replicas = new_rs_replicas(d, rss, None)
    body = revisions.new_replicaset(d, replicas, next_revision)
    name = body["metadata"]["name"]
    try:
        rs = run.ctx.client.create(body, run.namespace)
        rs.setdefault("apiVersion", "apps/v1")
        rs.setdefault("kind", "ReplicaSet")
        fresh = True
    except errors.AlreadyExists:
        rs = run.ctx.client.get(REPLICASETS, name, run.namespace)
        ref = controller_ref(rs)
        if not (
            ref
            and ref.get("uid") == d["metadata"]["uid"]
            and revisions.same_template(rs["spec"].get("template"), d["spec"]["template"])
        ):
            status = dict(d.get("status") or {})
            status["collisionCount"] = int(status.get("collisionCount") or 0) + 1
            run.write_status(status)
            raise errors.Conflict(f"replica set {name} exists with another template; hashing again") from None
        fresh = False
    if fresh and replicas > 0:
        run.event("ScalingReplicaSet", f"Scaled up replica set {name} to {replicas}")
    run.set_annotations({revisions.REVISION: str(next_revision)})
    if fresh and progress.has_deadline(run.d):
        status = dict(run.d.get("status") or {})
        status["conditions"] = list(status.get("conditions") or [])
        progress.set_condition(
            status,
            progress.make_condition(
                progress.PROGRESSING, "True", "NewReplicaSetCreated", f'Created new replica set "{name}"'
            ),
        )
        run.write_status(status)
    return rs


def cleanup(run: Run, old: list[Obj]) -> None:
    """Delete the old ReplicaSets beyond ``revisionHistoryLimit``."""
    for rs in revisions.history_to_delete(run.d, old):
        run.delete_rs(rs)
