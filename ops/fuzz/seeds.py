"""Valid objects the fuzzer keeps in place, so that reads, updates, patches and deletes meet real ones.

``seed_object(api_version, kind, name)`` is a minimal object the API server accepts, or None for kinds
that are answered without storing (reviews). Before each operation the runner creates the seed for the
operation's kind (an ``AlreadyExists`` is fine), since a fuzzed delete may have removed it.
"""

from __future__ import annotations

import copy
from typing import Any

from cluster.api.resources import lookup

Obj = dict[str, Any]
_LABELS = {"app": "fz"}
_POD_SPEC = {"containers": [{"name": "main", "image": "busybox:1.36", "ports": [{"containerPort": 80}]}]}
_TEMPLATE = {"metadata": {"labels": _LABELS}, "spec": _POD_SPEC}
_RULE = {"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}
_SUBJECT = {"kind": "User", "name": "fz-user", "apiGroup": "rbac.authorization.k8s.io"}
# a CSR body: a fixed, valid PEM request would need a key; any bytes are refused early, so none
_BODIES: dict[str, Obj] = {
    "Pod": {"spec": _POD_SPEC},
    "Service": {"spec": {"selector": _LABELS, "ports": [{"port": 80, "targetPort": 80}]}},
    "ConfigMap": {"data": {"k": "v"}},
    "Secret": {"stringData": {"k": "v"}},
    "Endpoints": {"subsets": [{"addresses": [{"ip": "10.1.2.3"}], "ports": [{"port": 80}]}]},
    "Event": {"involvedObject": {"kind": "Pod", "name": "fz-a"}, "reason": "Fuzz", "message": "m"},
    "Deployment": {"spec": {"replicas": 0, "selector": {"matchLabels": _LABELS}, "template": _TEMPLATE}},
    "ReplicaSet": {"spec": {"replicas": 0, "selector": {"matchLabels": _LABELS}, "template": _TEMPLATE}},
    "Job": {"spec": {"suspend": True, "template": {"spec": {**_POD_SPEC, "restartPolicy": "Never"}}}},
    "CronJob": {
        "spec": {
            "schedule": "0 0 1 1 *",
            "suspend": True,
            "jobTemplate": {"spec": {"template": {"spec": {**_POD_SPEC, "restartPolicy": "Never"}}}},
        }
    },
    "EndpointSlice": {"addressType": "IPv4", "endpoints": [{"addresses": ["10.1.2.3"]}]},
    "Lease": {"spec": {"holderIdentity": "fz"}},
    "PodDisruptionBudget": {"spec": {"minAvailable": 1, "selector": {"matchLabels": _LABELS}}},
    "PriorityClass": {"value": 10},
    "Role": {"rules": [_RULE]},
    "ClusterRole": {"rules": [_RULE]},
    "RoleBinding": {
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "fz-a"},
        "subjects": [_SUBJECT],
    },
    "ClusterRoleBinding": {
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "fz-a"},
        "subjects": [_SUBJECT],
    },
    "Namespace": {},
    "Node": {},
    "ServiceAccount": {},
}


def seed_object(api_version: str, kind: str, name: str) -> Obj | None:
    """A minimal valid ``kind`` named ``name`` (labels ``app: fz``), None when there is none."""
    if kind not in _BODIES:
        return None
    body = copy.deepcopy(_BODIES[kind])
    if kind == "Event" and api_version != "v1":
        body = {
            "type": "Normal",
            "reason": "Fuzz",
            "note": "m",
            "action": "Fuzz",
            "reportingController": "fz",
            "reportingInstance": "fz",
            "eventTime": "2026-01-01T00:00:00.000000Z",
            "regarding": {"kind": "Pod", "name": "fz-a"},
        }
    return {
        "apiVersion": api_version,
        "kind": kind,
        "metadata": {"name": name, "labels": dict(_LABELS)},
        **body,
    }


def seed_for_path(path: str, namespace: str, name: str) -> tuple[str, Obj] | None:
    """(collection path, seed object) for the resource an OpenAPI path template names, else None."""
    parts = [p for p in path.split("/") if p]
    if parts[:1] == ["api"]:
        group, version, rest = "", parts[1], parts[2:]
    elif parts[:1] == ["apis"] and len(parts) > 2:
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    if len(rest) > 2 and rest[0] == "namespaces" and rest[1] == "{namespace}":
        rest = rest[2:]
    resource = lookup(group, version, rest[0]) if rest else None
    if resource is None:
        return None
    api_version = f"{group}/{version}" if group else version
    obj = seed_object(api_version, resource.kind, name)
    if obj is None:
        return None
    prefix = f"/apis/{group}/{version}" if group else f"/api/{version}"
    scope = f"/namespaces/{namespace}" if resource.namespaced else ""
    return f"{prefix}{scope}/{resource.plural}", obj
