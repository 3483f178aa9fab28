"""Kubernetes' defaults for each kind, applied in place before validation.

``apply_defaults`` fills only fields that are absent (or null); it never overwrites a value the
user gave. Pod-spec defaults apply wherever a pod spec appears (pods and the templates of
Deployments, ReplicaSets, Jobs and CronJobs). ``job_selector_defaults`` adds a Job's generated
selector and labels once its ``metadata.uid`` is known.
"""

from __future__ import annotations

import base64
from decimal import Decimal
from typing import Any

from cluster.api.resources import Resource
from cluster.api.validation.quantity import parse_quantity

_PROBE_DEFAULTS = {"timeoutSeconds": 1, "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3}
_VOLUME_MODES = ("secret", "configMap", "projected", "downwardAPI")


def _set(obj: dict, key: str, value: Any) -> Any:
    """``obj[key]`` if already given (not None), else set it to ``value``; returns the result."""
    if obj.get(key) is None:
        obj[key] = value
    return obj[key]


def _child(obj: dict, key: str) -> dict:
    """``obj[key]`` as a dict, created when absent; a non-dict value is left alone (validation reports it)."""
    value = _set(obj, key, {})
    return value if isinstance(value, dict) else {}


def _dicts(value: Any) -> list[dict]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def image_pull_policy(image: str) -> str:
    """``Always`` for a ``:latest`` or untagged image (digests count as tags), else ``IfNotPresent``."""
    if "@" in image:
        return "IfNotPresent"
    last = image.rsplit("/", 1)[-1]
    if ":" not in last:
        return "Always"
    return "Always" if last.rsplit(":", 1)[1] == "latest" else "IfNotPresent"


def _probe(probe: Any) -> None:
    if not isinstance(probe, dict):
        return
    for key, value in _PROBE_DEFAULTS.items():
        _set(probe, key, value)
    http = probe.get("httpGet")
    if isinstance(http, dict):
        _set(http, "path", "/")
        _set(http, "scheme", "HTTP")


def _container(c: dict, host_network: bool) -> None:
    if isinstance(c.get("image"), str):
        _set(c, "imagePullPolicy", image_pull_policy(c["image"]))
    _set(c, "terminationMessagePath", "/dev/termination-log")
    _set(c, "terminationMessagePolicy", "File")
    resources = _child(c, "resources")
    limits, requests = resources.get("limits"), resources.get("requests")
    if isinstance(limits, dict) and limits:
        requests = _child(resources, "requests")
        for name, quantity in limits.items():
            requests.setdefault(name, quantity)
    for port in _dicts(c.get("ports")):
        _set(port, "protocol", "TCP")
        if host_network and port.get("containerPort") is not None:
            _set(port, "hostPort", port["containerPort"])
    for key in ("livenessProbe", "readinessProbe", "startupProbe"):
        _probe(c.get(key))
    for var in _dicts(c.get("env")):
        field_ref = (
            var.get("valueFrom", {}).get("fieldRef") if isinstance(var.get("valueFrom"), dict) else None
        )
        if isinstance(field_ref, dict):
            _set(field_ref, "apiVersion", "v1")


def pod_spec_defaults(spec: dict) -> None:
    """Defaults of a PodSpec (in place): policies, grace period, containers, probes, volumes."""
    _set(spec, "restartPolicy", "Always")
    _set(spec, "dnsPolicy", "ClusterFirst")
    _set(spec, "schedulerName", "default-scheduler")
    _set(spec, "terminationGracePeriodSeconds", 30)
    _set(spec, "securityContext", {})
    _set(spec, "enableServiceLinks", True)
    _set(spec, "preemptionPolicy", "PreemptLowerPriority")
    _set(spec, "priority", 0)
    account = spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
    spec["serviceAccountName"] = account
    spec["serviceAccount"] = account
    host_network = bool(spec.get("hostNetwork"))
    for key in ("initContainers", "containers", "ephemeralContainers"):
        for c in _dicts(spec.get(key)):
            _container(c, host_network)
    for volume in _dicts(spec.get("volumes")):
        if not any(v is not None for k, v in volume.items() if k != "name"):
            volume["emptyDir"] = {}
        for kind in _VOLUME_MODES:
            source = volume.get(kind)
            if isinstance(source, dict):
                _set(source, "defaultMode", 420)


def _template(holder: dict) -> None:
    """Pod-spec defaults inside ``holder["template"]`` (a PodTemplateSpec)."""
    template = holder.get("template")
    if isinstance(template, dict) and isinstance(template.get("spec"), dict):
        pod_spec_defaults(template["spec"])


def _resources_of(spec: dict) -> list[dict]:
    out = []
    for key in ("initContainers", "containers"):
        for c in _dicts(spec.get(key)):
            resources = c.get("resources")
            out.append(resources if isinstance(resources, dict) else {})
    return out


def _amounts(section: Any) -> dict[str, Decimal]:
    out: dict[str, Decimal] = {}
    for name in ("cpu", "memory"):
        if isinstance(section, dict) and section.get(name) is not None:
            try:
                out[name] = parse_quantity(section[name])
            except ValueError:
                continue
    return out


def qos_class(spec: dict) -> str:
    """``Guaranteed``, ``Burstable`` or ``BestEffort`` from the containers' cpu/memory requests and limits."""
    guaranteed = True
    anything = False
    for resources in _resources_of(spec):
        requests, limits = _amounts(resources.get("requests")), _amounts(resources.get("limits"))
        if any(v != 0 for v in requests.values()) or any(v != 0 for v in limits.values()):
            anything = True
        if set(limits) != {"cpu", "memory"} or any(requests.get(k, limits[k]) != limits[k] for k in limits):
            guaranteed = False
    if not anything:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


def _pod(obj: dict) -> None:
    spec = _child(obj, "spec")
    pod_spec_defaults(spec)
    status = _child(obj, "status")
    _set(status, "phase", "Pending")
    _set(status, "qosClass", qos_class(spec))


def _deployment(obj: dict) -> None:
    spec = _child(obj, "spec")
    _set(spec, "replicas", 1)
    strategy = _child(spec, "strategy")
    if _set(strategy, "type", "RollingUpdate") == "RollingUpdate":
        rolling = _child(strategy, "rollingUpdate")
        _set(rolling, "maxUnavailable", "25%")
        _set(rolling, "maxSurge", "25%")
    _set(spec, "revisionHistoryLimit", 10)
    _set(spec, "progressDeadlineSeconds", 600)
    _template(spec)


def _replicaset(obj: dict) -> None:
    spec = _child(obj, "spec")
    _set(spec, "replicas", 1)
    _template(spec)


def _job(obj: dict) -> None:
    spec = _child(obj, "spec")
    if spec.get("completions") is None and spec.get("parallelism") is None:
        spec["completions"] = 1
    _set(spec, "parallelism", 1)
    _set(spec, "backoffLimit", 2**31 - 1 if spec.get("backoffLimitPerIndex") is not None else 6)
    _set(spec, "completionMode", "NonIndexed")
    _set(spec, "suspend", False)
    _set(spec, "podReplacementPolicy", "Failed" if spec.get("podFailurePolicy") else "TerminatingOrFailed")
    _template(spec)


def _cronjob(obj: dict) -> None:
    spec = _child(obj, "spec")
    _set(spec, "concurrencyPolicy", "Allow")
    _set(spec, "suspend", False)
    _set(spec, "successfulJobsHistoryLimit", 3)
    _set(spec, "failedJobsHistoryLimit", 1)
    job_template = spec.get("jobTemplate")
    if isinstance(job_template, dict) and isinstance(job_template.get("spec"), dict):
        _template(job_template["spec"])


def _service(obj: dict) -> None:
    spec = _child(obj, "spec")
    kind = _set(spec, "type", "ClusterIP")
    _set(spec, "sessionAffinity", "None")
    for port in _dicts(spec.get("ports")):
        _set(port, "protocol", "TCP")
        if port.get("targetPort") is None and port.get("port") is not None:
            port["targetPort"] = port["port"]
    cluster_ip, cluster_ips = spec.get("clusterIP"), spec.get("clusterIPs")
    if cluster_ip and not cluster_ips:  # clusterIPs mirrors clusterIP, both ways
        spec["clusterIPs"] = [cluster_ip]
    elif not cluster_ip and isinstance(cluster_ips, list) and cluster_ips:
        spec["clusterIP"] = cluster_ips[0]
    if kind != "ExternalName":
        _set(spec, "ipFamilyPolicy", "SingleStack")
        _set(spec, "ipFamilies", ["IPv4"])
        _set(spec, "internalTrafficPolicy", "Cluster")
    if kind in ("NodePort", "LoadBalancer"):
        _set(spec, "externalTrafficPolicy", "Cluster")
    if kind == "LoadBalancer":
        _set(spec, "allocateLoadBalancerNodePorts", True)


def _secret(obj: dict) -> None:
    """Type Opaque; ``stringData`` is folded into ``data`` (base64) and removed, as Kubernetes does."""
    _set(obj, "type", "Opaque")
    string_data = obj.pop("stringData", None)
    if isinstance(string_data, dict) and string_data:
        data = _child(obj, "data")
        for key, value in string_data.items():
            data[key] = base64.b64encode(str(value).encode()).decode()


def _namespace(obj: dict) -> None:
    _set(_child(obj, "status"), "phase", "Active")
    _set(_child(obj, "spec"), "finalizers", ["kubernetes"])
    name = _child(obj, "metadata").get("name")
    if isinstance(name, str) and name:  # always holds the name, as in Kubernetes 1.22+
        _child(_child(obj, "metadata"), "labels")["kubernetes.io/metadata.name"] = name


def _endpoints(obj: dict) -> None:
    for subset in _dicts(obj.get("subsets")):
        for port in _dicts(subset.get("ports")):
            _set(port, "protocol", "TCP")


def _endpoint_slice(obj: dict) -> None:
    for port in _dicts(obj.get("ports")):
        _set(port, "protocol", "TCP")
        _set(port, "name", "")


_DEFAULTERS = {
    ("", "Pod"): _pod,
    ("apps", "Deployment"): _deployment,
    ("apps", "ReplicaSet"): _replicaset,
    ("batch", "Job"): _job,
    ("batch", "CronJob"): _cronjob,
    ("", "Service"): _service,
    ("", "Secret"): _secret,
    ("", "Namespace"): _namespace,
    ("", "Endpoints"): _endpoints,
    ("discovery.k8s.io", "EndpointSlice"): _endpoint_slice,
}


def apply_defaults(resource: Resource, obj: dict) -> None:
    """Fill Kubernetes' defaults for ``resource`` into ``obj`` in place (kinds without defaults: no-op)."""
    defaulter = _DEFAULTERS.get((resource.group, resource.kind))
    if defaulter is not None:
        defaulter(obj)


JOB_UID_LABELS = ("batch.kubernetes.io/controller-uid", "controller-uid")
JOB_NAME_LABELS = ("batch.kubernetes.io/job-name", "job-name")


def job_selector_defaults(obj: dict) -> None:
    """A Job without ``spec.manualSelector``: set its selector and template labels from uid and name.

    The selector is ``{"matchLabels": {"batch.kubernetes.io/controller-uid": <uid>}}``; the template
    gets both uid labels and both job-name labels. Requires ``metadata.uid``; a no-op without it.
    """
    meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    uid, name = meta.get("uid"), meta.get("name")
    spec = _child(obj, "spec")
    if not uid or spec.get("manualSelector"):
        return
    template = _child(spec, "template")
    labels = _child(_child(template, "metadata"), "labels")
    for key in JOB_UID_LABELS:
        labels.setdefault(key, uid)
    if name:
        for key in JOB_NAME_LABELS:
            labels.setdefault(key, name)
    if not spec.get("selector"):
        spec["selector"] = {"matchLabels": {JOB_UID_LABELS[0]: uid}}
