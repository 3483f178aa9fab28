"""The EndpointSlice and Endpoints controllers end to end: a real API server, dispatcher + controllers
worker, scheduler and three hollow nodes (each hollow pod gets its own IP from its node's range and
goes Ready); Services and workloads driven through kubectl and the Python client."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from cluster import errors
from cluster.api.resources import lookup
from cluster.client.client import Client
from tasks.controllers.endpointslice_plan import Plan, plan
from tests.controllers.harness import apply, kubectl, workload
from tests.e2e.scheduling import Cluster, launch_cluster, pod_object, wait_for

PODS = lookup("", "v1", "pods")
SERVICES = lookup("", "v1", "services")
ENDPOINTS = lookup("", "v1", "endpoints")
SLICES = lookup("discovery.k8s.io", "v1", "endpointslices")
MANAGED = "endpointslice.kubernetes.io/managed-by=endpointslice-controller.k8s.io"
HOLD = "kubeq.io/test-hold"
Obj = dict[str, Any]


@pytest.fixture(scope="module", name="cluster")
def cluster_fixture(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A fresh API server and control plane with 3 hollow nodes (as tests/controllers/conftest.py)."""
    with launch_cluster(redis_url, tmp_path_factory.mktemp("services"), hollow=3) as c:
        wait_for(lambda: c.node_count() == 3, 60, "3 hollow nodes")
        yield c


@pytest.fixture(scope="module", name="client")
def client_fixture(cluster: Cluster) -> Client:
    return cluster.client


@pytest.fixture(name="ns")
def ns_fixture(cluster: Cluster) -> str:
    """A new namespace for one test."""
    name = f"eps-{uuid.uuid4().hex[:6]}"
    cluster.client.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    return name


def service(name: str, selector: dict[str, str] | None, ports: list[Obj], **spec: Any) -> Obj:
    body: Obj = {"ports": ports, **spec}
    if selector is not None:
        body["selector"] = selector
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "labels": {"team": "x"}},
        "spec": body,
    }


def web(name: str, replicas: int, port_name: str = "http", port: int = 8080, app: str | None = None) -> Obj:
    ports = {
        "containers": [
            {
                "name": "c",
                "image": "registry.k8s.io/pause:3.10",
                "ports": [{"name": port_name, "containerPort": port}],
            }
        ]
    }
    return workload("Deployment", name, replicas, app=app, pod_spec=ports)


def slices(client: Client, ns: str, svc: str) -> list[Obj]:
    selector = f"kubernetes.io/service-name={svc},{MANAGED}"
    return client.list(SLICES, ns, label_selector=selector)["items"]


def endpoints_of(client: Client, ns: str, svc: str) -> list[Obj]:
    return [e for s in slices(client, ns, svc) for e in s.get("endpoints") or []]


def running_ips(client: Client, ns: str, app: str) -> set[str]:
    pods = client.list(PODS, ns, label_selector=f"app={app}")["items"]
    return {
        p["status"]["podIP"]
        for p in pods
        if (p.get("status") or {}).get("podIP") and not p["metadata"].get("deletionTimestamp")
    }


def ready_endpoint_ips(client: Client, ns: str, svc: str, count: int) -> set[str] | None:
    eps = endpoints_of(client, ns, svc)
    ips = {e["addresses"][0] for e in eps if e["conditions"]["ready"]}
    return ips if len(eps) == count and len(ips) == count else None


def set_ready(client: Client, ns: str, name: str, ready: bool) -> None:
    pod = client.get(PODS, name, ns)
    for cond in pod["status"]["conditions"]:
        if cond["type"] in ("Ready", "ContainersReady"):
            cond["status"] = "True" if ready else "False"
    client.update(pod, subresource="status")


