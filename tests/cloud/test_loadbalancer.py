"""LoadBalancer Services through the real cloud-controller-manager workers and the ``local`` provider."""

from __future__ import annotations

from typing import Any

from cluster import errors
from cluster.api.resources import lookup
from tasks.cloud import configstate
from tasks.cloud.local import LOADBALANCERS
from tasks.cloud.service import FINALIZER
from tests.cloud.conftest import POOL
from tests.e2e.scheduling import Cluster, wait_for

SERVICES = lookup("", "v1", "services")
EVENTS = lookup("", "v1", "events")
Obj = dict[str, Any]


def lb_service(name: str, port: int = 80, type_: str = "LoadBalancer") -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {"type": type_, "selector": {"app": name}, "ports": [{"port": port, "protocol": "TCP"}]},
    }


def ingress_ip(cluster: Cluster, ns: str, name: str) -> str | None:
    svc = cluster.client.get(SERVICES, name, ns)
    ingress = ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    return ingress[0]["ip"] if ingress else None


def event_counts(cluster: Cluster, ns: str, name: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for ev in cluster.client.list(EVENTS, ns)["items"]:
        if ev["involvedObject"]["name"] == name:
            out[ev["reason"]] = out.get(ev["reason"], 0) + int(ev.get("count") or 1)
    return out


def gone(cluster: Cluster, ns: str, name: str) -> bool:
    try:
        cluster.client.get(SERVICES, name, ns)
    except errors.NotFound:
        return True
    return False


def allocations(cluster: Cluster) -> dict[str, Obj]:
    return configstate.read(cluster.client, LOADBALANCERS)[0]


def test_pool_addresses_are_shared_by_port_and_released_on_delete(cluster: Cluster, ns: str) -> None:
    client = cluster.client
    client.create(lb_service("first"), ns)
    first = wait_for(lambda: ingress_ip(cluster, ns, "first"), 20, "an ingress for the first Service")
    assert first in POOL
    assert FINALIZER in client.get(SERVICES, "first", ns)["metadata"]["finalizers"]
    assert allocations(cluster)[f"{ns}.first"]["ip"] == first

    # The same port cannot go on the same address again: the other pool address.
    client.create(lb_service("second"), ns)
    second = wait_for(lambda: ingress_ip(cluster, ns, "second"), 20, "an ingress for the second Service")
    assert {first, second} == set(POOL)

    # Another port fits beside the first Service on the first free address.
    client.create(lb_service("other-port", port=8080), ns)
    assert wait_for(lambda: ingress_ip(cluster, ns, "other-port"), 20, "an ingress on port 8080") == POOL[0]

    # Port 80 is taken on both addresses: pending, with a warning Event.
    client.create(lb_service("third"), ns)
    wait_for(lambda: event_counts(cluster, ns, "third").get("SyncLoadBalancerFailed"), 20, "a failure Event")
    assert ingress_ip(cluster, ns, "third") is None
    assert FINALIZER in client.get(SERVICES, "third", ns)["metadata"]["finalizers"]

    # Deleting the first Service releases its address (finalizer dropped) and the third one takes it.
    client.delete(SERVICES, "first", ns)
    wait_for(lambda: gone(cluster, ns, "first"), 20, "the first Service to go")
    assert f"{ns}.first" not in allocations(cluster)
    assert wait_for(lambda: ingress_ip(cluster, ns, "third"), 30, "the third Service's ingress") == first

    # Each Service was ensured once, although two cloud-controller-manager workers share the queue.
    for name in ("second", "other-port", "third"):
        assert event_counts(cluster, ns, name).get("EnsuredLoadBalancer") == 1, name
    for name in ("second", "other-port", "third"):
        client.delete(SERVICES, name, ns)
    wait_for(lambda: all(gone(cluster, ns, n) for n in ("second", "other-port", "third")), 20, "cleanup")
    assert not [k for k in allocations(cluster) if k.startswith(f"{ns}.")]


def test_type_change_tears_the_load_balancer_down(cluster: Cluster, ns: str) -> None:
    client = cluster.client
    client.create(lb_service("flip", port=9090), ns)
    wait_for(lambda: ingress_ip(cluster, ns, "flip"), 20, "an ingress")
    svc = client.get(SERVICES, "flip", ns)
    svc["spec"]["type"] = "ClusterIP"
    svc["spec"].pop("externalTrafficPolicy", None)
    for port in svc["spec"]["ports"]:
        port.pop("nodePort", None)
    client.update(svc)

    def torn_down() -> bool:
        now = client.get(SERVICES, "flip", ns)
        return ingress_ip(cluster, ns, "flip") is None and FINALIZER not in (
            now["metadata"].get("finalizers") or []
        )

    wait_for(torn_down, 20, "ingress and finalizer to be removed")
    assert f"{ns}.flip" not in allocations(cluster)
    assert event_counts(cluster, ns, "flip").get("DeletedLoadBalancer") == 1
    client.delete(SERVICES, "flip", ns)
