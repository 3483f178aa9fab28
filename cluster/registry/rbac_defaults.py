"""The RBAC objects every cluster starts with: Kubernetes' default ClusterRoles (written out rule
by rule, no aggregation), roles for kubeq's components, and their bindings.

``ensure_default_rbac(registry)`` creates what is missing and rewrites any default object whose
``rbac.authorization.kubernetes.io/autoupdate`` annotation is ``"true"`` and whose content
differs; objects a user marked ``"false"`` are left alone. Running it again changes nothing.
"""

from __future__ import annotations

import copy
from typing import Any

from cluster import errors
from cluster.api.resources import Resource, lookup
from cluster.registry.admission import WriteOptions
from cluster.registry.registry import Registry

Obj = dict[str, Any]
GROUP = "rbac.authorization.k8s.io"
AUTOUPDATE = "rbac.authorization.kubernetes.io/autoupdate"
LABELS = {"kubernetes.io/bootstrapping": "rbac-defaults"}
READ = ["get", "list", "watch"]
WRITE = ["create", "delete", "deletecollection", "patch", "update"]
ALL_VERBS = [*READ, *WRITE]
EVENTS = ["create", "patch", "update"]


def r(groups: list[str], resources: list[str], verbs: list[str], names: list[str] | None = None) -> Obj:
    """A resource rule."""
    rule: Obj = {"apiGroups": groups, "resources": resources, "verbs": verbs}
    if names:
        rule["resourceNames"] = names
    return rule


def url(urls: list[str], verbs: list[str] | None = None) -> Obj:
    """A non-resource rule."""
    return {"nonResourceURLs": urls, "verbs": verbs or ["get"]}


_VIEW = [
    r(
        [""],
        [
            "configmaps",
            "endpoints",
            "persistentvolumeclaims",
            "persistentvolumeclaims/status",
            "pods",
            "replicationcontrollers",
            "replicationcontrollers/scale",
            "serviceaccounts",
            "services",
            "services/status",
        ],
        READ,
    ),  # fmt: skip
    r(
        [""],
        [
            "bindings",
            "events",
            "limitranges",
            "namespaces/status",
            "pods/log",
            "pods/status",
            "replicationcontrollers/status",
            "resourcequotas",
            "resourcequotas/status",
        ],
        READ,
    ),  # fmt: skip
    r([""], ["namespaces"], READ),
    r(["discovery.k8s.io"], ["endpointslices"], READ),
    r(
        ["apps"],
        [
            "controllerrevisions",
            "daemonsets",
            "daemonsets/status",
            "deployments",
            "deployments/scale",
            "deployments/status",
            "replicasets",
            "replicasets/scale",
            "replicasets/status",
            "statefulsets",
            "statefulsets/scale",
            "statefulsets/status",
        ],
        READ,
    ),  # fmt: skip
    r(["autoscaling"], ["horizontalpodautoscalers", "horizontalpodautoscalers/status"], READ),
    r(["batch"], ["cronjobs", "cronjobs/status", "jobs", "jobs/status"], READ),
    r(["policy"], ["poddisruptionbudgets", "poddisruptionbudgets/status"], READ),
    r(["networking.k8s.io"], ["ingresses", "ingresses/status", "networkpolicies"], READ),
]
_EDIT = [
    r(
        [""],
        ["pods/attach", "pods/exec", "pods/portforward", "pods/proxy", "secrets", "services/proxy"],
        READ,
    ),
    r([""], ["serviceaccounts"], ["impersonate"]),
    r([""], ["pods", "pods/attach", "pods/exec", "pods/portforward", "pods/proxy"], WRITE),
    r([""], ["pods/eviction"], ["create"]),
    r(
        [""],
        [
            "configmaps",
            "events",
            "persistentvolumeclaims",
            "replicationcontrollers",
            "replicationcontrollers/scale",
            "secrets",
            "serviceaccounts",
            "services",
            "services/proxy",
        ],
        WRITE,
    ),  # fmt: skip
    r([""], ["serviceaccounts/token"], ["create"]),
    r(
        ["apps"],
        [
            "daemonsets",
            "deployments",
            "deployments/rollback",
            "deployments/scale",
            "replicasets",
            "replicasets/scale",
            "statefulsets",
            "statefulsets/scale",
        ],
        WRITE,
    ),  # fmt: skip
    r(["autoscaling"], ["horizontalpodautoscalers"], WRITE),
    r(["batch"], ["cronjobs", "jobs"], WRITE),
    r(["policy"], ["poddisruptionbudgets"], WRITE),
    r(["networking.k8s.io"], ["ingresses", "networkpolicies"], WRITE),
    r(["coordination.k8s.io"], ["leases"], ALL_VERBS),
    *_VIEW,
]
_ADMIN = [
    r([GROUP], ["rolebindings", "roles"], ALL_VERBS),
    r(["authorization.k8s.io"], ["localsubjectaccessreviews"], ["create"]),
    *_EDIT,
]
_DISCOVERY_URLS = ["/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/openapi", "/openapi/*",
                   "/readyz", "/version", "/version/"]  # fmt: skip
