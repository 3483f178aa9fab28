"""Service allocation in the API: ClusterIPs and NodePorts reserved, refused, kept and released.

Against a real ``kubeq apiserver`` process (the Python client and kubectl), on the default ranges
10.96.0.0/16 and 30000-32767; range exhaustion on an in-process registry with tiny ranges.
"""

from __future__ import annotations

import ipaddress
import json
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config
from kubernetes.client.rest import ApiException

from cluster import errors
from cluster.api.resources import lookup
from cluster.registry import Registry, WriteOptions, ensure_system_namespaces
from cluster.registry.allocations import SERVICE_IPS, Owner, Reservations
from cluster.registry.bootstrap import ensure_kubernetes_service, repair_service_allocations
from cluster.registry.servicealloc import ServiceAllocator
from cluster.settings import Settings
from cluster.store import Store
from tests.e2e.conftest import APIServerProcess, launch_apiserver

SERVICES = lookup("", "v1", "services")


@pytest.fixture(scope="module")
def server(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[APIServerProcess]:
    with launch_apiserver(redis_url, tmp_path_factory.mktemp("kube")) as api:
        yield api


@pytest.fixture(scope="module")
def registry(server: APIServerProcess) -> Registry:
    """An in-process registry on the server's own state (what its start-up steps run on)."""
    return Registry(Store.from_url(server.redis_url, server.prefix))


@pytest.fixture(scope="module")
def core(server: APIServerProcess, registry: Registry) -> Iterator[client.CoreV1Api]:
    port = int(server.url.rsplit(":", 1)[1])
    ensure_kubernetes_service(
        registry, Settings(bind_address="127.0.0.1", port=port)
    )  # the server's start step
    cfg = client.Configuration()
    config.load_kube_config(config_file=str(server.kubeconfig), client_configuration=cfg)
    with client.ApiClient(cfg) as api:
        yield client.CoreV1Api(api)


@pytest.fixture
def ns(core: client.CoreV1Api) -> str:
    name = f"s-{uuid.uuid4().hex[:8]}"
    core.create_namespace({"metadata": {"name": name}})
    return name


def svc(name: str, kind: str = "ClusterIP", cluster_ip: str | None = None, **port: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {"type": kind, "ports": [{"port": 80, **port}], "selector": {"app": name}}
    if cluster_ip:
        spec["clusterIP"] = cluster_ip
    return {"metadata": {"name": name}, "spec": spec}


def refused(call: Any, *args: Any) -> dict[str, Any]:
    """The Status body of a call that must fail."""
    with pytest.raises(ApiException) as info:
        call(*args)
    return {"code": info.value.status, **json.loads(info.value.body)}


def free_ip(core: client.CoreV1Api) -> str:
    """An address in the static band no Service of the cluster holds."""
    used = {s.spec.cluster_ip for s in core.list_service_for_all_namespaces().items}
    return next(ip for ip in (f"10.96.0.{n}" for n in range(20, 250)) if ip not in used)


def test_cluster_ip_comes_from_the_upper_part_of_the_range(core: client.CoreV1Api, ns: str) -> None:
    created = core.create_namespaced_service(ns, svc("web"))
    ip = ipaddress.ip_address(created.spec.cluster_ip)
    assert ip in ipaddress.ip_network("10.96.0.0/16") and ip >= ipaddress.ip_address("10.96.1.0")
    assert created.spec.cluster_ips == [created.spec.cluster_ip]
    assert created.spec.ip_families == ["IPv4"]
    assert core.read_namespaced_service("web", ns).spec.cluster_ip == created.spec.cluster_ip


def test_explicit_ip_is_kept_and_a_second_claim_is_422(core: client.CoreV1Api, ns: str) -> None:
    ip = free_ip(core)
    assert core.create_namespaced_service(ns, svc("first", cluster_ip=ip)).spec.cluster_ip == ip
    status = refused(core.create_namespaced_service, ns, svc("second", cluster_ip=ip))
    assert status["code"] == 422 and status["reason"] == "Invalid"
    assert f'spec.clusterIPs: Invalid value: "{ip}"' in status["message"]
    assert "provided IP is already allocated" in status["message"]
    assert status["details"]["causes"][0]["field"] == "spec.clusterIPs"
    assert refused(core.read_namespaced_service, "second", ns)["code"] == 404  # nothing written
    assert core.read_namespaced_service("first", ns).spec.cluster_ip == ip


def test_ip_outside_the_range_is_422(core: client.CoreV1Api, ns: str) -> None:
    status = refused(core.create_namespaced_service, ns, svc("far", cluster_ip="10.97.0.5"))
    assert status["code"] == 422
    assert (
        "provided IP is not in the valid range. The range of valid IPs is 10.96.0.0/16" in status["message"]
    )


def test_headless_service_has_no_address(core: client.CoreV1Api, ns: str) -> None:
    created = core.create_namespaced_service(ns, svc("db", cluster_ip="None"))
    assert created.spec.cluster_ip == "None" and created.spec.cluster_ips == ["None"]


def test_deleting_a_service_frees_its_ip(core: client.CoreV1Api, ns: str) -> None:
    ip = free_ip(core)
    core.create_namespaced_service(ns, svc("old", cluster_ip=ip))
    core.delete_namespaced_service("old", ns)
    assert core.create_namespaced_service(ns, svc("new", cluster_ip=ip)).spec.cluster_ip == ip


def test_cluster_ip_is_immutable(core: client.CoreV1Api, ns: str) -> None:
    core.create_namespaced_service(ns, svc("fixed"))
    status = refused(core.patch_namespaced_service, "fixed", ns, {"spec": {"clusterIP": free_ip(core)}})
    assert status["code"] == 422 and "field is immutable" in status["message"]


def test_external_name_gets_no_ip_and_switching_to_it_frees_the_ip(core: client.CoreV1Api, ns: str) -> None:
    ip = free_ip(core)
    core.create_namespaced_service(ns, svc("alias", cluster_ip=ip))
    changed = core.patch_namespaced_service(
        "alias", ns, {"spec": {"type": "ExternalName", "externalName": "example.com"}}
    )
    assert changed.spec.cluster_ip is None and changed.spec.cluster_ips is None
    assert core.create_namespaced_service(ns, svc("taker", cluster_ip=ip)).spec.cluster_ip == ip
    back = core.patch_namespaced_service("alias", ns, {"spec": {"type": "ClusterIP", "externalName": None}})
    assert back.spec.cluster_ip not in (None, "", ip)


def test_node_ports_are_allocated_in_range_and_shared_by_tcp_and_udp(core: client.CoreV1Api, ns: str) -> None:
    body = svc("dns", "NodePort")
    body["spec"]["ports"][0]["name"] = "tcp"
    body["spec"]["ports"].append({"name": "udp", "port": 80, "protocol": "UDP"})
    body["spec"]["ports"].append({"name": "other", "port": 81})
    ports = core.create_namespaced_service(ns, body).spec.ports
    assert all(30000 <= p.node_port <= 32767 for p in ports)
    assert ports[0].node_port == ports[1].node_port != ports[2].node_port


def test_node_port_conflicts_and_range_are_422(core: client.CoreV1Api, ns: str) -> None:
    taken = core.create_namespaced_service(ns, svc("a", "NodePort")).spec.ports[0].node_port
    status = refused(core.create_namespaced_service, ns, svc("b", "NodePort", nodePort=taken))
    assert status["code"] == 422
    assert (
        f"spec.ports[0].nodePort: Invalid value: {taken}: provided port is already allocated"
        in (status["message"])
    )
    before = {s.spec.cluster_ip for s in core.list_namespaced_service(ns).items}
    status = refused(core.create_namespaced_service, ns, svc("c", "NodePort", nodePort=29999))
    assert (
        "provided port is not in the valid range. The range of valid ports is 30000-32767"
        in (status["message"])
    )
    assert {s.spec.cluster_ip for s in core.list_namespaced_service(ns).items} == before


def test_type_changes_release_and_allocate_node_ports(core: client.CoreV1Api, ns: str) -> None:
    port = core.create_namespaced_service(ns, svc("flip", "NodePort")).spec.ports[0].node_port
    plain = core.patch_namespaced_service("flip", ns, {"spec": {"type": "ClusterIP"}})
    assert plain.spec.ports[0].node_port is None
    assert core.create_namespaced_service(ns, svc("taker", "NodePort", nodePort=port)).spec.ports[0].node_port
    again = core.patch_namespaced_service("flip", ns, {"spec": {"type": "NodePort"}})
    assert 30000 <= again.spec.ports[0].node_port <= 32767 and again.spec.ports[0].node_port != port
    lb = core.patch_namespaced_service("flip", ns, {"spec": {"type": "LoadBalancer"}})
    assert lb.spec.ports[0].node_port == again.spec.ports[0].node_port


def test_replace_without_node_port_keeps_it(core: client.CoreV1Api, ns: str) -> None:
    created = core.create_namespaced_service(ns, svc("keep", "NodePort"))
    body = svc("keep", "NodePort")  # what a client that never saw the allocation sends back
    body["metadata"]["labels"] = {"tier": "web"}
    replaced = core.replace_namespaced_service("keep", ns, body)
    assert replaced.spec.ports[0].node_port == created.spec.ports[0].node_port
    assert replaced.spec.cluster_ip == created.spec.cluster_ip


def test_kubectl_apply_twice_keeps_the_node_port(server: APIServerProcess, ns: str, tmp_path: Path) -> None:
    def kubectl(*args: str, manifest: dict[str, Any] | None = None) -> str:
        cmd = ["kubectl", f"--kubeconfig={server.kubeconfig}", f"--cache-dir={tmp_path}", "-n", ns, *args]
        done = subprocess.run(
            cmd, input=json.dumps(manifest) if manifest else None, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    manifest = {"apiVersion": "v1", "kind": "Service", **svc("applied", "NodePort")}
    kubectl("apply", "-f", "-", manifest=manifest)
    first = json.loads(kubectl("get", "service", "applied", "-o", "json"))["spec"]
    manifest["metadata"]["labels"] = {"changed": "yes"}
    manifest["spec"]["ports"][0]["name"] = "http"
    kubectl("apply", "-f", "-", manifest=manifest)
    second = json.loads(kubectl("get", "service", "applied", "-o", "json"))
    assert second["metadata"]["labels"] == {"changed": "yes"}
    assert second["spec"]["ports"][0]["nodePort"] == first["ports"][0]["nodePort"]
    assert second["spec"]["clusterIP"] == first["clusterIP"]


def test_dry_run_reserves_nothing(core: client.CoreV1Api, ns: str) -> None:
    ip = free_ip(core)
    core.create_namespaced_service(ns, svc("ghost", cluster_ip=ip), dry_run="All")
    assert core.create_namespaced_service(ns, svc("real", cluster_ip=ip)).spec.cluster_ip == ip


def test_kubernetes_service_and_endpoints(server: APIServerProcess, core: client.CoreV1Api) -> None:
    port = int(server.url.rsplit(":", 1)[1])
    service = core.read_namespaced_service("kubernetes", "default")
    assert service.spec.cluster_ip == "10.96.0.1" and service.spec.selector is None
    assert [(p.name, p.port, p.protocol, p.target_port) for p in service.spec.ports] == [
        ("https", 443, "TCP", port)
    ]
    endpoints = core.read_namespaced_endpoints("kubernetes", "default")
    assert [a.ip for a in endpoints.subsets[0].addresses] == ["127.0.0.1"]
    assert [p.port for p in endpoints.subsets[0].ports] == [port]
    slices = client.DiscoveryV1Api(core.api_client).list_namespaced_endpoint_slice(
        "default", label_selector="kubernetes.io/service-name=kubernetes"
    )
    (only,) = slices.items
    assert only.address_type == "IPv4" and only.endpoints[0].addresses == ["127.0.0.1"]
    assert only.ports[0].port == port and only.endpoints[0].conditions.ready


def test_repair_frees_a_leaked_allocation(core: client.CoreV1Api, registry: Registry, ns: str) -> None:
    ip = free_ip(core)
    # A writer that crashed after reserving, before storing its Service, a minute ago:
    leaked = Reservations(registry.store, SERVICE_IPS)
    assert leaked.take(ip, Owner(f"{ns}/crashed", "uid-of-a-service-never-written"))
    record = registry.store.get(SERVICE_IPS, ip)
    record["reservedAt"] = time.time() - 600
    registry.store.update(SERVICE_IPS, ip, record, None)
    assert (
        "already allocated" in refused(core.create_namespaced_service, ns, svc("x", cluster_ip=ip))["message"]
    )
    report = repair_service_allocations(registry)
    assert ip in report["clusterIPs"]["freed"]
    assert core.create_namespaced_service(ns, svc("x", cluster_ip=ip)).spec.cluster_ip == ip
    # A fresh reservation (a write still in flight) survives the repair.
    assert leaked.take(free_ip(core), Owner(f"{ns}/inflight", "u2"))
    assert repair_service_allocations(registry)["clusterIPs"]["freed"] == []


def _tiny(redis_url: str, ips: str, ports: str) -> Registry:
    store = Store.from_url(redis_url, f"alloc-{uuid.uuid4().hex[:8]}")
    reg = Registry(store, ServiceAllocator(store, ips, ports))
    ensure_system_namespaces(reg)
    return reg


def test_full_ip_range_is_kubernetes_internal_error(redis_url: str) -> None:
    reg = _tiny(redis_url, "10.0.0.0/29", "30000-30001")
    made = []
    with pytest.raises(errors.InternalError) as info:
        for i in range(10):
            made.append(reg.create(SERVICES, "default", svc(f"s{i}"), WriteOptions()))
    assert "failed to allocate a serviceIP: range is full" in str(info.value)
    assert sorted(m["spec"]["clusterIP"] for m in made) == [f"10.0.0.{n}" for n in range(1, 7)]


def test_full_node_port_range_leaves_nothing_reserved(redis_url: str) -> None:
    reg = _tiny(redis_url, "10.0.0.0/24", "30000-30001")
    made = [reg.create(SERVICES, "default", svc(f"np{i}", "NodePort"), WriteOptions()) for i in range(2)]
    assert sorted(m["spec"]["ports"][0]["nodePort"] for m in made) == [30000, 30001]
    with pytest.raises(errors.InternalError) as info:
        reg.create(SERVICES, "default", svc("np2", "NodePort"), WriteOptions())
    assert "failed to allocate a nodePort: range is full" in str(info.value)
    assert reg.services.ips.table.taken() == {m["spec"]["clusterIP"] for m in made}