def test_deployment_behind_service_gets_one_slice_and_an_endpoints_mirror(
    cluster: Cluster, client: Client, ns: str
) -> None:
    apply(cluster, ns, web("api", 3))
    apply(cluster, ns, service("api", {"app": "api"}, [{"name": "web", "port": 80, "targetPort": 8080}]))
    ips = wait_for(lambda: ready_endpoint_ips(client, ns, "api", 3), 30, "3 ready endpoints")
    assert ips == running_ips(client, ns, "api")
    (slice_,) = slices(client, ns, "api")
    svc = client.get(SERVICES, "api", ns)
    md = slice_["metadata"]
    assert md["name"].startswith("api-")
    assert md["labels"]["kubernetes.io/service-name"] == "api" and md["labels"]["team"] == "x"
    assert md["ownerReferences"] == [
        {
            "apiVersion": "v1",
            "kind": "Service",
            "name": "api",
            "uid": svc["metadata"]["uid"],
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    assert "endpoints.kubernetes.io/last-change-trigger-time" in md["annotations"]
    assert slice_["addressType"] == "IPv4"
    assert slice_["ports"] == [{"name": "web", "port": 8080, "protocol": "TCP"}]
    pods = {p["metadata"]["name"]: p for p in client.list(PODS, ns)["items"]}
    for ep in slice_["endpoints"]:
        pod = pods[ep["targetRef"]["name"]]
        assert ep["targetRef"] == {
            "kind": "Pod",
            "namespace": ns,
            "name": pod["metadata"]["name"],
            "uid": pod["metadata"]["uid"],
        }
        assert ep["addresses"] == [pod["status"]["podIP"]]
        assert ep["conditions"] == {"ready": True, "serving": True, "terminating": False}
        assert ep["nodeName"] == pod["spec"]["nodeName"]
        assert ep["zone"].startswith("zone-")
    # kubectl sees the same slice, and the Endpoints mirror for older clients
    listed = json.loads(kubectl(cluster, "get", "endpointslices", "-n", ns, "-o", "json").stdout)["items"]
    assert [s["metadata"]["name"] for s in listed] == [md["name"]]
    ep_obj = wait_for(lambda: _endpoints(client, ns, "api"), 10, "Endpoints api")
    assert ep_obj["metadata"]["labels"]["endpointslice.kubernetes.io/skip-mirror"] == "true"
    (subset,) = ep_obj["subsets"]
    assert subset["ports"] == [{"name": "web", "port": 8080, "protocol": "TCP"}]
    assert {a["ip"] for a in subset["addresses"]} == ips and "notReadyAddresses" not in subset
    for addr in subset["addresses"]:
        pod = pods[addr["targetRef"]["name"]]
        assert (
            addr["nodeName"] == pod["spec"]["nodeName"] and addr["targetRef"]["uid"] == pod["metadata"]["uid"]
        )
    assert "api" in kubectl(cluster, "get", "endpoints", "api", "-n", ns).stdout


def _endpoints(client: Client, ns: str, name: str) -> Obj | None:
    try:
        return client.get(ENDPOINTS, name, ns)
    except errors.NotFound:
        return None


def test_named_target_port_resolves_per_pod(client: Client, cluster: Cluster, ns: str) -> None:
    apply(cluster, ns, web("a", 2, port=8080, app="named"))
    other = pod_object("odd", labels={"app": "named"})
    other["spec"]["containers"][0]["ports"] = [{"name": "http", "containerPort": 9090}]
    client.create(other, ns)
    client.create(pod_object("portless", labels={"app": "named"}), ns)
    client.create(service("named", {"app": "named"}, [{"name": "web", "port": 80, "targetPort": "http"}]), ns)

    def grouped() -> dict[tuple[int, ...], int] | None:
        out = {
            tuple(p["port"] for p in s.get("ports") or []): len(s.get("endpoints") or [])
            for s in slices(client, ns, "named")
        }
        return out if sum(out.values()) == 4 else None

    # pods resolving to different numbers land in different slices; one without the port serves none
    assert wait_for(grouped, 30, "4 endpoints") == {(8080,): 2, (9090,): 1, (): 1}

    def mirrored() -> list[tuple[int, ...]] | None:
        subs = (_endpoints(client, ns, "named") or {}).get("subsets") or []
        count = sum(len(sub.get("addresses") or []) for sub in subs)
        return (
            sorted(tuple(p["port"] for p in sub.get("ports") or []) for sub in subs) if count == 4 else None
        )

    assert wait_for(mirrored, 10, "Endpoints with 4 addresses") == [(), (8080,), (9090,)]


def test_readiness_flip_reaches_the_slice_within_a_second(client: Client, cluster: Cluster, ns: str) -> None:
    apply(cluster, ns, web("flip", 2))
    client.create(service("flip", {"app": "flip"}, [{"port": 80, "targetPort": 8080}]), ns)
    wait_for(lambda: ready_endpoint_ips(client, ns, "flip", 2), 30, "2 ready endpoints")
    name = client.list(PODS, ns)["items"][0]["metadata"]["name"]
    (before,) = slices(client, ns, "flip")

    def condition_of(pod: str) -> Obj | None:
        for ep in endpoints_of(client, ns, "flip"):
            if ep["targetRef"]["name"] == pod:
                return ep["conditions"]
        return None

    for ready in (False, True):
        began = time.monotonic()
        set_ready(client, ns, name, ready)
        wait_for(lambda want=ready: (condition_of(name) or {}).get("ready") is want, 5, f"ready={ready}")
        took = time.monotonic() - began
        print(f"\nreadiness -> {ready} reached the EndpointSlice in {took * 1000:.0f} ms")
        assert took < 1.5
        assert condition_of(name) == {"ready": ready, "serving": ready, "terminating": False}
    (after,) = slices(client, ns, "flip")  # the same slice, updated in place
    assert after["metadata"]["uid"] == before["metadata"]["uid"]
    set_ready(client, ns, name, False)

    def not_ready_in_mirror() -> bool:
        ep = _endpoints(client, ns, "flip") or {}
        return any(
            a["targetRef"]["name"] == name
            for s in ep.get("subsets") or []
            for a in s.get("notReadyAddresses") or []
        )

    wait_for(not_ready_in_mirror, 5, "not-ready address in Endpoints")
    # publishNotReadyAddresses makes every endpoint ready
    client.patch(SERVICES, "flip", {"spec": {"publishNotReadyAddresses": True}}, ns)
    wait_for(lambda: (condition_of(name) or {}).get("ready") is True, 5, "published not-ready endpoint")


def test_deleting_pod_is_terminating(client: Client, cluster: Cluster, ns: str) -> None:
    held = pod_object("held", labels={"app": "term"})
    held["metadata"]["finalizers"] = [HOLD]
    client.create(held, ns)
    client.create(pod_object("plain", labels={"app": "term"}), ns)
    client.create(service("term", {"app": "term"}, [{"port": 80}]), ns)
    wait_for(lambda: ready_endpoint_ips(client, ns, "term", 2), 30, "2 ready endpoints")
    client.delete(PODS, "held", ns)

    def conditions() -> Obj | None:
        for ep in endpoints_of(client, ns, "term"):
            if ep["targetRef"]["name"] == "held" and ep["conditions"]["terminating"]:
                return ep["conditions"]
        return None

    assert wait_for(conditions, 10, "terminating endpoint") == {
        "ready": False,
        "serving": True,
        "terminating": True,
    }
    # the Endpoints mirror leaves a terminating pod out
    wait_for(
        lambda: (
            [
                a["targetRef"]["name"]
                for s in _endpoints(client, ns, "term")["subsets"]
                for a in s.get("addresses", [])
            ]
            == ["plain"]
        ),
        10,
        "mirror without held",
    )
    client.patch(PODS, "held", {"metadata": {"finalizers": None}}, ns)
    wait_for(lambda: len(endpoints_of(client, ns, "term")) == 1, 10, "held gone from the slice")


def test_150_pods_split_into_100_and_50(client: Client, cluster: Cluster, ns: str) -> None:
    client.create(service("many", {"app": "many"}, [{"port": 80}]), ns)
    bodies = [pod_object(f"m-{i:03d}", labels={"app": "many"}) for i in range(150)]

    def create(chunk: list[Obj]) -> None:
        for body in chunk:
            client.create(body, ns)

    threads = [threading.Thread(target=create, args=(bodies[i::6],)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    def sizes() -> list[int] | None:
        out = sorted((len(s.get("endpoints") or []) for s in slices(client, ns, "many")), reverse=True)
        return out if sum(out) == 150 else None

    assert wait_for(sizes, 45, "150 endpoints") == [100, 50]
    eps = endpoints_of(client, ns, "many")
    assert len({e["targetRef"]["uid"] for e in eps}) == 150 and all(e["conditions"]["ready"] for e in eps)


def test_selector_and_label_changes_move_endpoints(client: Client, cluster: Cluster, ns: str) -> None:
    for name, app in (("p1", "blue"), ("p2", "blue"), ("p3", "green")):
        client.create(pod_object(name, labels={"app": app}), ns)
    client.create(service("sel", {"app": "blue"}, [{"port": 80}]), ns)

    def names() -> set[str]:
        return {e["targetRef"]["name"] for e in endpoints_of(client, ns, "sel")}

    wait_for(lambda: names() == {"p1", "p2"} and ready_endpoint_ips(client, ns, "sel", 2), 30, "blue pods")
    client.patch(SERVICES, "sel", {"spec": {"selector": {"app": "green"}}}, ns)
    wait_for(lambda: names() == {"p3"}, 10, "green pod after the selector change")
    client.patch(PODS, "p3", {"metadata": {"labels": {"app": "gone"}}}, ns)  # un-matches the selector
    wait_for(lambda: names() == set(), 10, "relabelled pod dropped")
    (placeholder,) = slices(client, ns, "sel")
    assert placeholder.get("endpoints") in (None, [])
    client.patch(PODS, "p1", {"metadata": {"labels": {"app": "green"}}}, ns)
    wait_for(lambda: names() == {"p1"}, 10, "relabelled pod picked up")
    ep = _endpoints(client, ns, "sel")
    assert [a["targetRef"]["name"] for s in ep["subsets"] for a in s.get("addresses", [])] == ["p1"]


def test_service_delete_removes_slices_and_endpoints(client: Client, cluster: Cluster, ns: str) -> None:
    client.create(pod_object("d1", labels={"app": "del"}), ns)
    client.create(service("del", {"app": "del"}, [{"port": 80}]), ns)
    wait_for(
        lambda: ready_endpoint_ips(client, ns, "del", 1) and _endpoints(client, ns, "del"),
        30,
        "slice and Endpoints",
    )
    kubectl(cluster, "delete", "service", "del", "-n", ns)
    wait_for(
        lambda: not slices(client, ns, "del") and _endpoints(client, ns, "del") is None,
        10,
        "slices and Endpoints gone",
    )


def test_selectorless_service_endpoints_are_left_alone(client: Client, cluster: Cluster, ns: str) -> None:
    client.create(pod_object("bystander", labels={"app": "manual"}), ns)
    client.create(service("manual", None, [{"name": "web", "port": 80}]), ns)
    hand = {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": "manual-1",
            "labels": {
                "kubernetes.io/service-name": "manual",
                "endpointslice.kubernetes.io/managed-by": "me",
            },
        },
        "addressType": "IPv4",
        "ports": [{"name": "web", "port": 9999, "protocol": "TCP"}],
        "endpoints": [{"addresses": ["192.0.2.7"], "conditions": {"ready": True}}],
    }
    made = client.create(hand, ns)
    # a selector Service in the same namespace proves the controllers ran meanwhile
    client.create(service("witness", {"app": "manual"}, [{"port": 80}]), ns)
    wait_for(
        lambda: ready_endpoint_ips(client, ns, "witness", 1) and _endpoints(client, ns, "witness"),
        30,
        "witness synced",
    )
    client.patch(SERVICES, "manual", {"metadata": {"labels": {"touched": "yes"}}}, ns)
    time.sleep(1.0)
    now = client.get(SLICES, "manual-1", ns)
    assert now["metadata"]["resourceVersion"] == made["metadata"]["resourceVersion"]
    assert now["endpoints"][0]["addresses"] == ["192.0.2.7"]
    assert slices(client, ns, "manual") == [] and _endpoints(client, ns, "manual") is None


# -- placement, without a cluster: which writes a change costs ---------------------------------------


SVC = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s", "namespace": "n", "uid": "u-svc"}}
GROUP = ("IPv4", (("", 80, "TCP", None),))


def _ep(i: int, ready: bool = True) -> Obj:
    return {
        "addresses": [f"10.0.{i // 250}.{i % 250 + 1}"],
        "conditions": {"ready": ready, "serving": ready, "terminating": False},
        "targetRef": {"kind": "Pod", "namespace": "n", "name": f"p{i:03d}", "uid": f"u{i}"},
    }


def _existing(plan_: Plan) -> list[Obj]:
    """The slices a plan's creates would become once the API server named them."""
    out = []
    for i, body in enumerate(plan_.create):
        made = json.loads(json.dumps(body))
        made["metadata"].update(name=f"s-{i}", uid=f"slice-{i}", resourceVersion="1")
        out.append(made)
    return out


def test_plan_adds_to_the_slice_with_room_and_leaves_full_ones_alone() -> None:
    first = plan(SVC, {GROUP: [_ep(i) for i in range(150)]}, [], "t")
    assert [len(s["endpoints"]) for s in first.create] == [100, 50] and not first.update
    existing = _existing(first)
    assert plan(SVC, {GROUP: [_ep(i) for i in range(150)]}, existing, "t2") == Plan()  # nothing to write
    grown = plan(SVC, {GROUP: [_ep(i) for i in range(151)]}, existing, "t")
    assert not grown.create and not grown.delete
    assert [(s["metadata"]["name"], len(s["endpoints"])) for s in grown.update] == [("s-1", 51)]


def test_plan_updates_only_the_slice_holding_a_changed_endpoint() -> None:
    existing = _existing(plan(SVC, {GROUP: [_ep(i) for i in range(150)]}, [], "t"))
    wanted = [_ep(i, ready=i != 120) for i in range(150)]
    flipped = plan(SVC, {GROUP: wanted}, existing, "t")
    assert [s["metadata"]["name"] for s in flipped.update] == ["s-1"] and not flipped.create
    gone = plan(SVC, {GROUP: [_ep(i) for i in range(100)]}, existing, "t")
    assert [s["metadata"]["name"] for s in gone.delete] == ["s-1"] and not gone.update


def test_plan_keeps_one_placeholder_and_drops_other_groups() -> None:
    existing = _existing(plan(SVC, {GROUP: [_ep(1)]}, [], "t"))
    empty = plan(SVC, {}, existing, "t")
    assert [s["metadata"]["name"] for s in empty.delete] == ["s-0"]
    assert len(empty.create) == 1 and empty.create[0]["endpoints"] == [] and empty.create[0]["ports"] == []
    other = ("IPv4", (("", 8080, "TCP", None),))
    moved = plan(SVC, {other: [_ep(1)]}, existing, "t")
    assert [s["metadata"]["name"] for s in moved.delete] == ["s-0"]
    assert moved.create[0]["ports"] == [{"name": "", "port": 8080, "protocol": "TCP"}]