_PUBLIC_URLS = ["/healthz", "/livez", "/readyz", "/version", "/version/"]
_CSR = "certificates.k8s.io"

# kubeq's components, from what they call: tasks/controllers (the garbage collector and the
# namespace controller touch every kind), tasks/scheduler, workers/dns, tasks/cloud, tasks/proxy.
_CONTROLLER_MANAGER = [
    r(["*"], ["*"], ["get", "list", "watch", "delete", "deletecollection", "patch", "update"]),
    r([""], ["pods", "events", "endpoints", "configmaps", "serviceaccounts", "pods/eviction"], ["create"]),
    r(["apps"], ["replicasets", "controllerrevisions"], ["create"]),
    r(["batch"], ["jobs"], ["create"]),
    r(["discovery.k8s.io"], ["endpointslices"], ["create"]),
    r(["coordination.k8s.io"], ["leases"], ["create"]),
    r(["events.k8s.io"], ["events"], ["create"]),
    r(
        [_CSR],
        ["certificatesigningrequests/approval", "certificatesigningrequests/status"],
        ["update", "patch"],
    ),
    r([_CSR], ["signers"], ["approve", "sign"]),
    r(["authentication.k8s.io"], ["tokenreviews"], ["create"]),
    r(["authorization.k8s.io"], ["subjectaccessreviews"], ["create"]),
    r([""], ["serviceaccounts/token"], ["create"]),
]
_SCHEDULER = [
    r(
        [""],
        [
            "pods",
            "nodes",
            "namespaces",
            "services",
            "replicationcontrollers",
            "persistentvolumeclaims",
            "persistentvolumes",
            "configmaps",
        ],
        READ,
    ),  # fmt: skip
    r([""], ["pods/binding", "bindings", "pods/eviction"], ["create"]),
    r([""], ["pods/status"], ["patch", "update"]),
    r([""], ["pods"], ["delete"]),
    r([""], ["events"], EVENTS),
    r(["events.k8s.io"], ["events"], EVENTS),
    r(["apps"], ["replicasets", "statefulsets"], READ),
    r(["policy"], ["poddisruptionbudgets"], READ),
    r(["scheduling.k8s.io"], ["priorityclasses"], READ),
    r(["coordination.k8s.io"], ["leases"], ["create", "get", "update"]),
    r(["authentication.k8s.io"], ["tokenreviews"], ["create"]),
    r(["authorization.k8s.io"], ["subjectaccessreviews"], ["create"]),
]
_DNS = [
    r([""], ["endpoints", "services", "pods", "namespaces", "nodes"], READ),
    r(["discovery.k8s.io"], ["endpointslices"], READ),
    r([""], ["services"], ["create", "update", "patch"]),
    r(["discovery.k8s.io"], ["endpointslices"], ["create", "update", "patch", "delete"]),
]
_CLOUD = [
    r([""], ["nodes"], ["get", "list", "watch", "update", "patch", "delete"]),
    r([""], ["nodes/status"], ["patch", "update"]),
    r([""], ["services"], ["get", "list", "watch", "update", "patch"]),
    r([""], ["services/status"], ["patch", "update"]),
    r([""], ["configmaps"], ["create", "get", "list", "watch", "update", "patch", "delete"]),
    r([""], ["events"], EVENTS),
    r(["events.k8s.io"], ["events"], EVENTS),
    r(["coordination.k8s.io"], ["leases"], ["create", "get", "update"]),
]
_PROXIER = [
    r([""], ["endpoints", "services"], ["list", "watch"]),
    r([""], ["nodes"], READ),
    r(["discovery.k8s.io"], ["endpointslices"], ["list", "watch"]),
    r([""], ["events"], EVENTS),
    r(["events.k8s.io"], ["events"], EVENTS),
]

