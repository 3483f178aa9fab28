"""What the ReplicaSet controller does to pods: claim them, rank them for deletion, create in batches.

``claim`` adopts matching orphans and releases owned pods that stopped matching, through merge
patches pinned to the pod's resourceVersion (a pod changed meanwhile is left for the next sync).
``deletion_order`` ranks pods the way Kubernetes picks victims (simplified): unscheduled first,
then Pending before Running, not-ready before ready, recently ready before long ready, more
restarts first, and newest first. ``slow_start`` runs creations in batches 1, 2, 4, ... and stops
at the first batch that had a failure.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from cluster import errors
from cluster.api.resources import lookup
from tasks.controllers.base import controller_ref, owned_by, owner_reference
from tasks.controllers.pods import is_ready, is_terminating, parse_time, phase, ready_since
from tasks.scheduler.framework.selectors import LabelSelector

PODS = lookup("", "v1", "pods")
Obj = dict[str, Any]
MAX_PARALLEL = 16  # concurrent API writes per batch


def labels_of(obj: Obj) -> dict[str, str]:
    return (obj.get("metadata") or {}).get("labels") or {}


@dataclass
class Claimed:
    """The outcome of ``claim``: the pods the ReplicaSet controls now, and whether to look again soon."""

    pods: list[Obj] = field(default_factory=list)
    retry: bool = False  # some adoption/release lost a race; the next sync tries again


def _patch_refs(client: Any, pod: Obj, refs: list[Obj]) -> Obj:
    """Replace ``pod``'s ownerReferences, only if the pod is still at the version we read."""
    md = pod["metadata"]
    body = {"metadata": {"resourceVersion": md["resourceVersion"], "ownerReferences": refs or None}}
    return client.patch(PODS, md["name"], body, md["namespace"], patch_type="merge")


def claim(client: Any, rs: Obj, selector: LabelSelector | None, pods: list[Obj], can_adopt: bool) -> Claimed:
    """Sort active ``pods`` into the ReplicaSet's own: keep, adopt (when ``can_adopt``) or release."""
    out = Claimed()
    ref = owner_reference(rs)
    for pod in pods:
        matches = selector is not None and selector.matches(labels_of(pod))
        refs = list(pod["metadata"].get("ownerReferences") or [])
        try:
            if owned_by(pod, rs):
                if matches:
                    out.pods.append(pod)
                else:
                    _patch_refs(client, pod, [r for r in refs if r.get("uid") != rs["metadata"]["uid"]])
            elif controller_ref(pod) is None and matches and can_adopt and not is_terminating(pod):
                out.pods.append(_patch_refs(client, pod, [*refs, ref]))
        except errors.NotFound:
            continue
        except errors.Conflict:
            out.retry = True
    return out


def deletion_order(pods: list[Obj]) -> list[Obj]:
    """``pods`` with the ones to delete first at the front."""

    def rank(pod: Obj) -> tuple:
        assigned = bool((pod.get("spec") or {}).get("nodeName"))
        stage = {"Pending": 0, "Unknown": 1, "Running": 2}.get(phase(pod), 0)
        ready = is_ready(pod)
        since = ready_since(pod)
        restarts = sum(
            int(cs.get("restartCount") or 0)
            for cs in (pod.get("status") or {}).get("containerStatuses") or []
        )
        stamp = pod["metadata"].get("creationTimestamp")
        created = parse_time(stamp).timestamp() if stamp else 0.0
        # Ascending sort: negated times put the recently ready and the newest first.
        return (assigned, stage, ready, -(since.timestamp() if since else 0.0), -restarts, -created)

    return sorted(pods, key=rank)


def slow_start(
    count: int, create: Callable[[], Obj], initial: int = 1
) -> tuple[list[Obj], BaseException | None]:
    """Call ``create`` ``count`` times in batches 1, 2, 4, ... (each batch in parallel).

    Returns the objects created and the first error; no batch starts after one that failed.
    """
    made: list[Obj] = []
    remaining = count
    batch = min(remaining, initial)
    while batch > 0:
        results = _parallel([create] * batch)
        failures = [r for r in results if isinstance(r, BaseException)]
        made.extend(r for r in results if not isinstance(r, BaseException))
        if failures:
            return made, failures[0]
        remaining -= batch
        batch = min(2 * batch, remaining)
    return made, None


def _parallel(calls: list[Callable[[], Obj]]) -> list[Obj | BaseException]:
    def run(call: Callable[[], Obj]) -> Obj | BaseException:
        try:
            return call()
        except Exception as exc:  # reported to the caller, which records the failure
            return exc

    if len(calls) == 1:
        return [run(calls[0])]
    with ThreadPoolExecutor(min(len(calls), MAX_PARALLEL)) as pool:
        return list(pool.map(run, calls))


def delete_all(client: Any, pods: list[Obj]) -> tuple[list[Obj], BaseException | None]:
    """Delete ``pods`` in parallel; returns those deleted (or already gone) and the first error."""

    def deleter(pod: Obj) -> Callable[[], Obj]:
        def delete() -> Obj:
            md = pod["metadata"]
            try:
                client.delete(PODS, md["name"], md["namespace"])
            except errors.NotFound:
                pass
            return pod

        return delete

    results = _parallel([deleter(p) for p in pods])
    errs = [r for r in results if isinstance(r, BaseException)]
    return [r for r in results if not isinstance(r, BaseException)], (errs[0] if errs else None)
