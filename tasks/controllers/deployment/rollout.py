"""Rollout steps: RollingUpdate, Recreate and proportional scaling.

Each step makes at most one kind of move (scale the new ReplicaSet up, or old ones down) and
then reports status; the ReplicaSets' status changes bring the Deployment back for the next move.
Surge is bounded by ``pods_upper_bound`` (a ReplicaSet just scaled down still counts its reported
pods) and scale-down by ``available_lower_bound``, so lagging ReplicaSet status can only slow a
rollout down, never push it past maxSurge or below replicas - maxUnavailable.
"""

from __future__ import annotations

import math
from typing import Any

from tasks.controllers.deployment import counts, progress, replicasets, revisions
from tasks.controllers.deployment.run import PODS, Run
from tasks.controllers.pods import is_terminating, phase

Obj = dict[str, Any]
RECREATE_POLL = 1.0  # seconds between looks while a Recreate waits for old pods to go


def new_rs_replicas(d: Obj, all_rss: list[Obj], new_rs: Obj | None) -> int:
    """How big the new ReplicaSet may be now: Recreate at once; RollingUpdate within maxSurge."""
    replicas = counts.spec_replicas(d)
    current = counts.spec_replicas(new_rs)
    if not counts.is_rolling(d):
        return replicas
    ceiling = replicas + counts.max_surge(d)
    running = counts.pods_upper_bound(all_rss)
    if running >= ceiling:
        return current
    return current + max(0, min(ceiling - running, replicas - current))


def rolling(run: Run, rss: list[Obj]) -> float | None:
    new_rs, old = replicasets.split(run, rss, create=True)
    all_rss = [*old, new_rs]
    if _reconcile_new(run, all_rss, new_rs):
        return report(run, all_rss, new_rs)
    if _reconcile_old(run, all_rss, counts.active(old), new_rs):
        return report(run, all_rss, new_rs)
    if progress.complete(run.d, run.d.get("status") or {}):
        replicasets.cleanup(run, old)
    return report(run, all_rss, new_rs)


def _reconcile_new(run: Run, all_rss: list[Obj], new_rs: Obj) -> bool:
    replicas = counts.spec_replicas(run.d)
    have = counts.spec_replicas(new_rs)
    if have == replicas:
        return False
    if have > replicas:
        return run.scale(new_rs, replicas)
    return run.scale(new_rs, new_rs_replicas(run.d, all_rss, new_rs))


def _reconcile_old(run: Run, all_rss: list[Obj], old: list[Obj], new_rs: Obj) -> bool:
    if counts.desired_total(old) == 0:
        return False
    min_available = counts.spec_replicas(run.d) - counts.max_unavailable(run.d)
    new_unavailable = counts.spec_replicas(new_rs) - counts.status_of(new_rs, "availableReplicas")
    room = counts.desired_total(all_rss) - min_available - new_unavailable
    if room <= 0:
        return False
    cleaned = _drop_unhealthy(run, old, room)
    scaled = _scale_down_old(run, [*old, new_rs], old)
    return cleaned + scaled > 0


def _drop_unhealthy(run: Run, old: list[Obj], most: int) -> int:
    """Scale old ReplicaSets down by their unavailable pods (oldest first), at most ``most`` in all."""
    done = 0
    for rs in counts.oldest_first(old):
        if done >= most:
            break
        size = counts.spec_replicas(rs)
        unhealthy = size - counts.status_of(rs, "availableReplicas")
        if size == 0 or unhealthy <= 0:
            continue
        step = min(most - done, unhealthy)
        run.scale(rs, size - step)
        done += step
    return done


def _scale_down_old(run: Run, all_rss: list[Obj], old: list[Obj]) -> int:
    """Scale old ReplicaSets down (oldest first) as far as availability above the minimum allows."""
    min_available = counts.spec_replicas(run.d) - counts.max_unavailable(run.d)
    available = counts.available_lower_bound(all_rss)
    if available <= min_available:
        return 0
    budget = available - min_available
    done = 0
    for rs in counts.oldest_first(old):
        if done >= budget:
            break
        size = counts.spec_replicas(rs)
        if size == 0:
            continue
        step = min(size, budget - done)
        run.scale(rs, size - step)
        done += step
    return done


def recreate(run: Run, rss: list[Obj]) -> float | None:
    new_rs, old = replicasets.split(run, rss, create=False)
    all_rss: list[Obj | None] = [*old, new_rs]
    scaled = False
    for rs in counts.active(old):
        scaled = run.scale(rs, 0) or scaled
    if scaled:
        return report(run, all_rss, new_rs)
    if _old_pods_running(run, new_rs, old):
        left = report(run, all_rss, new_rs)
        return RECREATE_POLL if left is None else min(left, RECREATE_POLL)
    if new_rs is None:
        new_rs, old = replicasets.split(run, rss, create=True)
        all_rss = [*old, new_rs]
    if counts.spec_replicas(new_rs) != counts.spec_replicas(run.d):
        run.scale(new_rs, counts.spec_replicas(run.d))
    if progress.complete(run.d, run.d.get("status") or {}):
        replicasets.cleanup(run, old)
    return report(run, all_rss, new_rs)