CLUSTER_ROLES: dict[str, list[Obj]] = {
    "cluster-admin": [r(["*"], ["*"], ["*"]), url(["*"], ["*"])],
    "admin": _ADMIN,
    "edit": _EDIT,
    "view": _VIEW,
    "system:basic-user": [
        r(["authorization.k8s.io"], ["selfsubjectaccessreviews", "selfsubjectrulesreviews"], ["create"]),
        r(["authentication.k8s.io"], ["selfsubjectreviews"], ["create"]),
    ],
    "system:discovery": [url(_DISCOVERY_URLS)],
    "system:public-info-viewer": [url(_PUBLIC_URLS)],
    "system:kube-controller-manager": _CONTROLLER_MANAGER,
    "system:kube-scheduler": _SCHEDULER,
    "system:kube-dns": _DNS,
    "system:cloud-controller-manager": _CLOUD,
    "system:node-proxier": _PROXIER,
    "system:node-bootstrapper": [
        r([_CSR], ["certificatesigningrequests"], ["create", "get", "list", "watch"])
    ],
    "system:certificates.k8s.io:certificatesigningrequests:nodeclient": [
        r([_CSR], ["certificatesigningrequests/nodeclient"], ["create"])
    ],
    "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient": [
        r([_CSR], ["certificatesigningrequests/selfnodeclient"], ["create"])
    ],
}


def _user(name: str) -> Obj:
    return {"kind": "User", "apiGroup": GROUP, "name": name}


def _group(name: str) -> Obj:
    return {"kind": "Group", "apiGroup": GROUP, "name": name}


AUTHENTICATED, UNAUTHENTICATED = _group("system:authenticated"), _group("system:unauthenticated")
BOOTSTRAPPERS = _group("system:bootstrappers")

# binding name -> (ClusterRole, subjects)
CLUSTER_ROLE_BINDINGS: dict[str, tuple[str, list[Obj]]] = {
    "cluster-admin": ("cluster-admin", [_group("system:masters")]),
    "system:basic-user": ("system:basic-user", [AUTHENTICATED]),
    "system:discovery": ("system:discovery", [AUTHENTICATED]),
    "system:public-info-viewer": ("system:public-info-viewer", [AUTHENTICATED, UNAUTHENTICATED]),
    "system:kube-controller-manager": (
        "system:kube-controller-manager",
        [_user("system:kube-controller-manager")],
    ),
    "system:kube-scheduler": ("system:kube-scheduler", [_user("system:kube-scheduler")]),
    "system:kube-dns": ("system:kube-dns", [_user("system:kube-dns")]),
    "system:cloud-controller-manager": (
        "system:cloud-controller-manager",
        [_user("system:cloud-controller-manager")],
    ),
    "system:node-proxier": ("system:node-proxier", [_user("system:kube-proxy")]),
    "system:node-bootstrapper": ("system:node-bootstrapper", [BOOTSTRAPPERS]),
    "kubeq:node-autoapprove-bootstrap": (
        "system:certificates.k8s.io:certificatesigningrequests:nodeclient",
        [BOOTSTRAPPERS],
    ),
    "kubeq:node-autoapprove-certificate-rotation": (
        "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient",
        [_group("system:nodes")],
    ),
}

