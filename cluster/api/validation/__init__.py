"""Validation of API objects: Kubernetes' rules per kind, returned as field Causes.

``validate(resource, obj, old)`` checks a defaulted object (``old`` is the stored object on
update) and returns every problem found; an empty list means valid. It never raises for bad
input: ill-typed fields are skipped here and reported by ``models.check_fields``.
"""

from __future__ import annotations

from collections.abc import Callable

from cluster.api.resources import Resource
from cluster.api.validation import cluster_kinds, config, disruption, names, pods, rbac, services, workloads
from cluster.api.validation.errors import as_dict
from cluster.api.validation.meta import NameRule, validate_meta, validate_meta_update
from cluster.api.validation.quantity import parse_quantity
from cluster.errors import Cause

__all__ = ["parse_quantity", "validate"]

Rule = Callable[[dict], list[Cause]]
UpdateRule = Callable[[dict, dict], list[Cause]]

# (group, kind) -> (name syntax, rules on create and update, extra rules on update)
_KINDS: dict[tuple[str, str], tuple[NameRule, Rule | None, UpdateRule | None]] = {
    ("", "Namespace"): (names.dns1123_label, cluster_kinds.validate_namespace, None),
    ("", "Pod"): (names.dns1123_subdomain, pods.validate_pod, pods.validate_pod_update),
    ("", "Node"): (names.dns1123_subdomain, cluster_kinds.validate_node, None),
    ("", "Service"): (names.dns1035_label, services.validate_service, services.validate_service_update),
    ("", "Endpoints"): (names.dns1123_subdomain, services.validate_endpoints, None),
    ("", "ConfigMap"): (
        names.dns1123_subdomain,
        config.validate_configmap,
        lambda obj, old: config.validate_immutable_update(obj, old, is_secret=False),
    ),
    ("", "Secret"): (
        names.dns1123_subdomain,
        config.validate_secret,
        lambda obj, old: config.validate_immutable_update(obj, old, is_secret=True),
    ),
    ("", "ServiceAccount"): (names.dns1123_subdomain, None, None),
    ("", "Event"): (names.dns1123_subdomain, cluster_kinds.validate_core_event, None),
    ("apps", "Deployment"): (
        names.dns1123_subdomain,
        workloads.validate_deployment,
        workloads.validate_selector_update,
    ),
    ("apps", "ReplicaSet"): (
        names.dns1123_subdomain,
        workloads.validate_replicaset,
        workloads.validate_selector_update,
    ),
    ("batch", "Job"): (names.dns1123_subdomain, workloads.validate_job, workloads.validate_job_update),
    ("batch", "CronJob"): (names.dns1123_subdomain, workloads.validate_cronjob, None),
    ("discovery.k8s.io", "EndpointSlice"): (names.dns1123_subdomain, services.validate_endpoint_slice, None),
    ("coordination.k8s.io", "Lease"): (names.dns1123_subdomain, cluster_kinds.validate_lease, None),
    ("scheduling.k8s.io", "PriorityClass"): (
        names.dns1123_subdomain,
        cluster_kinds.validate_priority_class,
        cluster_kinds.validate_priority_class_update,
    ),
    ("events.k8s.io", "Event"): (names.dns1123_subdomain, cluster_kinds.validate_events_event, None),
    ("policy", "PodDisruptionBudget"): (names.dns1123_subdomain, disruption.validate_pdb, None),
    (rbac.GROUP, "Role"): (rbac.path_segment_name, rbac.validate_role, None),
    (rbac.GROUP, "ClusterRole"): (rbac.path_segment_name, rbac.validate_cluster_role, None),
    (rbac.GROUP, "RoleBinding"): (
        rbac.path_segment_name,
        rbac.validate_role_binding,
        rbac.validate_binding_update,
    ),
    (rbac.GROUP, "ClusterRoleBinding"): (
        rbac.path_segment_name,
        rbac.validate_cluster_role_binding,
        rbac.validate_binding_update,
    ),
}


def validate(resource: Resource, obj: dict, old: dict | None = None) -> list[Cause]:
    """Every rule ``obj`` (a ``resource`` object, defaults applied) breaks; ``old`` turns on update rules."""
    name_rule, rule, update_rule = _KINDS.get(
        (resource.group, resource.kind), (names.dns1123_subdomain, None, None)
    )
    out = validate_meta(obj.get("metadata"), namespaced=resource.namespaced, name_rule=name_rule)
    if rule is not None:
        out += rule(obj)
    if old is not None:
        out += validate_meta_update(obj.get("metadata"), as_dict(old.get("metadata")))
        if update_rule is not None:
            out += update_rule(obj, old)
    return out
