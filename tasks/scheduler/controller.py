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
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from cluster import errors, trace
from cluster.api.resources import lookup
from cluster.client import Client
from tasks.runtime.controller import Change, Context, Watch
from tasks.scheduler import placement, writes
from tasks.scheduler.cache import ClusterCache, pod_key
from tasks.scheduler.framework.podinfo import GROUP_ANNOTATION

log = logging.getLogger("kubeq.scheduler")
PODS = lookup("", "v1", "pods")
Obj = dict[str, Any]
RETRY_WAITING = "~unschedulable"  # the key that re-queues every waiting pod
LOCK_LEASE_MS = 5_000  # a killed worker's pass lock lapses this soon; a live pass renews it
LOCK_RENEW_SECONDS = 1.0
_RENEW = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0"
_RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"
RECENT_SECONDS = 30.0  # bindings shared with the next pass's worker for this long
REMOTE_ASSUME_SECONDS = 5.0  # another worker's binding is assumed this long unless the watch confirms it
MAX_BACKOFF = 10.0
UNSEEN_RETRY = 0.2  # a pod the API has but this worker's cache does not show yet is tried again this soon
BIND_THREADS = 24  # bindings are posted concurrently, beside the next pass
BIND_RETRY_SECONDS = 1.0  # a binding the API failed is tried again (through the queue) this soon
EVENT_THREADS = 2  # Scheduled events are posted in the background (best effort, like any Event)


def needs_scheduling(pod: Obj) -> bool:
    spec, md = pod.get("spec", {}), pod.get("metadata", {})
    return (
        not spec.get("nodeName")
        and not md.get("deletionTimestamp")
        and pod.get("status", {}).get("phase") not in ("Succeeded", "Failed")
    )