def _old_pods_running(run: Run, new_rs: Obj | None, old: list[Obj]) -> bool:
    """Whether any pod of an old ReplicaSet still exists and has not finished."""
    if counts.actual_total(old) > 0:
        return True
    uids = {rs["metadata"]["uid"] for rs in old}
    if not uids:
        return False
    match = (run.d["spec"].get("selector") or {}).get("matchLabels") or {}
    selector = ",".join(f"{k}={v}" for k, v in sorted(match.items()))
    pods = run.ctx.client.list(PODS, run.namespace, label_selector=selector).get("items", [])
    for pod in pods:
        refs = pod["metadata"].get("ownerReferences") or []
        if not any(r.get("controller") and r.get("uid") in uids for r in refs):
            continue
        if phase(pod) in ("Succeeded", "Failed") and not is_terminating(pod):
            continue
        return True
    return False


# ---- scaling -----------------------------------------------------------------------------------


def is_scaling_event(run: Run, rss: list[Obj]) -> bool:
    """An active ReplicaSet was sized for another ``replicas`` than the Deployment asks now."""
    want = str(counts.spec_replicas(run.d))
    for rs in counts.active(rss):
        desired = (rs["metadata"].get("annotations") or {}).get(revisions.DESIRED_REPLICAS)
        if desired is not None and desired != want:
            return True
    return False


def scale_only(run: Run, rss: list[Obj]) -> float | None:
    """Resize without rolling (paused, or ``replicas`` changed): proportionally across ReplicaSets."""
    new_rs, old = replicasets.split(run, rss, create=False)
    scale(run, new_rs, old)
    if run.d["spec"].get("paused"):
        replicasets.cleanup(run, old)
    all_rss: list[Obj | None] = [*old, new_rs]
    run.write_status(progress.calculate(run.d, all_rss, new_rs))
    return None


def scale(run: Run, new_rs: Obj | None, old: list[Obj]) -> None:
    d = run.d
    replicas = counts.spec_replicas(d)
    only = _active_or_latest(new_rs, old)
    if only is not None:
        run.scale(only, replicas)
        return
    if _saturated(d, new_rs):
        for rs in counts.active(old):
            run.scale(rs, 0)
        return
    if not counts.is_rolling(d):
        return
    live = counts.active([*old, new_rs])
    allowed = replicas + counts.max_surge(d) if replicas > 0 else 0
    to_add = allowed - counts.desired_total(live)
    ordered = counts.by_size_newer_first(live) if to_add > 0 else counts.by_size_older_first(live)
    sizes: dict[str, int] = {}
    added = 0
    for rs in ordered:
        share = _proportion(d, rs, to_add, added)
        sizes[rs["metadata"]["name"]] = counts.spec_replicas(rs) + share
        added += share
    if ordered and to_add != 0:
        first = ordered[0]["metadata"]["name"]
        sizes[first] = max(0, sizes[first] + to_add - added)
    for rs in ordered:
        run.scale(rs, sizes[rs["metadata"]["name"]])


def _active_or_latest(new_rs: Obj | None, old: list[Obj]) -> Obj | None:
    """The one ReplicaSet running pods (or the newest when none is), None when several are."""
    if new_rs is None and not old:
        return None
    newest_first = sorted(old, key=counts.created, reverse=True)
    live = counts.active([*newest_first, new_rs])
    if not live:
        return new_rs if new_rs is not None else newest_first[0]
    return live[0] if len(live) == 1 else None


def _saturated(d: Obj, rs: Obj | None) -> bool:
    if rs is None:
        return False
    desired = (rs["metadata"].get("annotations") or {}).get(revisions.DESIRED_REPLICAS)
    replicas = counts.spec_replicas(d)
    return (
        desired == str(replicas)
        and counts.spec_replicas(rs) == replicas
        and counts.status_of(rs, "availableReplicas") == replicas
    )


def _proportion(d: Obj, rs: Obj, to_add: int, added: int) -> int:
    """``rs``'s share of ``to_add`` replicas, from the max-replicas it was sized for."""
    size = counts.spec_replicas(rs)
    if size == 0 or to_add == 0 or to_add == added:
        return 0
    if counts.spec_replicas(d) == 0:
        fraction = -size
    else:
        total = counts.spec_replicas(d) + counts.max_surge(d)
        try:
            sized_for = int((rs["metadata"].get("annotations") or {})[revisions.MAX_REPLICAS])
        except (KeyError, ValueError):
            sized_for = counts.status_of(d, "replicas")
        fraction = (math.floor(size * total / sized_for + 0.5) - size) if sized_for else 0
    allowed = to_add - added
    return min(fraction, allowed) if to_add > 0 else max(fraction, allowed)


# ---- status ------------------------------------------------------------------------------------


def report(run: Run, all_rss: list[Obj | None], new_rs: Obj | None) -> float | None:
    """Write the rollout status; when it is unchanged and the rollout still going, the seconds until
    its progress deadline (so a rollout that stopped moving is marked at the deadline)."""
    status = progress.rollout_status(run.d, all_rss, new_rs)
    if run.write_status(status):
        return None  # the write brings the Deployment back; that sync looks at the deadline
    left = progress.seconds_to_deadline(run.d, status)
    if left is None:
        return None
    return max(left, 0.0) + 1.0
