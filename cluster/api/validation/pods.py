"""Pods and pod templates: containers, ports, volumes, probes, enums; the pod update rules."""

from __future__ import annotations

import copy
from typing import Any

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
    not_found,
    required,
)
from cluster.api.validation.meta import canonical, validate_annotations, validate_labels
from cluster.api.validation.resources import validate_resources
from cluster.errors import Cause

RESTART_POLICIES = ("Always", "OnFailure", "Never")
DNS_POLICIES = ("ClusterFirstWithHostNet", "ClusterFirst", "Default", "None")
PROTOCOLS = ("SCTP", "TCP", "UDP")
PULL_POLICIES = ("Always", "IfNotPresent", "Never")
MESSAGE_POLICIES = ("File", "FallbackToLogsOnError")
TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
PORT_RANGE = "must be between 1 and 65535, inclusive"
_HANDLERS = ("exec", "httpGet", "tcpSocket", "grpc")


def valid_port(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 65535


def validate_port_ref(value: Any, field: str) -> list[Cause]:
    """An int-or-string port: a number 1-65535 or an IANA service name."""
    if isinstance(value, str) and not value.isdigit():
        return [invalid(field, value, msg) for msg in names.port_name(value)]
    number = int(value) if isinstance(value, str) else value
    return [] if valid_port(number) else [invalid(field, value, PORT_RANGE)]


def _ports(ports: Any, field: str, host_network: bool) -> list[Cause]:
    out: list[Cause] = []
    seen: set[str] = set()
    for i, port in dicts(ports):
        where = f"{field}[{i}]"
        name = port.get("name")
        if name:
            out += [invalid(f"{where}.name", name, msg) for msg in names.port_name(name)]
            if name in seen:
                out.append(duplicate(f"{where}.name", name))
            seen.add(name)
        container_port = port.get("containerPort")
        if not container_port:
            out.append(required(f"{where}.containerPort"))
        elif not valid_port(container_port):
            out.append(invalid(f"{where}.containerPort", container_port, PORT_RANGE))
        host_port = port.get("hostPort")
        if host_port and not valid_port(host_port):
            out.append(invalid(f"{where}.hostPort", host_port, PORT_RANGE))
        if host_network and host_port and host_port != container_port:
            out.append(
                invalid(
                    f"{where}.hostPort", host_port, "must match `containerPort` when `hostNetwork` is true"
                )
            )
        out += enum(f"{where}.protocol", port.get("protocol"), PROTOCOLS)
    return out


def _probe(probe: Any, field: str, *, single_success: bool) -> list[Cause]:
    if probe is None:
        return []
    probe = as_dict(probe)
    out: list[Cause] = []
    handlers = [h for h in _HANDLERS if probe.get(h) is not None]
    if not handlers:
        out.append(required(field, "must specify a handler type"))
    for extra in handlers[1:]:
        out.append(forbidden(f"{field}.{extra}", "may not specify more than 1 handler type"))
    for key in (
        "initialDelaySeconds",
        "timeoutSeconds",
        "periodSeconds",
        "successThreshold",
        "failureThreshold",
    ):
        out += nonnegative(f"{field}.{key}", probe.get(key))
    success = probe.get("successThreshold")
    if single_success and isinstance(success, int) and success != 1:
        out.append(invalid(f"{field}.successThreshold", success, "must be 1"))
    http = as_dict(probe.get("httpGet"))
    if "port" in http:
        out += validate_port_ref(http["port"], f"{field}.httpGet.port")
    tcp = as_dict(probe.get("tcpSocket"))
    if "port" in tcp:
        out += validate_port_ref(tcp["port"], f"{field}.tcpSocket.port")
    return out


def _env(env: Any, field: str) -> list[Cause]:
    out: list[Cause] = []
    for i, var in dicts(env):
        name = var.get("name")
        if not name:
            out.append(required(f"{field}[{i}].name"))
        elif "=" in name or not name.isprintable() or not name.isascii():
            out.append(
                invalid(
                    f"{field}[{i}].name",
                    name,
                    "a valid environment variable name must consist only of printable ASCII characters "
                    "other than '='",
                )
            )
    return out


def _container(c: dict, field: str, volumes: set[str], host_network: bool, probes: bool) -> list[Cause]:
    out: list[Cause] = []
    if not c.get("image"):
        out.append(required(f"{field}.image"))
    out += _ports(c.get("ports"), f"{field}.ports", host_network)
    out += _env(c.get("env"), f"{field}.env")
    out += validate_resources(c.get("resources"), f"{field}.resources")
    out += enum(f"{field}.imagePullPolicy", c.get("imagePullPolicy"), PULL_POLICIES, need=False)
    out += enum(
        f"{field}.terminationMessagePolicy", c.get("terminationMessagePolicy"), MESSAGE_POLICIES, need=False
    )
    mounts: set[str] = set()
    for i, mount in dicts(c.get("volumeMounts")):
        where = f"{field}.volumeMounts[{i}]"
        name, path = mount.get("name"), mount.get("mountPath")
        if not name:
            out.append(required(f"{where}.name"))
        elif name not in volumes:
            out.append(not_found(f"{where}.name", name))
        if not path:
            out.append(required(f"{where}.mountPath"))
        elif path in mounts:
            out.append(invalid(f"{where}.mountPath", path, "must be unique"))
        else:
            mounts.add(path)
    if probes:
        out += _probe(c.get("livenessProbe"), f"{field}.livenessProbe", single_success=True)
        out += _probe(c.get("readinessProbe"), f"{field}.readinessProbe", single_success=False)
        out += _probe(c.get("startupProbe"), f"{field}.startupProbe", single_success=True)
    return out


def unique_label_name(item: dict[str, Any], where: str, seen: set[str]) -> list[Cause]:
    """``item.name``: required, a DNS-1123 label, not in ``seen`` (which it joins)."""
    name = item.get("name")
    if not name:
        return [required(f"{where}.name")]
    out = [invalid(f"{where}.name", name, msg) for msg in names.dns1123_label(name)]
    if name in seen:
        out.append(duplicate(f"{where}.name", name))
    seen.add(name)
    return out


def _volumes(volumes: Any, field: str) -> tuple[set[str], list[Cause]]:
    out: list[Cause] = []
    seen: set[str] = set()
    for i, volume in dicts(volumes):
        where = f"{field}[{i}]"
        out += unique_label_name(volume, where, seen)
        sources = [k for k, v in volume.items() if k != "name" and v is not None]
        if not sources:
            out.append(required(where, "must specify a volume type"))
        for extra in sources[1:]:
            out.append(forbidden(f"{where}.{extra}", "may not specify more than 1 volume type"))
    return seen, out


def _tolerations(tolerations: Any, field: str) -> list[Cause]:
    out: list[Cause] = []
    for i, t in dicts(tolerations):
        where = f"{field}[{i}]"
        key, operator = t.get("key"), t.get("operator") or "Equal"
        if key:
            out += [invalid(f"{where}.key", key, msg) for msg in names.qualified_name(key)]
        elif operator != "Exists":
            out.append(
                invalid(
                    f"{where}.operator",
                    operator,
                    'operator must be Exists when `key` is empty, which means "match all values and all keys"',
                )
            )
        if operator not in ("Equal", "Exists"):
            out += enum(f"{where}.operator", operator, ("Equal", "Exists"))
        if operator == "Exists" and t.get("value"):
            out.append(
                invalid(
                    f"{where}.operator", t.get("value"), "value must be empty when `operator` is 'Exists'"
                )
            )
        out += enum(f"{where}.effect", t.get("effect"), TAINT_EFFECTS, need=False)
        if t.get("tolerationSeconds") is not None and t.get("effect") != "NoExecute":
            out.append(
                invalid(
                    f"{where}.effect",
                    t.get("effect"),
                    "effect must be 'NoExecute' when `tolerationSeconds` is set",
                )
            )
    return out


def validate_pod_spec(
    spec: Any, field: str = "spec", restart_policies: tuple[str, ...] = RESTART_POLICIES
) -> list[Cause]:
    """All rules of a PodSpec at ``field``; ``restart_policies`` narrows the allowed restartPolicy."""
    spec = as_dict(spec)
    out: list[Cause] = []
    volumes, volume_errors = _volumes(spec.get("volumes"), f"{field}.volumes")
    out += volume_errors
    host_network = bool(spec.get("hostNetwork"))
    containers = as_list(spec.get("containers"))
    if not containers:
        out.append(required(f"{field}.containers"))
    seen: set[str] = set()
    for key, probes in (("initContainers", False), ("containers", True)):
        for i, c in dicts(spec.get(key)):
            where = f"{field}.{key}[{i}]"
            out += unique_label_name(c, where, seen)
            out += _container(c, where, volumes, host_network, probes)
    out += enum(f"{field}.restartPolicy", spec.get("restartPolicy"), restart_policies)
    out += enum(f"{field}.dnsPolicy", spec.get("dnsPolicy"), DNS_POLICIES)
    out += nonnegative(f"{field}.terminationGracePeriodSeconds", spec.get("terminationGracePeriodSeconds"))
    deadline = spec.get("activeDeadlineSeconds")
    if isinstance(deadline, int) and deadline <= 0:
        out.append(
            invalid(f"{field}.activeDeadlineSeconds", deadline, "must be between 1 and 2147483647, inclusive")
        )
    for key, rule in (
        ("hostname", names.dns1123_label),
        ("subdomain", names.dns1123_label),
        ("nodeName", names.dns1123_subdomain),
        ("serviceAccountName", names.dns1123_subdomain),
        ("priorityClassName", names.dns1123_subdomain),
    ):
        value = spec.get(key)
        if isinstance(value, str) and value:
            out += [invalid(f"{field}.{key}", value, msg) for msg in rule(value)]
    out += validate_labels(spec.get("nodeSelector"), f"{field}.nodeSelector")
    out += _tolerations(spec.get("tolerations"), f"{field}.tolerations")
    out += validate_resources(spec.get("overhead") and {"limits": spec.get("overhead")}, f"{field}.overhead")
    return out


def validate_pod_template(
    template: Any, field: str, restart_policies: tuple[str, ...] = RESTART_POLICIES
) -> list[Cause]:
    """A PodTemplateSpec at ``field`` (``spec.template``): its labels, annotations and spec."""
    template = as_dict(template)
    meta = as_dict(template.get("metadata"))
    out = validate_labels(meta.get("labels"), f"{field}.metadata.labels")
    out += validate_annotations(meta.get("annotations"), f"{field}.metadata.annotations")
    out += validate_pod_spec(template.get("spec"), f"{field}.spec", restart_policies)
    return out


def validate_pod(obj: dict) -> list[Cause]:
    return validate_pod_spec(obj.get("spec"))


UPDATE_MESSAGE = (
    "pod updates may not change fields other than `spec.containers[*].image`,"
    "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,"
    "`spec.tolerations` (only additions to existing tolerations),"
    "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)"
)


def validate_pod_update(obj: dict, old: dict) -> list[Cause]:
    """Only images, activeDeadlineSeconds, added tolerations and scheduling-gate removals may change."""
    spec, old_spec = as_dict(obj.get("spec")), as_dict(old.get("spec"))
    out: list[Cause] = []
    old_deadline, deadline = old_spec.get("activeDeadlineSeconds"), spec.get("activeDeadlineSeconds")
    if old_deadline is not None:
        if deadline is None:
            out.append(
                invalid(
                    "spec.activeDeadlineSeconds", None, "must not update from a positive integer to nil value"
                )
            )
        elif isinstance(deadline, int) and isinstance(old_deadline, int) and deadline > old_deadline:
            out.append(
                invalid(
                    "spec.activeDeadlineSeconds", deadline, "must be less than or equal to previous value"
                )
            )
    old_tolerations = [canonical(t) for t in as_list(old_spec.get("tolerations"))]
    new_tolerations = [canonical(t) for t in as_list(spec.get("tolerations"))]
    tolerations_ok = all(t in new_tolerations for t in old_tolerations)
    old_gates = [canonical(g) for g in as_list(old_spec.get("schedulingGates"))]
    gates_ok = all(canonical(g) in old_gates for g in as_list(spec.get("schedulingGates")))
    mutable = copy.deepcopy(spec)
    for key in ("containers", "initContainers"):
        for c, old_c in zip(as_list(mutable.get(key)), as_list(old_spec.get(key)), strict=False):
            if isinstance(c, dict) and isinstance(old_c, dict):
                c["image"] = old_c.get("image")
    for key in ("activeDeadlineSeconds", "terminationGracePeriodSeconds"):
        mutable.pop(key, None)
    comparable = {
        k: v
        for k, v in old_spec.items()
        if k not in ("activeDeadlineSeconds", "terminationGracePeriodSeconds")
    }
    if tolerations_ok:
        mutable["tolerations"] = old_spec.get("tolerations")
    if gates_ok:
        mutable["schedulingGates"] = old_spec.get("schedulingGates")
    mutable = {k: v for k, v in mutable.items() if v is not None}
    comparable = {k: v for k, v in comparable.items() if v is not None}
    if canonical(mutable) != canonical(comparable):
        out.append(forbidden("spec", UPDATE_MESSAGE))
    return out
