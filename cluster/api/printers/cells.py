"""Cell values of the non-pod kinds, each a small function of the object (and ``now`` for times).

Values follow ``kubectl get``: counts are ints, absent values read ``<none>``/``<unknown>``/``<unset>``
exactly where Kubernetes prints those words.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .duration import between, parse_time, since
from .format import NONE, UNKNOWN_TEXT, dig, join_host_port, list_with_more

Obj = dict[str, Any]

# --- nodes -----------------------------------------------------------------------------------

ROLE_PREFIX = "node-role.kubernetes.io/"
ROLE_LABEL = "kubernetes.io/role"


def node_status(node: Obj) -> str:
    """``Ready``/``NotReady``/``Unknown`` from the Ready condition, plus ``SchedulingDisabled``."""
    ready = next((c for c in dig(node, "status", "conditions") or [] if c.get("type") == "Ready"), None)
    parts = ["Unknown" if ready is None else ("Ready" if ready.get("status") == "True" else "NotReady")]
    if dig(node, "spec", "unschedulable"):
        parts.append("SchedulingDisabled")
    return ",".join(parts)


def node_roles(node: Obj) -> str:
    roles: set[str] = set()
    for key, value in (dig(node, "metadata", "labels") or {}).items():
        if key.startswith(ROLE_PREFIX) and key[len(ROLE_PREFIX) :]:
            roles.add(key[len(ROLE_PREFIX) :])
        elif key == ROLE_LABEL and value:
            roles.add(value)
    return ",".join(sorted(roles)) or NONE


def node_address(kind: str):
    def cell(node: Obj) -> str:
        for address in dig(node, "status", "addresses") or []:
            if address.get("type") == kind:
                return address.get("address") or NONE
        return NONE

    return cell


def node_info(field: str, missing: str = UNKNOWN_TEXT):
    def cell(node: Obj) -> str:
        return dig(node, "status", "nodeInfo", field) or missing

    return cell


# --- services --------------------------------------------------------------------------------


def service_cluster_ip(svc: Obj) -> str:
    ips = dig(svc, "spec", "clusterIPs") or []
    return ips[0] if ips else dig(svc, "spec", "clusterIP") or NONE


def service_external_ip(svc: Obj) -> str:
    spec = svc.get("spec") or {}
    kind = spec.get("type") or "ClusterIP"
    external = list(spec.get("externalIPs") or [])
    if kind in ("ClusterIP", "NodePort"):
        return ",".join(external) or NONE
    if kind == "LoadBalancer":
        ingress = dig(svc, "status", "loadBalancer", "ingress") or []
        balancers = sorted({i.get("ip") or i.get("hostname") for i in ingress} - {None, ""})
        return ",".join(balancers + external) or "<pending>"
    if kind == "ExternalName":
        return spec.get("externalName") or ""
    return UNKNOWN_TEXT


def service_ports(svc: Obj) -> str:
    pieces = []
    for port in dig(svc, "spec", "ports") or []:
        protocol = port.get("protocol") or "TCP"
        node_port = port.get("nodePort")
        middle = f":{node_port}" if node_port else ""
        pieces.append(f"{port.get('port')}{middle}/{protocol}")
    return ",".join(pieces) or NONE


# --- jobs and cronjobs -----------------------------------------------------------------------


def _job_condition(job: Obj, kind: str) -> bool:
    for condition in dig(job, "status", "conditions") or []:
        if condition.get("type") == kind:
            return condition.get("status") == "True"
    return False


def job_status(job: Obj) -> str:
    if _job_condition(job, "Complete"):
        return "Complete"
    if _job_condition(job, "Failed"):
        return "Failed"
    if dig(job, "metadata", "deletionTimestamp") is not None:
        return "Terminating"
    if _job_condition(job, "Suspended"):
        return "Suspended"
    if _job_condition(job, "FailureTarget"):
        return "FailureTarget"
    return "Running"


def job_completions(job: Obj) -> str:
    succeeded = dig(job, "status", "succeeded") or 0
    completions = dig(job, "spec", "completions")
    if completions is not None:
        return f"{succeeded}/{completions}"
    parallelism = dig(job, "spec", "parallelism") or 0
    return f"{succeeded}/1 of {parallelism}" if parallelism > 1 else f"{succeeded}/1"


def job_duration(job: Obj, now: datetime) -> str:
    start, end = dig(job, "status", "startTime"), dig(job, "status", "completionTime")
    if parse_time(start) is None:
        return ""
    return between(start, end) if end else since(start, now)


def cronjob_last_schedule(cronjob: Obj, now: datetime) -> str:
    last = dig(cronjob, "status", "lastScheduleTime")
    return since(last, now) if last else NONE


# --- events (core/v1 shape; events.k8s.io objects are viewed through event_view) ---------------


def event_view(event: Obj) -> Obj:
    """An ``events.k8s.io/v1`` Event seen with ``core/v1`` field names (a core Event is returned as is)."""
    if "involvedObject" in event or not ({"regarding", "note"} & event.keys()):
        return event
    return {
        **event,
        "involvedObject": event.get("regarding") or {},
        "message": event.get("note") or "",
        "firstTimestamp": event.get("deprecatedFirstTimestamp"),
        "lastTimestamp": event.get("deprecatedLastTimestamp"),
        "count": event.get("deprecatedCount") or 0,
        "source": event.get("deprecatedSource") or {},
    }


def event_first_seen(event: Obj, now: datetime) -> str:
    event = event_view(event)
    return since(event.get("firstTimestamp") or event.get("eventTime"), now)


def event_last_seen(event: Obj, now: datetime) -> str:
    event = event_view(event)
    series = event.get("series")
    if series:
        return since(series.get("lastObservedTime"), now)
    if event.get("lastTimestamp"):
        return since(event["lastTimestamp"], now)
    return event_first_seen(event, now)


def event_count(event: Obj) -> int:
    event = event_view(event)
    series = event.get("series")
    if series:
        return series.get("count") or 0
    return event.get("count") or 1


def event_object(event: Obj) -> str:
    involved = event_view(event).get("involvedObject") or {}
    kind, name = (involved.get("kind") or "").lower(), involved.get("name")
    return f"{kind}/{name}" if name else kind


def event_subobject(event: Obj) -> str:
    return dig(event_view(event), "involvedObject", "fieldPath") or ""


def event_source(event: Obj) -> str:
    event = event_view(event)
    source = event.get("source") or {}
    component = source.get("component") or event.get("reportingController") or ""
    instance = source.get("host") or event.get("reportingInstance") or ""
    return f"{component}, {instance}" if instance else component


def event_message(event: Obj) -> str:
    return (event_view(event).get("message") or "").strip()


def event_field(field: str):
    def cell(event: Obj) -> str:
        return event_view(event).get(field) or ""

    return cell


# --- endpoints and endpoint slices -----------------------------------------------------------


def endpoints_list(endpoints: Obj) -> str:
    """Up to three ``ip:port`` of a core Endpoints object, then ``+ N more...``."""
    subsets = endpoints.get("subsets") or []
    if not subsets:
        return NONE
    found: list[str] = []
    for subset in subsets:
        ips = [a.get("ip", "") for a in subset.get("addresses") or []]
        ports = subset.get("ports") or []
        if not ports:
            found.extend(ips)
        for port in ports:
            found.extend(join_host_port(ip, port.get("port")) for ip in ips)
    return list_with_more(found, empty="")


def slice_ports(eps: Obj) -> str:
    def one(port: Obj) -> str:
        if port.get("port") is not None:
            return str(port["port"])
        return port.get("name") or "*"

    return list_with_more(one(p) for p in eps.get("ports") or [])


def slice_endpoints(eps: Obj) -> str:
    return list_with_more(a for e in eps.get("endpoints") or [] for a in e.get("addresses") or [])


# --- workloads and small kinds ---------------------------------------------------------------


def replicas(obj: Obj) -> int:
    """``spec.replicas``, which the API defaults to 1."""
    value = dig(obj, "spec", "replicas")
    return 1 if value is None else value


def deployment_ready(deploy: Obj) -> str:
    return f"{dig(deploy, 'status', 'readyReplicas') or 0}/{replicas(deploy)}"


def configmap_data(cm: Obj) -> int:
    return len(cm.get("data") or {}) + len(cm.get("binaryData") or {})
