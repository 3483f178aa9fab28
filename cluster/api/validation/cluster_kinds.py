"""Namespaces, Nodes, ServiceAccounts, Leases and Events: the few rules beyond their names."""

from __future__ import annotations

import ipaddress

from cluster.api.validation import names
from cluster.api.validation.errors import (
    as_dict,
    as_list,
    dicts,
    duplicate,
    enum,
    forbidden,
    invalid,
    nonnegative,
    not_supported,
    positive,
    required,
)
from cluster.errors import Cause

TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
EVENT_TYPES = ("Normal", "Warning")


def validate_namespace(obj: dict) -> list[Cause]:
    out: list[Cause] = []
    for i, finalizer in enumerate(as_list(as_dict(obj.get("spec")).get("finalizers"))):
        if isinstance(finalizer, str):
            out += [invalid(f"spec.finalizers[{i}]", finalizer, m) for m in names.qualified_name(finalizer)]
    return out


def validate_node(obj: dict) -> list[Cause]:
    spec = as_dict(obj.get("spec"))
    out: list[Cause] = []
    seen: set[tuple[str, str]] = set()
    for i, taint in dicts(spec.get("taints")):
        where = f"spec.taints[{i}]"
        key, effect = taint.get("key"), taint.get("effect")
        if not key:
            out.append(required(f"{where}.key"))
        else:
            out += [invalid(f"{where}.key", key, m) for m in names.qualified_name(key)]
        value = taint.get("value")
        if value:
            out += [invalid(f"{where}.value", value, m) for m in names.label_value(value)]
        out += enum(f"{where}.effect", effect, TAINT_EFFECTS)
        if (key, effect) in seen:
            out.append(duplicate(f"{where}", f"{key}:{effect}"))
        seen.add((key, effect))
    for i, cidr in enumerate(as_list(spec.get("podCIDRs")) or [c for c in [spec.get("podCIDR")] if c]):
        try:
            ipaddress.ip_network(cidr, strict=False)
        except (ValueError, TypeError):
            out.append(
                invalid(
                    f"spec.podCIDRs[{i}]",
                    cidr,
                    "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)",
                )
            )
    return out


def validate_lease(obj: dict) -> list[Cause]:
    spec = as_dict(obj.get("spec"))
    out = positive("spec.leaseDurationSeconds", spec.get("leaseDurationSeconds"))
    out += nonnegative("spec.leaseTransitions", spec.get("leaseTransitions"))
    return out


def validate_core_event(obj: dict) -> list[Cause]:
    """``v1 Event``: the involved object's namespace matches the event's; a known type when given."""
    out: list[Cause] = []
    namespace = as_dict(obj.get("metadata")).get("namespace")
    involved = as_dict(obj.get("involvedObject"))
    if involved.get("namespace") and namespace and involved["namespace"] != namespace:
        out.append(
            invalid("involvedObject.namespace", involved["namespace"], "does not match event.namespace")
        )
    out += enum("type", obj.get("type"), EVENT_TYPES, need=False)
    out += nonnegative("count", obj.get("count"))
    return out


def validate_events_event(obj: dict) -> list[Cause]:
    """``events.k8s.io/v1 Event``: eventTime, reporting controller/instance, action and reason required."""
    out: list[Cause] = []
    for key in ("eventTime", "reportingController", "reportingInstance", "action", "reason"):
        if not obj.get(key):
            out.append(required(key))
    for key in ("action", "reason"):
        value = obj.get(key)
        if isinstance(value, str) and len(value) > 128:
            out.append(Cause("FieldValueTooLong", "Too long: may not be more than 128 bytes", key))
    out += enum("type", obj.get("type"), EVENT_TYPES)
    return out


HIGHEST_USER_PRIORITY = 1_000_000_000
_PREEMPTION = ("PreemptLowerPriority", "Never")


def validate_priority_class(obj: dict) -> list[Cause]:
    """``PriorityClass``: a value at most one billion outside the ``system-`` names; a known policy."""
    out: list[Cause] = []
    name = as_dict(obj.get("metadata")).get("name", "")
    value = obj.get("value")
    if isinstance(value, int) and value > HIGHEST_USER_PRIORITY and not str(name).startswith("system-"):
        out.append(invalid("value", value, f"must not be greater than {HIGHEST_USER_PRIORITY}"))
    policy = obj.get("preemptionPolicy")
    if policy is not None and policy not in _PREEMPTION:
        out.append(not_supported("preemptionPolicy", policy, _PREEMPTION))
    return out


def validate_priority_class_update(obj: dict, old: dict) -> list[Cause]:
    """``value`` and ``preemptionPolicy`` cannot change."""
    out: list[Cause] = []
    for key in ("value", "preemptionPolicy"):
        if obj.get(key) != old.get(key):
            out.append(forbidden(key, "may not be changed in an update."))
    return out
