"""The scheduler as a controller: which changes wake it, and one scheduling pass over a batch of pods.

A pass holds the scheduling lock (one pass at a time across every scheduler worker, like
kube-scheduler's leader), so no node is over-committed and no pod is bound twice. Bindings from
the last seconds are shared through Redis and assumed by whichever worker runs next, so its
cache cannot lag behind a binding another worker just made.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
import uuid
from collections.abc import Iterable
from typing import Any

from cluster.client import Client
from tasks.runtime.controller import Change, Context, Watch
from tasks.scheduler import placement, writes
from tasks.scheduler.cache import ClusterCache, pod_key

log = logging.getLogger("kubeq.scheduler")
Obj = dict[str, Any]
RETRY_WAITING = "~unschedulable"  # the key that re-queues every waiting pod
LOCK_LEASE_MS = 30_000
RECENT_SECONDS = 30.0  # bindings shared with the next pass's worker for this long
MAX_BACKOFF = 10.0


def needs_scheduling(pod: Obj) -> bool:
    spec, md = pod.get("spec", {}), pod.get("metadata", {})
    return (
        not spec.get("nodeName")
        and not md.get("deletionTimestamp")
        and pod.get("status", {}).get("phase") not in ("Succeeded", "Failed")
    )


def _pod_keys(change: Change) -> list[str]:
    """Unbound pods are keys; a pod that leaves a node may make room for waiting pods."""
    pod = change.object
    if change.type != "DELETED" and needs_scheduling(pod):
        return [pod_key(pod)]
    prev = change.prev or {}
    freed = (change.type == "DELETED" and pod.get("spec", {}).get("nodeName")) or (
        pod.get("status", {}).get("phase") in ("Succeeded", "Failed")
        and prev.get("status", {}).get("phase") not in ("Succeeded", "Failed")
    )
    return [RETRY_WAITING] if freed else []


def _node_keys(change: Change) -> list[str]:
    """A node added or changed (capacity, taints, labels, cordon) may fit waiting pods."""
    if change.type == "DELETED":
        return []
    prev = change.prev or {}
    node = change.object
    if (
        change.type == "ADDED"
        or node.get("spec") != prev.get("spec")
        or node.get("metadata", {}).get("labels") != prev.get("metadata", {}).get("labels")
        or node.get("status", {}).get("allocatable") != prev.get("status", {}).get("allocatable")
    ):
        return [RETRY_WAITING]
    return []


class SchedulerController:
    """kube-scheduler on the ``scheduler`` queue: keys are pods waiting for a node."""

    name = "scheduler"
    queue = "scheduler"
    batch_size = 500
    watches = (Watch("pods", _pod_keys), Watch("nodes", _node_keys))

    def __init__(self) -> None:
        self._cache_lock = threading.Lock()
        self._profiles = placement.profiles()
        self._worker_id = uuid.uuid4().hex

    # ---- plumbing ----------------------------------------------------------------------
    def cache(self, ctx: Context) -> ClusterCache:
        with self._cache_lock:
            cache = ctx.caches.get("scheduler")
            if cache is None:
                cache = ctx.caches["scheduler"] = ClusterCache(ctx.client).start()
                cache.wait_synced(30)
            return cache

    def _key(self, ctx: Context, name: str) -> str:
        return f"{ctx.broker_prefix}scheduler:{name}"

    def resync_keys(self, ctx: Context) -> Iterable[str]:
        _, pods = self.cache(ctx).copy()
        return [pod_key(p) for p in pods if needs_scheduling(p)]

    # ---- one pass ----------------------------------------------------------------------
    def sync_batch(self, keys: list[str], ctx: Context) -> dict[str, BaseException | float | None]:
        results: dict[str, BaseException | float | None] = dict.fromkeys(keys)
        if RETRY_WAITING in keys:
            waiting = [
                k.decode() if isinstance(k, bytes) else k
                for k in ctx.redis.smembers(self._key(ctx, "waiting"))
            ]
            if waiting and ctx.enqueue is not None:
                ctx.enqueue(self.name, waiting)
        pods = [k for k in keys if k != RETRY_WAITING]
        if not pods:
            return results
        cache = self.cache(ctx)
        token = self._worker_id + ":" + uuid.uuid4().hex
        if not self._acquire(ctx, token):
            return dict.fromkeys(keys, 0.2)
        try:
            self._assume_recent(ctx, cache)
            results.update(self._schedule(ctx, cache, pods))
        finally:
            self._release(ctx, token)
        return results

    def _acquire(self, ctx: Context, token: str, wait: float = 5.0) -> bool:
        deadline = time.monotonic() + wait
        lock = self._key(ctx, "lock")
        while time.monotonic() < deadline:
            if ctx.redis.set(lock, token, nx=True, px=LOCK_LEASE_MS):
                return True
            time.sleep(0.01)
        return False

    def _release(self, ctx: Context, token: str) -> None:
        lock = self._key(ctx, "lock")
        current = ctx.redis.get(lock)
        if current is not None and (current.decode() if isinstance(current, bytes) else current) == token:
            ctx.redis.delete(lock)

    def _assume_recent(self, ctx: Context, cache: ClusterCache) -> None:
        """Bindings other workers made in the last seconds, in case our watch has not shown them."""
        recent = self._key(ctx, "recent")
        now = time.time()
        ctx.redis.zremrangebyscore(recent, 0, now - RECENT_SECONDS)
        for raw in ctx.redis.zrangebyscore(recent, now - RECENT_SECONDS, "+inf"):
            key, node = json.loads(raw)
            pod = cache.pod(key)
            if pod is not None and not pod["spec"].get("nodeName"):
                cache.assume(key, node)

    def _schedule(
        self, ctx: Context, cache: ClusterCache, keys: list[str]
    ) -> dict[str, BaseException | float | None]:
        client: Client = ctx.client
        nodes, all_pods = cache.copy()
        todo = [p for p in (cache.pod(k) for k in keys) if p is not None and needs_scheduling(p)]
        if not todo:
            return {}
        snapshot = placement.snapshot(nodes, all_pods)
        pending = [p for p in all_pods if needs_scheduling(p)]
        decisions = placement.place(self._profiles, todo, snapshot, pending, random.Random())
        results: dict[str, BaseException | float | None] = {}
        recent = self._key(ctx, "recent")
        waiting = self._key(ctx, "waiting")
        attempts = self._key(ctx, "attempts")
        settled: list[str] = [pod_key(p) for p in todo]  # leave the waiting set unless they wait again
        for pod, decision in decisions:
            key = pod_key(pod)
            if decision.node:
                cache.assume(key, decision.node)
                if writes.bind(client, pod, decision.node):
                    ctx.redis.zadd(recent, {json.dumps([key, decision.node]): time.time()})
                    writes.scheduled_event(client, pod, decision.node)
                else:
                    cache.forget(key)
                continue
            if decision.nominated:
                for victim in decision.victims:
                    writes.evict(client, victim, pod)
                writes.nominate(client, pod, decision.nominated)
            writes.mark_unschedulable(client, pod, decision.message)
            ctx.redis.sadd(waiting, key)
            if key in settled:
                settled.remove(key)
            n = ctx.redis.hincrby(attempts, key, 1)
            if key in results or key in keys:
                results[key] = min(2.0 ** (n - 1), MAX_BACKOFF)
        if settled:
            ctx.redis.srem(waiting, *settled)
            ctx.redis.hdel(attempts, *settled)
        return results
