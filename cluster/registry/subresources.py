"""Subresources with their own kinds: ``scale`` (autoscaling/v1 Scale), pod ``binding`` and ``eviction``."""

from __future__ import annotations

import copy
from typing import Any

from cluster import errors
from cluster.api.resources import Resource, lookup
from cluster.registry import meta
from cluster.registry.admission import WriteOptions
from cluster.registry.deletion import DeleteOptions, delete
from cluster.registry.disruption import admit_eviction
from cluster.registry.registry import Registry

Obj = dict[str, Any]
PODS = lookup("", "v1", "pods")


def selector_string(selector: Obj | None) -> str:
    """A LabelSelector in its string form (``app=web,tier in (a,b)``), as Scale.status.selector holds."""
    if not selector:
        return ""
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key", ""), expr.get("operator", ""), expr.get("values") or []
        if op == "In":
            parts.append(f"{key} in ({','.join(sorted(values))})")
        elif op == "NotIn":
            parts.append(f"{key} notin ({','.join(sorted(values))})")
        elif op == "Exists":
            parts.append(key)
        elif op == "DoesNotExist":
            parts.append(f"!{key}")
    return ",".join(parts)


def to_scale(obj: Obj) -> Obj:
    """The ``autoscaling/v1 Scale`` view of a Deployment or ReplicaSet."""
    md = obj["metadata"]
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            k: md[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp") if k in md
        },
        "spec": {"replicas": obj.get("spec", {}).get("replicas", 0)},
        "status": {
            "replicas": obj.get("status", {}).get("replicas", 0),
            "selector": selector_string(obj.get("spec", {}).get("selector")),
        },
    }


def get_scale(registry: Registry, resource: Resource, namespace: str | None, name: str) -> Obj:
    return to_scale(registry.get(resource, namespace, name))


def scaled(
    registry: Registry, resource: Resource, namespace: str | None, name: str, scale: Obj
) -> tuple[Obj, Obj]:
    """``(parent, parent with the Scale's replicas)``; CAS on the Scale's resourceVersion if given.

    ``BadRequest`` if the body is not a Scale, ``Invalid`` for negative replicas.
    """
    if not isinstance(scale, dict) or scale.get("kind", "Scale") != "Scale":
        raise errors.BadRequest("the body of a scale request must be an autoscaling/v1 Scale")
    replicas = scale.get("spec", {}).get("replicas", 0)
    if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
        raise errors.invalid(
            "Scale",
            "autoscaling",
            name,
            [
                errors.Cause(
                    "FieldValueInvalid",
                    f"Invalid value: {replicas!r}: must be greater than or equal to 0",
                    "spec.replicas",
                )
            ],
        )
    parent = registry.get(resource, namespace, name)
    new = copy.deepcopy(parent)
    rv = scale.get("metadata", {}).get("resourceVersion")
    if rv:
        new["metadata"]["resourceVersion"] = rv
    new.setdefault("spec", {})["replicas"] = replicas
    return parent, new


def bind(registry: Registry, namespace: str, name: str, binding: Obj, opts: WriteOptions) -> Obj:
    """Assign a pod to a node (``pods/binding``); ``Conflict`` if it is already assigned."""
    target = (binding or {}).get("target") or {}
    if not isinstance(target, dict) or not isinstance(target.get("name", ""), str):
        raise errors.BadRequest("Binding.target must be an object reference with a string name")
    node = target.get("name")
    if not node:
        raise errors.invalid(
            "Binding", "", name, [errors.Cause("FieldValueRequired", "Required value", "target.name")]
        )

    def assign(pod: Obj) -> Obj:
        if pod.get("spec", {}).get("nodeName"):
            raise errors.Conflict(
                f'Operation cannot be fulfilled on pods/binding "{name}": pod {name} is already assigned '
                f'to node "{pod["spec"]["nodeName"]}"',
                name=name,
                kind="pods/binding",
            )
        if pod["metadata"].get("deletionTimestamp"):
            raise errors.Conflict(
                f"pod {name} is being deleted, cannot be assigned to a host", name=name, kind="pods/binding"
            )
        pod["spec"]["nodeName"] = node
        conditions = [
            c for c in pod.setdefault("status", {}).get("conditions", []) if c.get("type") != "PodScheduled"
        ]
        conditions.append(
            {
                "type": "PodScheduled",
                "status": "True",
                "lastProbeTime": None,
                "lastTransitionTime": meta.now(),
            }
        )
        pod["status"]["conditions"] = conditions
        return pod

    if opts.dry_run:
        assign(copy.deepcopy(registry.get(PODS, namespace, name)))
    else:
        registry.store.guaranteed_update(PODS.qualified, PODS.key(namespace, name), assign)
    return _created_status()


def evict(registry: Registry, namespace: str, name: str, eviction: Obj) -> Obj:
    """Delete a pod through the eviction API, if its PodDisruptionBudget allows (``admit_eviction``).

    ``TooManyRequests`` (429) while the budget allows no disruption; ``NotFound`` for a missing pod.
    """
    options = DeleteOptions.parse((eviction or {}).get("deleteOptions"), {})
    admit_eviction(registry, registry.get(PODS, namespace, name), dry_run=options.dry_run)
    delete(registry, PODS, namespace, name, options)
    return _created_status()


def _created_status() -> Obj:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}
