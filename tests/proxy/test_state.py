"""Building a node's ProxyState from Services and EndpointSlices (pure), and routing proxy syncs."""

from __future__ import annotations

from typing import Any

from tasks.proxy.model import Endpoint, targets
from tasks.proxy.state import DEFAULT_AFFINITY_SECONDS, build_state
from workers.celery_app import route
from workers.proxy.wire import from_wire, to_wire


def svc(name: str, ns: str = "default", **spec: Any) -> dict:
    status = spec.pop("status", {})
    spec.setdefault("type", "ClusterIP")
    spec.setdefault("clusterIP", "10.96.0.20")
    spec.setdefault("ports", [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080}])
    return {"metadata": {"name": name, "namespace": ns}, "spec": spec, "status": status}


def eps(
    service: str, ports: list[dict], endpoints: list[dict], ns: str = "default", kind: str = "IPv4"
) -> dict:
    return {
        "metadata": {
            "name": f"{service}-x",
            "namespace": ns,
            "labels": {"kubernetes.io/service-name": service},
        },
        "addressType": kind,
        "ports": ports,
        "endpoints": endpoints,
    }


HTTP = [{"name": "http", "port": 8080, "protocol": "TCP"}]


def test_cluster_ip_service_gets_its_slices_endpoints_matched_by_port_name() -> None:
    slices = [
        eps(
            "web",
            [*HTTP, {"name": "metrics", "port": 9090, "protocol": "TCP"}],
            [
                {"addresses": ["10.244.1.5"], "nodeName": "n1", "zone": "z1"},
                {"addresses": ["10.244.2.7"], "conditions": {"ready": False}, "nodeName": "n2"},
            ],
        ),
        eps("web", HTTP, [{"addresses": ["10.244.1.9"]}], ns="other"),  # another namespace's "web"
        eps("db", HTTP, [{"addresses": ["10.244.1.8"]}]),
    ]
    state = build_state("n1", ["192.168.1.4"], [svc("web")], slices)
    assert state.node == "n1" and state.node_ips == ("192.168.1.4",)
    (sp,) = state.services
    assert (sp.key, sp.port, sp.protocol, sp.cluster_ips) == ("default/web:http", 80, "TCP", ("10.96.0.20",))
    assert sp.endpoints == (
        Endpoint("10.244.1.5", 8080, node="n1", zone="z1"),
        Endpoint("10.244.2.7", 8080, ready=False, serving=False, node="n2"),
    )
    assert targets(sp, "n1") == [Endpoint("10.244.1.5", 8080, node="n1", zone="z1")]


def test_unnamed_ports_and_conditions_follow_the_endpointslice_api() -> None:
    service = svc("web", ports=[{"port": 53, "protocol": "UDP", "targetPort": 5353}])
    slices = [
        eps(
            "web",
            [{"port": 5353, "protocol": "UDP"}],
            [
                {
                    "addresses": ["10.244.1.5"],
                    "conditions": {"ready": False, "serving": True, "terminating": True},
                },
                {"addresses": ["10.244.1.6"], "conditions": {}},
            ],
        ),
        eps("web", [{"port": 5353, "protocol": "TCP"}], [{"addresses": ["10.244.1.7"]}]),  # wrong protocol
        eps("web", [{"port": 1, "protocol": "UDP"}], [{"addresses": ["web.example"]}], kind="FQDN"),
    ]
    (sp,) = build_state("n1", [], [service], slices).services
    assert sp.key == "default/web:53" and sp.protocol == "UDP"
    assert sp.endpoints == (
        Endpoint("10.244.1.5", 5353, ready=False, serving=True, terminating=True),
        Endpoint("10.244.1.6", 5353),
    )


def test_node_port_load_balancer_affinity_and_policies() -> None:
    service = svc(
        "lb",
        type="LoadBalancer",
        ports=[{"name": "http", "port": 80, "nodePort": 30080, "protocol": "TCP"}],
        externalIPs=["203.0.113.9"],
        sessionAffinity="ClientIP",
        externalTrafficPolicy="Local",
        internalTrafficPolicy="Local",
        status={"loadBalancer": {"ingress": [{"ip": "192.168.1.200"}, {"hostname": "lb.example"}]}},
    )
    (sp,) = build_state("n1", [], [service], []).services
    assert sp.node_port == 30080
    assert sp.load_balancer_ips == ("192.168.1.200",) and sp.external_ips == ("203.0.113.9",)
    assert sp.affinity_seconds == DEFAULT_AFFINITY_SECONDS
    assert sp.internal_local and sp.external_local
    custom = svc("s", sessionAffinity="ClientIP", sessionAffinityConfig={"clientIP": {"timeoutSeconds": 60}})
    assert build_state("n1", [], [custom], []).services[0].affinity_seconds == 60
    assert build_state("n1", [], [svc("s")], []).services[0].affinity_seconds is None


def test_external_name_and_headless_services_are_not_proxied() -> None:
    services = [
        svc("ext", type="ExternalName", externalName="example.com", clusterIP=None),
        svc("headless", clusterIP="None", clusterIPs=["None"]),
        svc("unallocated", clusterIP=""),
        svc("web", ports=[{"name": "a", "port": 80}, {"name": "b", "port": 81, "protocol": "UDP"}]),
    ]
    state = build_state("n1", [], services, [])
    assert [sp.key for sp in state.services] == ["default/web:a", "default/web:b"]
    assert state.services[0].protocol == "TCP"


def test_states_are_stable_and_survive_the_daemon_wire() -> None:
    services = [svc("b", clusterIP="10.96.0.3"), svc("a", clusterIP="10.96.0.2"), svc("a", ns="z")]
    slices = [eps("a", HTTP, [{"addresses": ["10.244.1.5"], "nodeName": "n1"}])]
    one = build_state("n1", ["1.2.3.4", "1.2.3.4"], services, slices)
    two = build_state("n1", ["1.2.3.4"], list(reversed(services)), slices)
    assert one == two and one.fingerprint() == two.fingerprint()
    assert [sp.key for sp in one.services] == ["default/a:http", "default/b:http", "z/a:http"]
    assert from_wire(to_wire(one)) == one


def test_proxy_syncs_route_to_the_nodes_own_queue() -> None:
    assert route("kubeq.proxy.sync", [["n7"]], {}, {}) == {"queue": "node.n7"}
    assert route("kubeq.kubelet.sync", [["n7/default/p"]], {}, {}) == {"queue": "node.n7"}
    assert route("kubeq.resync", [], {"controller": "proxy"}, {}) == {"queue": "controllers"}
