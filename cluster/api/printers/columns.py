"""The column specs of every kind kubeq prints: Kubernetes' own names, types, formats and priorities.

Priority-1 columns are the ``kubectl get -o wide`` extras. The server always fills every column;
kubectl hides the wide ones unless asked. Kinds missing from :data:`COLUMNS` print Name and Age.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from . import cells, disruption, pods
from . import certificates as csr_cells
from . import rbac as rbac_cells
from .duration import since
from .format import (
    NONE,
    bool_text,
    container_images,
    container_names,
    dig,
    format_labels,
    format_selector,
    selector_string,
)

Obj = dict[str, Any]
Cell = Callable[[Obj, datetime], Any]


@dataclass(frozen=True)
class Column:
    """One column: its wire definition plus the function that computes its cell."""

    name: str
    type: str
    description: str
    cell: Cell
    priority: int = 0
    format: str = ""

    def definition(self) -> dict[str, Any]:
        """The ``TableColumnDefinition`` dict sent to clients."""
        return {
            "name": self.name,
            "type": self.type,
            "format": self.format,
            "description": self.description,
            "priority": self.priority,
        }


def plain(fn: Callable[[Obj], Any]) -> Cell:
    """A cell that does not depend on the clock."""
    return lambda obj, _now: fn(obj)


def field(*path: str, default: Any = "") -> Cell:
    """The value at ``path``, or ``default`` when absent."""

    def cell(obj: Obj, _now: datetime) -> Any:
        value = dig(obj, *path)
        return default if value is None else value

    return cell


def count(*path: str) -> Cell:
    """How many entries the list or map at ``path`` holds."""
    return lambda obj, _now: len(dig(obj, *path) or ())


def _str(name: str, description: str, cell: Cell, priority: int = 0) -> Column:
    """Shorthand for the common string column."""
    return Column(name, "string", description, cell, priority)


NAME = Column("Name", "string", "Name of the object.", field("metadata", "name"), format="name")
AGE = Column(
    "Age",
    "string",
    "Time since creation.",
    lambda o, now: since(dig(o, "metadata", "creationTimestamp"), now),
)


def template_columns(*spec: str, selector: Cell | None = None) -> tuple[Column, ...]:
    """The wide Containers, Images (and Selector) columns of a kind with a pod template at ``spec``."""
    containers = (*spec, "template", "spec", "containers")
    out = (
        _str(
            "Containers",
            "Container names of the template.",
            plain(lambda o: container_names(dig(o, *containers))),
            1,
        ),
        _str(
            "Images",
            "Container images of the template.",
            plain(lambda o: container_images(dig(o, *containers))),
            1,
        ),
    )
    if selector is not None:
        out += (_str("Selector", "Label query over the pods it manages.", selector, 1),)
    return out


_JOB_TEMPLATE = ("spec", "jobTemplate", "spec")


def _selector_at(*path: str) -> Cell:
    return plain(lambda o: format_selector(dig(o, *path)))


def _pod(attr: str) -> Cell:
    return lambda obj, now: getattr(pods.summarize(obj, now), attr)


POD = (
    NAME,
    _str("Ready", "Ready containers out of all containers of the pod.", _pod("ready")),
    _str("Status", "Aggregate state of the pod and its containers.", _pod("status")),
    _str("Restarts", "Container restarts, and how long ago the last one was.", _pod("restarts")),
    AGE,
    _str("IP", "The pod's first IP address.", plain(pods.pod_ip), 1),
    _str("Node", "Node the pod is bound to.", field("spec", "nodeName", default=NONE), 1),
    _str(
        "Nominated Node",
        "Node nominated by preemption.",
        field("status", "nominatedNodeName", default=NONE),
        1,
    ),
    _str("Readiness Gates", "Readiness gates met out of all gates.", plain(pods.readiness_gates), 1),
)

NODE = (
    NAME,
    _str("Status", "Readiness and schedulability of the node.", plain(cells.node_status)),
    _str("Roles", "Roles from node-role.kubernetes.io/* labels.", plain(cells.node_roles)),
    AGE,
    _str("Version", "Kubelet version the node reports.", field("status", "nodeInfo", "kubeletVersion")),
    _str("Internal-IP", "First InternalIP address of the node.", plain(cells.node_address("InternalIP")), 1),
    _str("External-IP", "First ExternalIP address of the node.", plain(cells.node_address("ExternalIP")), 1),
    _str("OS-Image", "Operating system image the node reports.", plain(cells.node_info("osImage")), 1),
    _str("Kernel-Version", "Kernel version the node reports.", plain(cells.node_info("kernelVersion")), 1),
    _str(
        "Container-Runtime", "Runtime and its version.", plain(cells.node_info("containerRuntimeVersion")), 1
    ),
)

DEPLOYMENT = (
    NAME,
    _str("Ready", "Ready out of desired replicas.", plain(cells.deployment_ready)),
    _str("Up-to-date", "Replicas of the latest template.", field("status", "updatedReplicas", default=0)),
    _str("Available", "Replicas available to serve.", field("status", "availableReplicas", default=0)),
    AGE,
    *template_columns("spec", selector=plain(lambda o: selector_string(dig(o, "spec", "selector")))),
)

REPLICASET = (
    NAME,
    Column("Desired", "integer", "Replicas asked for.", plain(cells.replicas)),
    Column("Current", "integer", "Replicas that exist.", field("status", "replicas", default=0)),
    Column("Ready", "integer", "Replicas that are ready.", field("status", "readyReplicas", default=0)),
    AGE,
    *template_columns("spec", selector=_selector_at("spec", "selector")),
)

JOB = (
    NAME,
    _str("Status", "Status of the job.", plain(cells.job_status)),
    _str("Completions", "Succeeded pods out of the completions asked for.", plain(cells.job_completions)),
    _str("Duration", "Time the job took, or has been running.", cells.job_duration),
    AGE,
    *template_columns("spec", selector=_selector_at("spec", "selector")),
)

CRONJOB = (
    NAME,
    _str("Schedule", "Cron schedule of the job.", field("spec", "schedule")),
    _str("Timezone", "Time zone of the schedule.", field("spec", "timeZone", default=NONE)),
    Column(
        "Suspend",
        "boolean",
        "Whether runs are suspended.",
        plain(lambda o: bool_text(dig(o, "spec", "suspend"))),
    ),
    Column("Active", "integer", "Jobs currently running.", count("status", "active")),
    _str("Last Schedule", "Time since a job was last scheduled.", cells.cronjob_last_schedule),
    AGE,
    *template_columns(*_JOB_TEMPLATE, selector=_selector_at(*_JOB_TEMPLATE, "selector")),
)

SERVICE = (
    NAME,
    _str("Type", "How the service is exposed.", field("spec", "type")),
    _str("Cluster-IP", "Virtual IP of the service inside the cluster.", plain(cells.service_cluster_ip)),
    _str("External-IP", "Addresses reachable from outside.", plain(cells.service_external_ip)),
    _str("Port(s)", "Ports the service exposes.", plain(cells.service_ports)),
    AGE,
    _str(
        "Selector",
        "Labels of the pods it routes to.",
        plain(lambda o: format_labels(dig(o, "spec", "selector"))),
        1,
    ),
)

NAMESPACE = (NAME, _str("Status", "Phase of the namespace.", field("status", "phase")), AGE)

EVENT = (
    _str("Last Seen", "Time since the event was last seen.", cells.event_last_seen),
    _str("Type", "Type of the event (Normal, Warning).", plain(cells.event_field("type"))),
    _str("Reason", "Short reason for the event.", plain(cells.event_field("reason"))),
    _str("Object", "The object the event is about.", plain(cells.event_object)),
    _str("Subobject", "Part of the object the event is about.", plain(cells.event_subobject), 1),
    _str("Source", "Component that reported the event.", plain(cells.event_source), 1),
    _str("Message", "What happened.", plain(cells.event_message)),
    _str("First Seen", "Time since the event was first seen.", cells.event_first_seen, 1),
    _str("Count", "Times the event has occurred.", plain(cells.event_count), 1),
    Column("Name", "string", NAME.description, field("metadata", "name"), 1, "name"),
)

CONFIGMAP = (
    NAME,
    _str("Data", "Number of data entries.", plain(cells.configmap_data)),
    AGE,
)
SECRET = (
    NAME,
    _str("Type", "Type of the secret.", field("type")),
    _str("Data", "Number of data entries.", count("data")),
    AGE,
)
SERVICEACCOUNT = (NAME, _str("Secrets", "Number of secrets referenced.", count("secrets")), AGE)
LEASE = (NAME, _str("Holder", "Identity holding the lease.", field("spec", "holderIdentity")), AGE)
ENDPOINTSLICE = (
    NAME,
    _str("AddressType", "Kind of addresses the slice holds.", field("addressType")),
    _str("Ports", "Ports of the endpoints.", plain(cells.slice_ports)),
    _str("Endpoints", "Addresses of the endpoints.", plain(cells.slice_endpoints)),
    AGE,
)
ENDPOINTS = (NAME, _str("Endpoints", "Addresses and ports.", plain(cells.endpoints_list)), AGE)
PRIORITYCLASS = (
    NAME,
    Column("Value", "integer", "Priority given to pods of this class.", field("value", default=0)),
    Column(
        "Global-Default",
        "boolean",
        "Whether pods without a class get this one.",
        plain(lambda o: bool(o.get("globalDefault"))),
    ),
    AGE,
    _str(
        "PreemptionPolicy",
        "Whether pods of this class may preempt others.",
        field("preemptionPolicy", default="PreemptLowerPriority"),
    ),
)
PODDISRUPTIONBUDGET = (
    NAME,
    _str(
        "Min Available",
        "The minimum number of pods that must be available.",
        plain(lambda o: disruption.budget_value(o, "minAvailable")),
    ),
    _str(
        "Max Unavailable",
        "The maximum number of pods that may be unavailable.",
        plain(lambda o: disruption.budget_value(o, "maxUnavailable")),
    ),
    Column(
        "Allowed Disruptions",
        "integer",
        "Number of pod disruptions that are currently allowed.",
        field("status", "disruptionsAllowed", default=0),
    ),
    AGE,
)
ROLE = (NAME, Column("Created At", "date", "Time the role was created.", plain(rbac_cells.created_at)))
BINDING = (
    NAME,
    _str("Role", "The role this binding grants.", plain(rbac_cells.role_ref)),
    AGE,
    _str("Users", "Users bound.", plain(rbac_cells.subjects("User")), 1),
    _str("Groups", "Groups bound.", plain(rbac_cells.subjects("Group")), 1),
    _str("ServiceAccounts", "Service accounts bound.", plain(rbac_cells.subjects("ServiceAccount")), 1),
)
CSR = (
    NAME,
    AGE,
    _str("SignerName", "The signer asked to sign.", field("spec", "signerName")),
    _str("Requestor", "Who asked.", field("spec", "username")),
    _str("RequestedDuration", "Requested validity.", plain(csr_cells.requested_duration)),
    _str("Condition", "Approval and issue state.", plain(csr_cells.condition)),
)
DEFAULT = (NAME, AGE)


COLUMNS: dict[tuple[str, str], tuple[Column, ...]] = {
    ("", "pods"): POD,
    ("", "nodes"): NODE,
    ("apps", "deployments"): DEPLOYMENT,
    ("apps", "replicasets"): REPLICASET,
    ("batch", "jobs"): JOB,
    ("batch", "cronjobs"): CRONJOB,
    ("", "services"): SERVICE,
    ("", "namespaces"): NAMESPACE,
    ("", "events"): EVENT,
    ("events.k8s.io", "events"): EVENT,
    ("", "configmaps"): CONFIGMAP,
    ("", "secrets"): SECRET,
    ("", "serviceaccounts"): SERVICEACCOUNT,
    ("coordination.k8s.io", "leases"): LEASE,
    ("discovery.k8s.io", "endpointslices"): ENDPOINTSLICE,
    ("", "endpoints"): ENDPOINTS,
    ("scheduling.k8s.io", "priorityclasses"): PRIORITYCLASS,
    ("policy", "poddisruptionbudgets"): PODDISRUPTIONBUDGET,
    ("rbac.authorization.k8s.io", "roles"): ROLE,
    ("rbac.authorization.k8s.io", "clusterroles"): ROLE,
    ("rbac.authorization.k8s.io", "rolebindings"): BINDING,
    ("rbac.authorization.k8s.io", "clusterrolebindings"): BINDING,
    ("certificates.k8s.io", "certificatesigningrequests"): CSR,
}


def columns_for(group: str, plural: str) -> tuple[Column, ...]:
    """The columns of resource ``plural.group`` (Name and Age for kinds without their own)."""
    return COLUMNS.get((group, plural), DEFAULT)
