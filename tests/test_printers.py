"""Server-side printing: Table objects with the columns and cells ``kubectl get`` shows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cluster.api.printers import column_definitions, human_duration, table
from cluster.api.resources import RESOURCES, Resource, lookup

NOW = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)


def ago(**delta: float) -> str:
    return (NOW - timedelta(**delta)).strftime("%Y-%m-%dT%H:%M:%SZ")


def res(plural: str, group: str = "", version: str = "v1") -> Resource:
    resource = lookup(group, version, plural)
    assert resource is not None
    return resource


def row(plural: str, obj: dict[str, Any], group: str = "") -> dict[str, Any]:
    """Column name -> cell of the single row printed for ``obj``."""
    resource = res(plural, group)
    out = table(resource, [obj], now=NOW)
    names = [c["name"] for c in out["columnDefinitions"]]
    (only,) = out["rows"]
    assert len(only["cells"]) == len(names)
    return dict(zip(names, only["cells"], strict=True))


def meta(name: str = "x", age: dict[str, float] | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": "default",
        "creationTimestamp": ago(**(age or {"minutes": 5})),
        **extra,
    }


def columns(plural: str, group: str = "") -> list[tuple[str, int]]:
    return [(c["name"], c["priority"]) for c in column_definitions(res(plural, group))]


# --- durations ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (timedelta(seconds=-5), "<invalid>"),
        (timedelta(seconds=-1), "0s"),
        (timedelta(seconds=5), "5s"),
        (timedelta(seconds=119), "119s"),
        (timedelta(minutes=3), "3m"),
        (timedelta(minutes=3, seconds=12), "3m12s"),
        (timedelta(minutes=45), "45m"),
        (timedelta(hours=3, minutes=4), "3h4m"),
        (timedelta(hours=5), "5h"),
        (timedelta(hours=20, minutes=30), "20h"),
        (timedelta(days=2, hours=3), "2d3h"),
        (timedelta(days=3), "3d"),
        (timedelta(days=45, hours=7), "45d"),
        (timedelta(days=3 * 365 + 20), "3y20d"),
        (timedelta(days=9 * 365), "9y"),
    ],
)
def test_human_duration(delta: timedelta, text: str) -> None:
    assert human_duration(delta) == text


def test_age_is_unknown_without_creation_timestamp() -> None:
    cells = row("configmaps", {"metadata": {"name": "c"}})
    assert cells["Age"] == "<unknown>"


# --- table shape and includeObject ---------------------------------------------------------------


def test_table_shape_and_list_meta() -> None:
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta("cfg"), "data": {"a": "1"}}
    out = table(res("configmaps"), [cm], now=NOW, list_meta={"resourceVersion": "42"})
    assert out["kind"] == "Table" and out["apiVersion"] == "meta.k8s.io/v1"
    assert out["metadata"] == {"resourceVersion": "42"}
    assert out["columnDefinitions"][0] == {
        "name": "Name",
        "type": "string",
        "format": "name",
        "description": out["columnDefinitions"][0]["description"],
        "priority": 0,
    }
    assert out["rows"][0]["cells"] == ["cfg", 1, "5m"]
    assert table(res("configmaps"), [], now=NOW)["metadata"] == {}


def test_include_object_modes() -> None:
    cm = {"metadata": meta("cfg", labels={"app": "web"}), "data": {}}
    by_default = table(res("configmaps"), [cm], now=NOW)["rows"][0]["object"]
    assert by_default == {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": cm["metadata"],
    }
    full = table(res("configmaps"), [cm], include_object="Object", now=NOW)["rows"][0]["object"]
    assert full["kind"] == "ConfigMap" and full["apiVersion"] == "v1" and full["data"] == {}
    bare = table(res("configmaps"), [cm], include_object="None", now=NOW)["rows"][0]
    assert "object" not in bare
    with pytest.raises(ValueError):
        table(res("configmaps"), [cm], include_object="Everything")


def test_rows_keep_object_order_and_default_clock() -> None:
    objs = [{"metadata": {"name": n, "creationTimestamp": ago(seconds=1)}} for n in ("b", "a")]
    out = table(res("configmaps"), objs)  # real clock: created long ago relative to NOW
    assert [r["cells"][0] for r in out["rows"]] == ["b", "a"]
    assert out["rows"][0]["cells"][2].endswith(("d", "y", "h", "m", "s"))


def test_every_served_kind_has_a_name_column() -> None:
    for resource in RESOURCES:
        defs = column_definitions(resource)
        assert any(d["name"] == "Name" and d["format"] == "name" for d in defs), resource.qualified
        assert {d["priority"] for d in defs} <= {0, 1}


def test_unknown_kind_prints_name_and_age() -> None:
    other = Resource("example.com", "v1", "Widget", "widgets", "widget", True, "none")
    out = table(other, [{"metadata": meta("w1", {"hours": 3, "minutes": 4})}], now=NOW)
    assert [c["name"] for c in out["columnDefinitions"]] == ["Name", "Age"]
    assert out["rows"][0]["cells"] == ["w1", "3h4m"]


# --- pods --------------------------------------------------------------------------------------


def pod(status: dict[str, Any], containers: int = 1, **spec: Any) -> dict[str, Any]:
    names = [{"name": f"c{i}", "image": "busybox"} for i in range(containers)]
    return {"metadata": meta("web"), "spec": {"containers": names, **spec}, "status": status}


def running(name: str, ready: bool = True, restarts: int = 0, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "ready": ready,
        "restartCount": restarts,
        "state": {"running": {"startedAt": ago(minutes=4)}},
        **extra,
    }


def test_pod_columns_and_wide_priority() -> None:
    assert columns("pods") == [
        ("Name", 0),
        ("Ready", 0),
        ("Status", 0),
        ("Restarts", 0),
        ("Age", 0),
        ("IP", 1),
        ("Node", 1),
        ("Nominated Node", 1),
        ("Readiness Gates", 1),
    ]


def test_pod_running_with_wide_cells() -> None:
    p = pod(
        {
            "phase": "Running",
            "podIP": "10.0.0.7",
            "podIPs": [{"ip": "10.0.0.7"}],
            "containerStatuses": [running("c0"), running("c1", ready=False)],
            "conditions": [{"type": "example.com/gate", "status": "True"}],
        },
        containers=2,
        nodeName="node-1",
        readinessGates=[{"conditionType": "example.com/gate"}, {"conditionType": "example.com/other"}],
    )
    cells = row("pods", p)
    assert cells == {
        "Name": "web",
        "Ready": "1/2",
        "Status": "Running",
        "Restarts": "0",
        "Age": "5m",
        "IP": "10.0.0.7",
        "Node": "node-1",
        "Nominated Node": "<none>",
        "Readiness Gates": "1/2",
    }


def test_pending_pod_without_statuses() -> None:
    cells = row("pods", pod({"phase": "Pending"}))
    assert (cells["Ready"], cells["Status"], cells["Restarts"]) == ("0/1", "Pending", "0")
    assert (cells["IP"], cells["Node"], cells["Readiness Gates"]) == ("<none>", "<none>", "<none>")


def test_pod_waiting_reasons() -> None:
    creating = {
        "name": "c0",
        "ready": False,
        "restartCount": 0,
        "state": {"waiting": {"reason": "ContainerCreating"}},
    }
    assert (
        row("pods", pod({"phase": "Pending", "containerStatuses": [creating]}))["Status"]
        == "ContainerCreating"
    )
    crash = {
        "name": "c0",
        "ready": False,
        "restartCount": 3,
        "state": {"waiting": {"reason": "CrashLoopBackOff"}},
        "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": ago(minutes=5)}},
    }
    cells = row("pods", pod({"phase": "Running", "containerStatuses": [crash]}))
    assert (cells["Status"], cells["Restarts"], cells["Ready"]) == ("CrashLoopBackOff", "3 (5m ago)", "0/1")


def test_pod_completed_and_exit_codes() -> None:
    done = {
        "name": "c0",
        "ready": False,
        "restartCount": 0,
        "state": {"terminated": {"exitCode": 0, "reason": "Completed"}},
    }
    finished = pod({"phase": "Succeeded", "containerStatuses": [done]})
    out = table(res("pods"), [finished], now=NOW)["rows"][0]
    assert out["cells"][2] == "Completed"
    assert out["conditions"][0]["type"] == "Completed" and out["conditions"][0]["reason"] == "Succeeded"
    signal = {"name": "c0", "restartCount": 0, "state": {"terminated": {"exitCode": 137, "signal": 9}}}
    assert row("pods", pod({"phase": "Failed", "containerStatuses": [signal]}))["Status"] == "Signal:9"
    code = {"name": "c0", "restartCount": 0, "state": {"terminated": {"exitCode": 2}}}
    assert row("pods", pod({"phase": "Failed", "containerStatuses": [code]}))["Status"] == "ExitCode:2"


def test_pod_completed_container_with_another_running_shows_running() -> None:
    done = {"name": "c1", "restartCount": 0, "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}
    status = {
        "phase": "Running",
        "containerStatuses": [done, running("c0")],  # walked last to first: c0 then c1
        "conditions": [{"type": "Ready", "status": "True"}],
    }
    assert row("pods", pod(status, containers=2))["Status"] == "Running"
    status["conditions"] = [{"type": "Ready", "status": "False"}]
    assert row("pods", pod(status, containers=2))["Status"] == "NotReady"


def test_pod_init_containers() -> None:
    init_specs = [{"name": "i0", "image": "x"}, {"name": "i1", "image": "x"}]
    first_done = {
        "name": "i0",
        "restartCount": 0,
        "state": {"terminated": {"exitCode": 0, "reason": "Completed"}},
    }
    second_running = {"name": "i1", "restartCount": 0, "state": {"running": {}}}
    p = pod(
        {"phase": "Pending", "initContainerStatuses": [first_done, second_running]}, initContainers=init_specs
    )
    assert row("pods", p)["Status"] == "Init:1/2"
    failing = {"name": "i1", "restartCount": 2, "state": {"waiting": {"reason": "CrashLoopBackOff"}}}
    p = pod({"phase": "Pending", "initContainerStatuses": [first_done, failing]}, initContainers=init_specs)
    cells = row("pods", p)
    assert (cells["Status"], cells["Restarts"]) == ("Init:CrashLoopBackOff", "2")
    broke = {"name": "i0", "restartCount": 0, "state": {"terminated": {"exitCode": 3}}}
    p = pod({"phase": "Pending", "initContainerStatuses": [broke]}, initContainers=init_specs)
    assert row("pods", p)["Status"] == "Init:ExitCode:3"


def test_pod_sidecar_counts_toward_ready() -> None:
    sidecar_spec = [{"name": "proxy", "image": "envoy", "restartPolicy": "Always"}]
    sidecar = {"name": "proxy", "ready": True, "started": True, "restartCount": 1, "state": {"running": {}}}
    status = {
        "phase": "Running",
        "initContainerStatuses": [sidecar],
        "containerStatuses": [running("c0")],
        "conditions": [{"type": "Initialized", "status": "True"}],
    }
    cells = row("pods", pod(status, initContainers=sidecar_spec))
    assert (cells["Ready"], cells["Status"], cells["Restarts"]) == ("2/2", "Running", "1")


def test_pod_terminating_and_node_lost() -> None:
    p = pod({"phase": "Running", "containerStatuses": [running("c0")]})
    p["metadata"]["deletionTimestamp"] = ago(seconds=10)
    assert row("pods", p)["Status"] == "Terminating"
    p["status"]["reason"] = "NodeLost"
    assert row("pods", p)["Status"] == "Unknown"
    done = pod({"phase": "Succeeded"})
    done["metadata"]["deletionTimestamp"] = ago(seconds=10)
    assert row("pods", done)["Status"] == "Succeeded"


def test_pod_status_reason_and_scheduling_gate() -> None:
    assert row("pods", pod({"phase": "Failed", "reason": "Evicted"}))["Status"] == "Evicted"
    gated = {
        "phase": "Pending",
        "conditions": [{"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}],
    }
    assert row("pods", pod(gated))["Status"] == "SchedulingGated"


# --- nodes -------------------------------------------------------------------------------------


def node(ready: str | None, **extra: Any) -> dict[str, Any]:
    conditions = [{"type": "MemoryPressure", "status": "False"}]
    if ready is not None:
        conditions.append({"type": "Ready", "status": ready})
    return {
        "metadata": meta("node-1", {"days": 2, "hours": 3}, labels=extra.pop("labels", {})),
        "spec": extra.pop("spec", {}),
        "status": {"conditions": conditions, **extra},
    }


def test_node_cells() -> None:
    n = node(
        "True",
        labels={
            "node-role.kubernetes.io/control-plane": "",
            "node-role.kubernetes.io/worker": "",
            "kubernetes.io/role": "edge",
        },
        nodeInfo={
            "kubeletVersion": "v1.32.0-kubeq.1",
            "osImage": "Debian GNU/Linux 12",
            "kernelVersion": "6.1.0",
            "containerRuntimeVersion": "kubeq://0.1",
        },
        addresses=[
            {"type": "Hostname", "address": "node-1"},
            {"type": "InternalIP", "address": "192.168.1.5"},
        ],
    )
    assert row("nodes", n) == {
        "Name": "node-1",
        "Status": "Ready",
        "Roles": "control-plane,edge,worker",
        "Age": "2d3h",
        "Version": "v1.32.0-kubeq.1",
        "Internal-IP": "192.168.1.5",
        "External-IP": "<none>",
        "OS-Image": "Debian GNU/Linux 12",
        "Kernel-Version": "6.1.0",
        "Container-Runtime": "kubeq://0.1",
    }
    assert [p for _, p in columns("nodes")] == [0, 0, 0, 0, 0, 1, 1, 1, 1, 1]


def test_node_status_variants() -> None:
    assert row("nodes", node("False"))["Status"] == "NotReady"
    assert row("nodes", node("Unknown"))["Status"] == "NotReady"
    assert row("nodes", node(None))["Status"] == "Unknown"
    cordoned = node("True", spec={"unschedulable": True})
    cells = row("nodes", cordoned)
    assert (cells["Status"], cells["Roles"], cells["OS-Image"]) == (
        "Ready,SchedulingDisabled",
        "<none>",
        "<unknown>",
    )


# --- workloads ---------------------------------------------------------------------------------

TEMPLATE = {
    "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}, {"name": "log", "image": "busybox"}]}
}
SELECTOR = {
    "matchLabels": {"app": "web"},
    "matchExpressions": [{"key": "tier", "operator": "In", "values": ["b", "a"]}],
}


def test_deployment_cells() -> None:
    d = {
        "metadata": meta("web", {"hours": 20}),
        "spec": {"replicas": 3, "selector": SELECTOR, "template": TEMPLATE},
        "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2},
    }
    assert row("deployments", d, "apps") == {
        "Name": "web",
        "Ready": "2/3",
        "Up-to-date": 3,
        "Available": 2,
        "Age": "20h",
        "Containers": "web,log",
        "Images": "nginx:1.27,busybox",
        "Selector": "app=web,tier in (a,b)",
    }
    fresh = row("deployments", {"metadata": meta("new"), "spec": {"template": TEMPLATE}}, "apps")
    assert (fresh["Ready"], fresh["Up-to-date"], fresh["Available"]) == ("0/1", 0, 0)
    assert [p for _, p in columns("deployments", "apps")] == [0, 0, 0, 0, 0, 1, 1, 1]


def test_replicaset_cells() -> None:
    rs = {
        "metadata": meta("web-5d8f", {"minutes": 45}),
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web", "pod-template-hash": "5d8f"}},
            "template": TEMPLATE,
        },
        "status": {"replicas": 2, "readyReplicas": 1},
    }
    assert row("replicasets", rs, "apps") == {
        "Name": "web-5d8f",
        "Desired": 2,
        "Current": 2,
        "Ready": 1,
        "Age": "45m",
        "Containers": "web,log",
        "Images": "nginx:1.27,busybox",
        "Selector": "app=web,pod-template-hash=5d8f",
    }
    assert row("replicasets", {"metadata": meta(), "spec": {"replicas": 0}}, "apps")["Selector"] == "<none>"


def job(conditions: list[dict[str, str]] | None = None, **status: Any) -> dict[str, Any]:
    return {
        "metadata": meta("pi", {"minutes": 10}),
        "spec": {
            "completions": 1,
            "parallelism": 1,
            "selector": {"matchLabels": {"job-name": "pi"}},
            "template": TEMPLATE,
        },
        "status": {"conditions": conditions or [], **status},
    }


def test_job_cells() -> None:
    complete = job(
        [{"type": "Complete", "status": "True"}],
        succeeded=1,
        startTime=ago(minutes=9),
        completionTime=ago(minutes=8, seconds=48),
    )
    cells = row("jobs", complete, "batch")
    assert cells == {
        "Name": "pi",
        "Status": "Complete",
        "Completions": "1/1",
        "Duration": "12s",
        "Age": "10m",
        "Containers": "web,log",
        "Images": "nginx:1.27,busybox",
        "Selector": "job-name=pi",
    }
    active = job(active=1, startTime=ago(minutes=3, seconds=12))
    assert (row("jobs", active, "batch")["Status"], row("jobs", active, "batch")["Duration"]) == (
        "Running",
        "3m12s",
    )
    assert row("jobs", job(), "batch")["Duration"] == ""
    failed = job([{"type": "Failed", "status": "True"}], failed=1)
    assert row("jobs", failed, "batch")["Status"] == "Failed"
    suspended = job([{"type": "Suspended", "status": "True"}])
    assert row("jobs", suspended, "batch")["Status"] == "Suspended"
    not_suspended = job([{"type": "Suspended", "status": "False"}])
    assert row("jobs", not_suspended, "batch")["Status"] == "Running"


def test_job_completions_without_count() -> None:
    j = job(succeeded=2)
    j["spec"].pop("completions")
    j["spec"]["parallelism"] = 4
    assert row("jobs", j, "batch")["Completions"] == "2/1 of 4"
    j["spec"]["parallelism"] = 1
    assert row("jobs", j, "batch")["Completions"] == "2/1"


def test_cronjob_cells() -> None:
    cj = {
        "metadata": meta("nightly", {"days": 45, "hours": 7}),
        "spec": {
            "schedule": "0 3 * * *",
            "timeZone": "Europe/Berlin",
            "suspend": False,
            "jobTemplate": {"spec": {"template": TEMPLATE}},
        },
        "status": {"active": [{"name": "nightly-1"}], "lastScheduleTime": ago(hours=9)},
    }
    cells = row("cronjobs", cj, "batch")
    assert [
        cells[k] for k in ("Name", "Schedule", "Timezone", "Suspend", "Active", "Last Schedule", "Age")
    ] == [
        "nightly",
        "0 3 * * *",
        "Europe/Berlin",
        "False",
        1,
        "9h",
        "45d",
    ]
    bare = row("cronjobs", {"metadata": meta(), "spec": {"schedule": "*/5 * * * *"}}, "batch")
    assert (bare["Timezone"], bare["Suspend"], bare["Active"], bare["Last Schedule"]) == (
        "<none>",
        "<unset>",
        0,
        "<none>",
    )
    assert [n for n, p in columns("cronjobs", "batch") if p == 0][-1] == "Age"


# --- services ----------------------------------------------------------------------------------


def service(kind: str, **spec: Any) -> dict[str, Any]:
    status = spec.pop("status", {})
    return {
        "metadata": meta("web", {"days": 3}),
        "spec": {"type": kind, "clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"], **spec},
        "status": status,
    }


def test_service_cells() -> None:
    svc = service(
        "NodePort",
        selector={"app": "web", "tier": "fe"},
        ports=[{"port": 80, "protocol": "TCP"}, {"port": 443, "nodePort": 30443, "protocol": "TCP"}],
    )
    assert row("services", svc) == {
        "Name": "web",
        "Type": "NodePort",
        "Cluster-IP": "10.96.0.10",
        "External-IP": "<none>",
        "Port(s)": "80/TCP,443:30443/TCP",
        "Age": "3d",
        "Selector": "app=web,tier=fe",
    }
    assert columns("services")[-1] == ("Selector", 1)


def test_service_external_ips() -> None:
    assert row("services", service("ClusterIP", externalIPs=["1.2.3.4"]))["External-IP"] == "1.2.3.4"
    assert row("services", service("LoadBalancer"))["External-IP"] == "<pending>"
    lb = service(
        "LoadBalancer", status={"loadBalancer": {"ingress": [{"ip": "5.6.7.8"}, {"hostname": "lb.example"}]}}
    )
    assert row("services", lb)["External-IP"] == "5.6.7.8,lb.example"
    ext = service("ExternalName", externalName="db.example.com", clusterIP="", clusterIPs=[])
    cells = row("services", ext)
    assert (cells["External-IP"], cells["Cluster-IP"], cells["Port(s)"], cells["Selector"]) == (
        "db.example.com",
        "<none>",
        "<none>",
        "<none>",
    )
    headless = service(
        "ClusterIP", clusterIP="None", clusterIPs=["None"], ports=[{"port": 53, "protocol": "UDP"}]
    )
    assert (row("services", headless)["Cluster-IP"], row("services", headless)["Port(s)"]) == (
        "None",
        "53/UDP",
    )


# --- namespaces, configmaps, secrets, serviceaccounts, leases ---------------------------------------


def test_small_kinds() -> None:
    ns = {"metadata": {"name": "team-a", "creationTimestamp": ago(days=400)}, "status": {"phase": "Active"}}
    assert row("namespaces", ns) == {"Name": "team-a", "Status": "Active", "Age": "400d"}
    cm = {"metadata": meta("cfg"), "data": {"a": "1", "b": "2"}, "binaryData": {"c": "AA=="}}
    assert row("configmaps", cm) == {"Name": "cfg", "Data": 3, "Age": "5m"}
    secret = {"metadata": meta("tls"), "type": "kubernetes.io/tls", "data": {"tls.crt": "", "tls.key": ""}}
    assert row("secrets", secret) == {"Name": "tls", "Type": "kubernetes.io/tls", "Data": 2, "Age": "5m"}
    sa = {"metadata": meta("default"), "secrets": [{"name": "token"}]}
    assert row("serviceaccounts", sa) == {"Name": "default", "Secrets": 1, "Age": "5m"}
    assert row("serviceaccounts", {"metadata": meta("bare")})["Secrets"] == 0
    lease = {"metadata": meta("kube-scheduler"), "spec": {"holderIdentity": "host-a_1234"}}
    assert row("leases", lease, "coordination.k8s.io") == {
        "Name": "kube-scheduler",
        "Holder": "host-a_1234",
        "Age": "5m",
    }
    assert row("leases", {"metadata": meta("free"), "spec": {}}, "coordination.k8s.io")["Holder"] == ""


# --- endpoints and endpoint slices ---------------------------------------------------------------


def test_endpoints_cells() -> None:
    ep = {
        "metadata": meta("web"),
        "subsets": [
            {
                "addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}],
                "ports": [{"port": 80, "name": "http"}, {"port": 443, "name": "https"}],
            }
        ],
    }
    assert row("endpoints", ep) == {
        "Name": "web",
        "Endpoints": "10.0.0.1:80,10.0.0.2:80,10.0.0.1:443 + 1 more...",
        "Age": "5m",
    }
    assert row("endpoints", {"metadata": meta("none")})["Endpoints"] == "<none>"
    headless = {"metadata": meta("h"), "subsets": [{"addresses": [{"ip": "fd00::1"}]}]}
    assert row("endpoints", headless)["Endpoints"] == "fd00::1"
    v6 = {"metadata": meta("v6"), "subsets": [{"addresses": [{"ip": "fd00::1"}], "ports": [{"port": 80}]}]}
    assert row("endpoints", v6)["Endpoints"] == "[fd00::1]:80"


def test_endpointslice_cells() -> None:
    eps = {
        "metadata": meta("web-abc"),
        "addressType": "IPv4",
        "ports": [{"port": 80, "name": "http"}, {"name": "named"}, {}],
        "endpoints": [{"addresses": [f"10.0.0.{i}"]} for i in range(1, 6)],
    }
    assert row("endpointslices", eps, "discovery.k8s.io") == {
        "Name": "web-abc",
        "AddressType": "IPv4",
        "Ports": "80,named,*",
        "Endpoints": "10.0.0.1,10.0.0.2,10.0.0.3 + 2 more...",
        "Age": "5m",
    }
    empty = row("endpointslices", {"metadata": meta("e"), "addressType": "IPv6"}, "discovery.k8s.io")
    assert (empty["Ports"], empty["Endpoints"]) == ("<unset>", "<unset>")


# --- events ------------------------------------------------------------------------------------


def test_core_event_cells_and_wide_columns() -> None:
    ev = {
        "metadata": meta("web.17f", {"minutes": 10}),
        "involvedObject": {
            "kind": "Pod",
            "name": "web",
            "namespace": "default",
            "fieldPath": "spec.containers{c0}",
        },
        "reason": "Pulled",
        "message": "Container image pulled \n",
        "type": "Normal",
        "source": {"component": "kubelet", "host": "node-1"},
        "firstTimestamp": ago(minutes=10),
        "lastTimestamp": ago(minutes=2),
        "count": 4,
    }
    assert row("events", ev) == {
        "Last Seen": "2m",
        "Type": "Normal",
        "Reason": "Pulled",
        "Object": "pod/web",
        "Subobject": "spec.containers{c0}",
        "Source": "kubelet, node-1",
        "Message": "Container image pulled",
        "First Seen": "10m",
        "Count": 4,
        "Name": "web.17f",
    }
    assert columns("events") == [
        ("Last Seen", 0),
        ("Type", 0),
        ("Reason", 0),
        ("Object", 0),
        ("Subobject", 1),
        ("Source", 1),
        ("Message", 0),
        ("First Seen", 1),
        ("Count", 1),
        ("Name", 1),
    ]


def test_core_event_new_style_fields() -> None:
    ev = {
        "metadata": meta("n.1"),
        "involvedObject": {"kind": "Node"},
        "reason": "Starting",
        "type": "Normal",
        "eventTime": (NOW - timedelta(seconds=30)).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "reportingComponent": "kubeq-node",
        "reportingController": "kubeq/kubelet",
        "reportingInstance": "node-2",
        "series": {"count": 7, "lastObservedTime": ago(seconds=3)},
    }
    cells = row("events", ev)
    assert (cells["Object"], cells["First Seen"], cells["Last Seen"], cells["Count"], cells["Source"]) == (
        "node",
        "30s",
        "3s",
        7,
        "kubeq/kubelet, node-2",
    )
    no_times = row("events", {"metadata": meta("z"), "involvedObject": {"kind": "Pod", "name": "p"}})
    assert (no_times["Last Seen"], no_times["First Seen"], no_times["Count"]) == ("<unknown>", "<unknown>", 1)


def test_events_k8s_io_event_cells() -> None:
    ev = {
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "metadata": meta("web.18a"),
        "regarding": {"kind": "Deployment", "name": "web", "namespace": "default"},
        "note": "Scaled up replica set web-5d8f to 3",
        "reason": "ScalingReplicaSet",
        "type": "Normal",
        "eventTime": ago(minutes=4),
        "reportingController": "deployment-controller",
        "reportingInstance": "",
        "action": "Scale",
    }
    cells = row("events", ev, "events.k8s.io")
    assert cells == {
        "Last Seen": "4m",
        "Type": "Normal",
        "Reason": "ScalingReplicaSet",
        "Object": "deployment/web",
        "Subobject": "",
        "Source": "deployment-controller",
        "Message": "Scaled up replica set web-5d8f to 3",
        "First Seen": "4m",
        "Count": 1,
        "Name": "web.18a",
    }
