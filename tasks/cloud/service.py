"""The service controller of the cloud-controller-manager: a load balancer per Service of type LoadBalancer.

``sync("ns/name")``: a Service of type LoadBalancer (without ``spec.loadBalancerClass``, which names
another implementation) first gets the finalizer ``service.kubernetes.io/load-balancer-cleanup``, then
the provider ensures its load balancer and the result goes to ``status.loadBalancer`` through the
status subresource, with Events ``EnsuringLoadBalancer`` / ``EnsuredLoadBalancer`` when that changes
something (a failure: Warning ``SyncLoadBalancerFailed``, and the key runs again after a delay that
doubles per failure up to ``RETRY_MAX``, so it gets an address once one frees up). A Service being deleted, or no longer of type LoadBalancer, has its load balancer
deleted, its ingress cleared and the finalizer dropped (``DeletingLoadBalancer`` /
``DeletedLoadBalancer``). A Service already gone has its load balancer deleted (a finalizer removed by
hand leaks nothing).

Nodes joining or leaving queue the ``~nodes`` key, whose sync queues every LoadBalancer Service again
(the default address pool is the nodes' addresses).
"""

from __future__ import annotations

import logging
from typing import Any

from cluster import errors
from cluster.api.resources import lookup
from tasks.cloud.provider import LoadBalancerError, provider
from tasks.controllers.base import KeyedController, key_of, split_key
from tasks.runtime.controller import Change, Context, Watch

SERVICES = lookup("", "v1", "services")
NODES = lookup("", "v1", "nodes")
FINALIZER = "service.kubernetes.io/load-balancer-cleanup"
RETRY_BASE = 0.5  # seconds before a pending Service is tried again; doubles per failure
RETRY_MAX = 30.0
NODES_KEY = "~nodes"  # not a valid namespace/name: never a Service's key
Obj = dict[str, Any]
log = logging.getLogger("kubeq.cloud")


def wants_lb(svc: Obj | None) -> bool:
    """A live Service of type LoadBalancer that no other implementation claims."""
    if not svc or svc["metadata"].get("deletionTimestamp"):
        return False
    spec = svc.get("spec") or {}
    return spec.get("type") == "LoadBalancer" and not spec.get("loadBalancerClass")


def has_finalizer(svc: Obj | None) -> bool:
    return bool(svc) and FINALIZER in (svc["metadata"].get("finalizers") or [])  # type: ignore[index]


def ingress_of(svc: Obj) -> list[Obj]:
    return list(((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or [])


def service_keys(change: Change) -> list[str]:
    """Services that are, were, or still hold the remains of a LoadBalancer."""
    for obj in (change.object, change.prev):
        if obj and (
            ((obj.get("spec") or {}).get("type") == "LoadBalancer") or has_finalizer(obj) or ingress_of(obj)
        ):
            return [key_of(change.object)]
    return []


def node_set_keys(change: Change) -> list[str]:
    """A node appeared, went away or changed its InternalIP: the load balancers look again."""
    if change.type in ("ADDED", "DELETED"):
        return [NODES_KEY]
    before = ((change.prev or {}).get("status") or {}).get("addresses")
    after = (change.object.get("status") or {}).get("addresses")
    return [NODES_KEY] if change.prev is not None and before != after else []


class ServiceLBController(KeyedController):
    """Keeps load balancers, ``status.loadBalancer`` and the cleanup finalizer in line with Services."""

    name = "servicelb"
    queue = "cloud"
    resource = SERVICES
    component = "service-controller"
    watches = (Watch("services", service_keys), Watch("nodes", node_set_keys, delay=1.0))

    def resync_keys(self, ctx: Context) -> list[str]:
        return [key_of(s) for s in ctx.client.list(SERVICES)["items"] if service_keys(_change(s))]

    def sync(self, key: str, ctx: Context) -> float | None:
        lb = provider(ctx.client).load_balancer()
        if lb is None:
            return None
        if key == NODES_KEY:
            keys = [key_of(s) for s in ctx.client.list(SERVICES)["items"] if wants_lb(s)]
            if keys and ctx.enqueue is not None:
                ctx.enqueue(self.name, keys)
            return None
        svc = self.get(ctx, key)
        if svc is None:
            namespace, name = split_key(key)
            lb.ensure_load_balancer_deleted({"metadata": {"namespace": namespace, "name": name}})
            return None
        svc.setdefault("apiVersion", "v1")
        svc.setdefault("kind", "Service")
        failures = ctx.caches.setdefault(self.name, {})
        if not wants_lb(svc):
            self._tear_down(ctx, lb, svc)
        else:
            try:
                self._ensure(ctx, lb, svc)
            except LoadBalancerError as exc:  # pending: look again later, less often each time
                failures[key] = failures.get(key, 0) + 1
                log.info("servicelb: %s stays pending: %s", key, exc)
                return min(RETRY_MAX, RETRY_BASE * 2 ** (failures[key] - 1))
        failures.pop(key, None)
        return None

    def _ensure(self, ctx: Context, lb: Any, svc: Obj) -> None:
        added = not has_finalizer(svc)
        if added:
            svc["metadata"]["finalizers"] = [*(svc["metadata"].get("finalizers") or []), FINALIZER]
            svc = ctx.client.update(svc)  # CAS: a concurrent change queues the key again
            svc.setdefault("apiVersion", "v1")
            svc.setdefault("kind", "Service")
        before, existed = lb.get_load_balancer(svc)
        needs = added or not existed or before.get("ingress") != ingress_of(svc)
        if needs:
            self.event(ctx, svc, "Normal", "EnsuringLoadBalancer", "Ensuring load balancer")
        try:
            status = lb.ensure_load_balancer(svc, ctx.client.list(NODES)["items"])
        except LoadBalancerError as exc:
            self.event(ctx, svc, "Warning", "SyncLoadBalancerFailed", f"Error syncing load balancer: {exc}")
            raise
        if status.get("ingress") != ingress_of(svc):
            self._write_ingress(ctx, svc, status.get("ingress") or None)
        if needs or status != before:
            self.event(ctx, svc, "Normal", "EnsuredLoadBalancer", "Ensured load balancer")

    def _tear_down(self, ctx: Context, lb: Any, svc: Obj) -> None:
        held = has_finalizer(svc)
        _, exists = lb.get_load_balancer(svc)
        if exists:
            self.event(ctx, svc, "Normal", "DeletingLoadBalancer", "Deleting load balancer")
            lb.ensure_load_balancer_deleted(svc)
            self.event(ctx, svc, "Normal", "DeletedLoadBalancer", "Deleted load balancer")
        if ingress_of(svc):
            svc = self._write_ingress(ctx, svc, None) or svc
        if held:
            svc["metadata"]["finalizers"] = [f for f in svc["metadata"]["finalizers"] if f != FINALIZER]
            svc.setdefault("apiVersion", "v1")
            svc.setdefault("kind", "Service")
            try:
                ctx.client.update(svc)
            except errors.NotFound:
                pass

    def _write_ingress(self, ctx: Context, svc: Obj, ingress: list[Obj] | None) -> Obj | None:
        """Merge-patch ``status.loadBalancer.ingress`` (None clears it); the Service after, None if gone."""
        md = svc["metadata"]
        patch = {"status": {"loadBalancer": {"ingress": ingress}}}
        try:
            return ctx.client.patch(SERVICES, md["name"], patch, md["namespace"], subresource="status")
        except errors.NotFound:
            return None


def _change(svc: Obj) -> Change:
    return Change("services", "ADDED", svc, None, 0)