def _not_in_cache_yet(client: Client, keys: list[str]) -> list[str]:
    """Of ``keys`` missing from the cache, those the API still has unbound (the watch lags behind)."""
    out = []
    for key in keys:
        namespace, _, name = key.partition("/")
        try:
            pod = client.get(PODS, name, namespace)
        except errors.NotFound:
            continue
        if needs_scheduling(pod):
            out.append(key)
    return out


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
        self._recent_seen = 0.0  # newest score read from the shared recent-bindings set
        self._binders: ThreadPoolExecutor | None = None
        self._events: ThreadPoolExecutor | None = None

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
        done = [k for k in pods if cache.settled(k)]
        if done:  # bound (often by an earlier pass that took them ahead), finished or being deleted
            pipe = ctx.redis.pipeline(transaction=False)
            pipe.srem(self._key(ctx, "waiting"), *done)
            pipe.hdel(self._key(ctx, "attempts"), *done)
            pipe.execute()
            gone = set(done)
            pods = [k for k in pods if k not in gone]
            if not pods:  # nothing to place: no lock, no pass
                return results
        token = self._worker_id + ":" + uuid.uuid4().hex
        if not self._acquire(ctx, token):
            return dict.fromkeys(keys, 0.2)
        stop = threading.Event()
        keeper = threading.Thread(target=self._keep_lock, args=(ctx, token, stop), daemon=True)
        keeper.start()
        try:
            self._assume_recent(ctx, cache)
            results.update(self._schedule(ctx, cache, pods))
        finally:
            stop.set()
            keeper.join()
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

    def _keep_lock(self, ctx: Context, token: str, stop: threading.Event) -> None:
        """Renew the pass lock while the pass runs (a short lease, so a killed worker's lapses soon)."""
        lock = self._key(ctx, "lock")
        while not stop.wait(LOCK_RENEW_SECONDS):
            try:
                ctx.redis.eval(_RENEW, 1, lock, token, LOCK_LEASE_MS)
            except Exception:  # Redis blipped: try again next tick; the lease covers a few misses
                log.warning("could not renew the scheduling lock", exc_info=True)

    def _release(self, ctx: Context, token: str) -> None:
        ctx.redis.eval(_RELEASE, 1, self._key(ctx, "lock"), token)

    def _assume_recent(self, ctx: Context, cache: ClusterCache) -> None:
        """Bindings other workers made in the last seconds, in case our watch has not shown them."""
        recent = self._key(ctx, "recent")
        now = time.time()
        # entries are written under the scheduling lock, so those older than our last read (less a
        # margin for clock jitter) have been seen already
        since = max(now - RECENT_SECONDS, self._recent_seen - 0.2)
        pipe = ctx.redis.pipeline(transaction=False)
        pipe.zremrangebyscore(recent, 0, now - RECENT_SECONDS)
        pipe.zrangebyscore(recent, since, "+inf")
        _, entries = pipe.execute()
        self._recent_seen = now
        self._requeue(ctx, cache.expire(now))
        assumed = False
        for raw in entries:
            key, node = json.loads(raw)
            if cache.unbound(key):
                cache.assume(key, node, until=now + REMOTE_ASSUME_SECONDS)
                assumed = True
        if assumed:  # bindings still in flight elsewhere: if their binder died, take the pods back
            timer = threading.Timer(
                REMOTE_ASSUME_SECONDS + 0.5, lambda: self._requeue(ctx, cache.expire(time.time()))
            )
            timer.daemon = True
            timer.start()

    def _requeue(self, ctx: Context, keys: list[str], after: float = 0.0) -> None:
        """Queue ``keys`` for scheduling again (after ``after`` seconds)."""
        if not keys or ctx.enqueue is None:
            return
        if after <= 0:
            ctx.enqueue(self.name, keys)
            return
        timer = threading.Timer(after, ctx.enqueue, args=(self.name, keys))
        timer.daemon = True
        timer.start()

    def _schedule(
        self, ctx: Context, cache: ClusterCache, keys: list[str]
    ) -> dict[str, BaseException | float | None]:
        client: Client = ctx.client
        found = {k: cache.pod(k) for k in keys}
        todo = [p for p in found.values() if p is not None and needs_scheduling(p)]
        unseen = _not_in_cache_yet(client, [k for k, p in found.items() if p is None])
        over = [k for k, p in found.items() if k not in unseen and (p is None or not needs_scheduling(p))]
        if over:  # deleted or bound meanwhile: no longer waiting
            ctx.redis.srem(self._key(ctx, "waiting"), *over)
            ctx.redis.hdel(self._key(ctx, "attempts"), *over)
        if not todo:
            return dict.fromkeys(unseen, UNSEEN_RETRY)
        gangs = any((p["metadata"].get("annotations") or {}).get(GROUP_ANNOTATION) for p in todo)
        pending = cache.pending() if gangs else []  # only gangs look beyond the batch
        extra = self._ahead(cache, todo, self.batch_size - len(todo))
        todo += extra
        extra_keys = {pod_key(p) for p in extra}
        with cache.pass_lock:
            snapshot = cache.snapshot()
            try:
                decisions = placement.place(self._profiles, todo, snapshot, pending, random.Random())
            finally:  # the next snapshot re-reads whatever this pass assumed in it
                cache.touch([pod_key(p) for p in todo])
            cache.touch([pod_key(p) for p, _ in decisions])  # gang members from outside the batch
        results: dict[str, BaseException | float | None] = dict.fromkeys(unseen, UNSEEN_RETRY)
        recent = self._key(ctx, "recent")
        waiting = self._key(ctx, "waiting")
        attempts = self._key(ctx, "attempts")
        # leave the waiting set unless they wait again
        settled: list[str] = [pod_key(p) for p in todo if pod_key(p) not in extra_keys]
        placed = [(pod, d.node) for pod, d in decisions if d.node]
        for pod, node in placed:
            cache.assume(pod_key(pod), node)
        trace.mark_pods((pod for pod, _ in placed), "placed")
        if placed:  # shared before the lock goes, so the next pass on any worker counts them
            now = time.time()
            ctx.redis.zadd(recent, {json.dumps([pod_key(p), n]): now for p, n in placed})
        self._bind_in_background(ctx, cache, placed)
        for pod, decision in decisions:
            key = pod_key(pod)
            if decision.node or key in extra_keys:  # a pod taken ahead that did not fit: its own run says why
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

    @staticmethod
    def _ahead(cache: ClusterCache, todo: list[Obj], room: int) -> list[Obj]:
        """Up to ``room`` other pods the cache shows waiting, taken into this pass ahead of their own
        runs (which then find them bound), so that a pass is not spent on one or two pods while a
        backlog queues behind it. Only plain pods that have not yet been found unschedulable: gang
        members, pods nominated by preemption and pods waiting for room are left to their own runs."""
        if room <= 0:
            return []
        have = {pod_key(p) for p in todo}
        out: list[Obj] = []
        for pod in cache.pending():
            md, status = pod["metadata"], pod.get("status") or {}
            if (
                pod_key(pod) in have
                or (md.get("annotations") or {}).get(GROUP_ANNOTATION)
                or status.get("nominatedNodeName")
                or any(c.get("type") == "PodScheduled" for c in status.get("conditions") or ())
            ):
                continue
            out.append(pod)
            if len(out) >= room:
                break
        return out

    def _bind_in_background(self, ctx: Context, cache: ClusterCache, placed: list[tuple[Obj, str]]) -> None:
        """Post the bindings on the binder threads, as kube-scheduler's binding cycle does: the pass
        (and its lock) ends once its decisions are assumed, and the next pass overlaps the binding.
        A pod bound already or gone drops its assumption; a failed API call drops it and queues the
        pod again after ``BIND_RETRY_SECONDS``. Each bound pod's Scheduled event follows in the
        background too."""
        if not placed:
            return
        if self._binders is None:
            self._binders = ThreadPoolExecutor(BIND_THREADS, thread_name_prefix="scheduler-bind")
            self._events = ThreadPoolExecutor(EVENT_THREADS, thread_name_prefix="scheduler-events")
        client: Client = ctx.client

        def bind(pod: Obj, node: str) -> bool:
            key = pod_key(pod)
            try:
                bound = writes.bind(client, pod, node)
            except Exception:
                log.warning("binding %s to %s failed; trying again", key, node, exc_info=True)
                self._unassume(ctx, cache, key, node)
                self._requeue(ctx, [key], BIND_RETRY_SECONDS)
                return False
            if not bound:
                self._unassume(ctx, cache, key, node)
            return bound

        def announce(done: list[tuple[Obj, str]]) -> None:
            for pod, node in done:
                writes.scheduled_event(client, pod, node)

        def bind_all(chunk: list[tuple[Obj, str]]) -> None:
            done = [(pod, node) for pod, node in chunk if bind(pod, node)]
            if done:
                assert self._events is not None
                self._events.submit(announce, done)

        # one task per binder thread, not per pod: a pass of hundreds of pods pays for a few submits
        lanes = min(BIND_THREADS, len(placed))
        for lane in range(lanes):
            self._binders.submit(bind_all, placed[lane::lanes])

    def _unassume(self, ctx: Context, cache: ClusterCache, key: str, node: str) -> None:
        """Withdraw a binding that did not happen, here and from the entries other workers read."""
        cache.forget(key)
        try:
            ctx.redis.zrem(self._key(ctx, "recent"), json.dumps([key, node]))
        except Exception:  # Redis blipped: other workers' assumption lapses on its own
            log.warning("could not withdraw the assumed binding of %s", key, exc_info=True)