# the one namespaced pair: bootstrapping nodes read kube-public/cluster-info before they are trusted
CLUSTER_INFO_NS, CLUSTER_INFO_ROLE = "kube-public", "kubeq:bootstrap-cluster-info"
CLUSTER_INFO_RULES = [r([""], ["configmaps"], ["get"], ["cluster-info"])]


def _meta(name: str, namespace: str = "") -> Obj:
    md: Obj = {"name": name, "labels": dict(LABELS), "annotations": {AUTOUPDATE: "true"}}
    if namespace:
        md["namespace"] = namespace
    return md


def default_objects() -> list[tuple[str, Obj]]:
    """Every default object as (plural, body), roles before the bindings that use them."""
    out: list[tuple[str, Obj]] = []
    for name, rules in CLUSTER_ROLES.items():
        out.append(("clusterroles", {"metadata": _meta(name), "rules": copy.deepcopy(rules)}))
    for name, (role, subjects) in CLUSTER_ROLE_BINDINGS.items():
        ref = {"apiGroup": GROUP, "kind": "ClusterRole", "name": role}
        out.append(("clusterrolebindings", {"metadata": _meta(name), "roleRef": ref, "subjects": subjects}))
    ns, name = CLUSTER_INFO_NS, CLUSTER_INFO_ROLE
    out.append(("roles", {"metadata": _meta(name, ns), "rules": copy.deepcopy(CLUSTER_INFO_RULES)}))
    ref = {"apiGroup": GROUP, "kind": "Role", "name": name}
    out.append(("rolebindings", {"metadata": _meta(name, ns), "roleRef": ref, "subjects": [BOOTSTRAPPERS]}))
    return out


def _resource(plural: str) -> Resource:
    resource = lookup(GROUP, "v1", plural)
    assert resource is not None
    return resource


def _differs(current: Obj, body: Obj) -> bool:
    md, want = current.get("metadata") or {}, body["metadata"]
    if any((md.get("labels") or {}).get(k) != v for k, v in want["labels"].items()):
        return True
    return any(current.get(k) != body[k] for k in ("rules", "roleRef", "subjects") if k in body)


def _ensure_one(registry: Registry, resource: Resource, body: Obj) -> str:
    namespace = body["metadata"].get("namespace")
    try:
        registry.create(resource, namespace, copy.deepcopy(body), WriteOptions())
        return "created"
    except errors.AlreadyExists:
        pass
    current = registry.get(resource, namespace, body["metadata"]["name"])
    md = current.get("metadata") or {}
    if (md.get("annotations") or {}).get(AUTOUPDATE) != "true" or not _differs(current, body):
        return "unchanged"
    if "roleRef" in body and current.get("roleRef") != body["roleRef"]:
        return "unchanged"  # roleRef cannot change; a user's binding of that name stays as it is
    wanted = copy.deepcopy(current)
    wanted["metadata"].setdefault("labels", {}).update(body["metadata"]["labels"])
    for key in ("rules", "subjects"):
        if key in body:
            wanted[key] = copy.deepcopy(body[key])
    registry.update(resource, namespace, md["name"], wanted, WriteOptions(), current=current)
    return "updated"


def ensure_default_rbac(registry: Registry) -> dict[str, str]:
    """Create or update the default RBAC objects; returns ``{"<plural>/<name>": outcome}`` with
    outcome ``created``, ``updated``, ``unchanged`` or ``skipped: <why>`` (e.g. kube-public missing)."""
    outcome: dict[str, str] = {}
    for plural, body in default_objects():
        md = body["metadata"]
        key = f"{plural}/{md['namespace']}/{md['name']}" if "namespace" in md else f"{plural}/{md['name']}"
        try:
            outcome[key] = _ensure_one(registry, _resource(plural), body)
        except errors.NotFound as err:  # the namespace does not exist (yet)
            outcome[key] = f"skipped: {err}"
    return outcome
