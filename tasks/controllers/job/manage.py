"""Creating and deleting a Job's pods: how many (or which indexes) to add, which to remove."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from cluster import errors
from cluster.api.printers.format import selector_string
from cluster.api.resources import lookup
from tasks.controllers.base import owned_by
from tasks.controllers.job.census import Census
from tasks.controllers.job.indexed import completion_index, stamp_index
from tasks.controllers.pods import is_ready, pod_from_template

Obj = dict[str, Any]
PODS = lookup("", "v1", "pods")
THREADS = 8


def job_pods(client: Any, job: Obj) -> list[Obj]:
    """The pods the Job's selector matches and the Job controls."""
    md = job["metadata"]
    selector = selector_string((job.get("spec") or {}).get("selector"))
    items = client.list(PODS, md["namespace"], label_selector=selector).get("items", [])
    return [pod for pod in items if owned_by(pod, job)]


def new_pod(job: Obj, index: int | None) -> Obj:
    """A pod body from the Job's template (stamped with ``index`` for Indexed Jobs)."""
    md = job["metadata"]
    pod = pod_from_template(job["spec"].get("template") or {}, job, f"{md['name']}-", md["namespace"])
    return stamp_index(pod, index, md["name"]) if index is not None else pod


def create(client: Any, job: Obj, slots: list[int | None], on_created: Callable[[Obj], None]) -> int:
    """Create one pod per slot (an index or None) in slow-start batches of 1, 2, 4, ...;
    returns how many were created and raises the first error (the rest of the batch still lands)."""
    namespace = job["metadata"]["namespace"]
    created, batch = 0, 1
    with ThreadPoolExecutor(THREADS) as pool:
        while created < len(slots):
            chunk = slots[created : created + batch]
            futures = [pool.submit(client.create, new_pod(job, index), namespace) for index in chunk]
            failure: BaseException | None = None
            for future in futures:
                try:
                    on_created(future.result())
                    created += 1
                except Exception as exc:  # noqa: BLE001 - reported after the batch
                    failure = failure or exc
            if failure is not None:
                raise failure
            batch *= 2
    return created


def delete(client: Any, pods: list[Obj], on_deleted: Callable[[Obj], None]) -> None:
    """Delete ``pods`` (a pod already gone is fine)."""

    def one(pod: Obj) -> None:
        md = pod["metadata"]
        try:
            client.delete(PODS, md["name"], md["namespace"])
        except errors.NotFound:
            return
        on_deleted(pod)

    if pods:
        with ThreadPoolExecutor(min(THREADS, len(pods))) as pool:
            list(pool.map(one, pods))


def _deletion_rank(pod: Obj) -> tuple[int, int, str]:
    """Sort key: unscheduled first, then not ready, then newest first."""
    created = pod["metadata"].get("creationTimestamp") or ""
    inverted = "".join(chr(0x10FFFF - ord(c)) for c in created)
    return (1 if pod["spec"].get("nodeName") else 0, 1 if is_ready(pod) else 0, inverted)


def plan_non_indexed(spec: Obj, census: Census, busy: int) -> tuple[int, list[Obj]]:
    """(pods to create, pods to delete) for a NonIndexed Job with ``busy`` pods counted as running."""
    parallelism = spec.get("parallelism")
    parallelism = 1 if parallelism is None else parallelism
    completions = spec.get("completions")
    if completions is None:  # work queue: no new pods once any has succeeded
        wanted = parallelism if census.succeeded_count == 0 else min(busy, parallelism)
    else:
        wanted = max(0, min(parallelism, completions - census.succeeded_count))
    if busy < wanted:
        return wanted - busy, []
    excess = len(census.active) - wanted
    return 0, sorted(census.active, key=_deletion_rank)[: max(0, excess)]


def plan_indexed(spec: Obj, census: Census, hold_terminating: bool) -> tuple[list[int], list[Obj]]:
    """(indexes to start, pods to delete) for an Indexed Job: one active pod per pending index.

    With ``hold_terminating`` a terminating pod still occupies its index and a parallelism slot."""
    parallelism = spec.get("parallelism")
    parallelism = 1 if parallelism is None else parallelism
    completions = spec.get("completions") or 0
    running: dict[int, Obj] = {}
    doomed: list[Obj] = []
    for pod in census.active:
        index = completion_index(pod)
        if index is None or not 0 <= index < completions or index in running:
            doomed.append(pod)
        elif index in census.completed_indexes:
            doomed.append(pod)
        else:
            running[index] = pod
    keep = sorted(running)
    if len(keep) > parallelism:
        doomed += [running[i] for i in keep[parallelism:]]
        keep = keep[:parallelism]
    held = census.terminating if hold_terminating else []
    taken = {completion_index(p) for p in held} | set(running) | census.completed_indexes
    pending = [i for i in range(completions) if i not in taken]
    room = max(0, parallelism - len(keep) - len(held))
    return pending[:room], doomed
