"""Validation as a user sees it: valid objects pass; each broken rule names its field and reason."""

from __future__ import annotations

import copy
import statistics
import time
from decimal import Decimal

import pytest

from cluster.api.defaults import apply_defaults, job_selector_defaults
from cluster.api.models import check_fields, drop_unknown, model_for
from cluster.api.resources import RESOURCES, by_kind
from cluster.api.validation import parse_quantity, validate

POD = by_kind("v1", "Pod")
DEPLOYMENT = by_kind("apps/v1", "Deployment")
REPLICASET = by_kind("apps/v1", "ReplicaSet")
JOB = by_kind("batch/v1", "Job")
CRONJOB = by_kind("batch/v1", "CronJob")
SERVICE = by_kind("v1", "Service")
CONFIGMAP = by_kind("v1", "ConfigMap")
SECRET = by_kind("v1", "Secret")
NAMESPACE = by_kind("v1", "Namespace")
NODE = by_kind("v1", "Node")
LEASE = by_kind("coordination.k8s.io/v1", "Lease")
EVENT = by_kind("v1", "Event")
NEW_EVENT = by_kind("events.k8s.io/v1", "Event")
ENDPOINTS = by_kind("v1", "Endpoints")
SLICE = by_kind("discovery.k8s.io/v1", "EndpointSlice")
ACCOUNT = by_kind("v1", "ServiceAccount")


def meta(name: str = "x", namespace: str | None = "default") -> dict:
    return {"name": name, "namespace": namespace} if namespace else {"name": name}


def pod_spec() -> dict:
    return {
        "containers": [
            {
                "name": "web",
                "image": "nginx:1.27",
                "ports": [{"containerPort": 80, "name": "http"}],
                "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                "resources": {
                    "requests": {"cpu": "100m", "memory": "64Mi"},
                    "limits": {"cpu": "1", "memory": "1Gi"},
                },
                "readinessProbe": {"httpGet": {"port": "http"}},
            }
        ],
        "volumes": [{"name": "data", "emptyDir": {}}],
    }


def template(labels: dict | None = None, restart: str | None = None) -> dict:
    spec = pod_spec()
    if restart:
        spec["restartPolicy"] = restart
    return {"metadata": {"labels": labels or {"app": "web"}}, "spec": spec}


def valid_objects() -> dict[str, tuple]:
    return {
        "pod": (POD, {"metadata": meta("web-0"), "spec": pod_spec()}),
        "deployment": (
            DEPLOYMENT,
            {
                "metadata": meta("web"),
                "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": template()},
            },
        ),
        "replicaset": (
            REPLICASET,
            {
                "metadata": meta("web-1"),
                "spec": {
                    "selector": {"matchExpressions": [{"key": "app", "operator": "In", "values": ["web"]}]},
                    "template": template(),
                },
            },
        ),
        "job": (
            JOB,
            {"metadata": dict(meta("pi"), uid="u-1"), "spec": {"template": template(restart="Never")}},
        ),
        "cronjob": (
            CRONJOB,
            {
                "metadata": meta("nightly"),
                "spec": {
                    "schedule": "*/5 0-6 * jan,feb mon-fri",
                    "jobTemplate": {"spec": {"template": template(restart="OnFailure")}},
                },
            },
        ),
        "service": (
            SERVICE,
            {"metadata": meta("web"), "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}},
        ),
        "headless": (
            SERVICE,
            {"metadata": meta("db"), "spec": {"clusterIP": "None", "selector": {"app": "db"}}},
        ),
        "external": (
            SERVICE,
            {"metadata": meta("ext"), "spec": {"type": "ExternalName", "externalName": "db.example.com"}},
        ),
        "configmap": (CONFIGMAP, {"metadata": meta("conf"), "data": {"app.yaml": "a: 1", "KEY_2": "v"}}),
        "secret": (SECRET, {"metadata": meta("creds"), "data": {"password": "aHVudGVyMg=="}}),
        "tls": (
            SECRET,
            {"metadata": meta("tls"), "type": "kubernetes.io/tls", "data": {"tls.crt": "", "tls.key": ""}},
        ),
        "namespace": (NAMESPACE, {"metadata": meta("team-a", None)}),
        "node": (
            NODE,
            {
                "metadata": meta("worker-1.example", None),
                "spec": {"podCIDR": "10.0.1.0/24", "taints": [{"key": "gpu", "effect": "NoSchedule"}]},
            },
        ),
        "lease": (
            LEASE,
            {"metadata": meta("kube-scheduler"), "spec": {"holderIdentity": "a", "leaseDurationSeconds": 15}},
        ),
        "event": (
            EVENT,
            {
                "metadata": meta("web.17a"),
                "involvedObject": {"kind": "Pod", "namespace": "default"},
                "type": "Normal",
            },
        ),
        "events-event": (
            NEW_EVENT,
            {
                "metadata": meta("web.17b"),
                "eventTime": "2024-01-01T00:00:00.000000Z",
                "reportingController": "kubeq/scheduler",
                "reportingInstance": "scheduler@h1",
                "action": "Binding",
                "reason": "Scheduled",
                "type": "Normal",
            },
        ),
        "endpoints": (
            ENDPOINTS,
            {
                "metadata": meta("web"),
                "subsets": [{"addresses": [{"ip": "10.0.0.5"}], "ports": [{"port": 80}]}],
            },
        ),
        "slice": (
            SLICE,
            {
                "metadata": meta("web-abc"),
                "addressType": "IPv4",
                "endpoints": [{"addresses": ["10.0.0.5"]}],
                "ports": [{"port": 80}],
            },
        ),
        "serviceaccount": (ACCOUNT, {"metadata": meta("builder")}),
    }


def prepared(resource, obj: dict) -> dict:
    obj = copy.deepcopy(obj)
    apply_defaults(resource, obj)
    if resource.kind == "Job":
        job_selector_defaults(obj)
    return obj


def problems(resource, obj: dict, old: dict | None = None) -> list[tuple[str, str]]:
    return [(c.field, c.reason) for c in validate(resource, prepared(resource, obj), old)]


@pytest.mark.parametrize("case", sorted(valid_objects()))
def test_valid_objects_pass(case):
    resource, obj = valid_objects()[case]
    assert validate(resource, prepared(resource, obj)) == []


@pytest.mark.parametrize("case", sorted(valid_objects()))
def test_valid_objects_have_no_unknown_fields(case):
    resource, obj = valid_objects()[case]
    assert check_fields(resource.schema, prepared(resource, obj)) == ([], [])


def _set(obj: dict, path: str, value) -> None:
    keys = path.split(".")
    for key in keys[:-1]:
        obj = obj[int(key)] if key.isdigit() else obj.setdefault(key, {})
    last = keys[-1]
    if value is DELETE:
        del obj[last]
    elif last.isdigit():
        obj[int(last)] = value
    else:
        obj[last] = value


DELETE = object()
C0 = "spec.containers.0"
TC0 = "spec.template.spec.containers.0"

INVALID = [
    # (case, path to change, new value, expected field, expected reason)
    ("pod", "metadata.name", "Foo_", "metadata.name", "FieldValueInvalid"),
    ("pod", "metadata.name", "a" * 254, "metadata.name", "FieldValueInvalid"),
    ("pod", "metadata.name", DELETE, "metadata.name", "FieldValueRequired"),
    ("pod", "metadata.namespace", DELETE, "metadata.namespace", "FieldValueRequired"),
    ("pod", "metadata.labels", {"app": "bad value!"}, "metadata.labels", "FieldValueInvalid"),
    ("pod", "metadata.labels", {"-bad": "x"}, "metadata.labels", "FieldValueInvalid"),
    ("pod", "metadata.annotations", {"big": "x" * (256 * 1024)}, "metadata.annotations", "FieldValueTooLong"),
    ("pod", "spec.containers", [], "spec.containers", "FieldValueRequired"),
    ("pod", f"{C0}.name", "Web", "spec.containers[0].name", "FieldValueInvalid"),
    ("pod", f"{C0}.image", DELETE, "spec.containers[0].image", "FieldValueRequired"),
    (
        "pod",
        f"{C0}.ports.0.containerPort",
        70000,
        "spec.containers[0].ports[0].containerPort",
        "FieldValueInvalid",
    ),
    (
        "pod",
        f"{C0}.ports.0.protocol",
        "HTTP",
        "spec.containers[0].ports[0].protocol",
        "FieldValueNotSupported",
    ),
    (
        "pod",
        f"{C0}.volumeMounts.0.name",
        "nope",
        "spec.containers[0].volumeMounts[0].name",
        "FieldValueNotFound",
    ),
    (
        "pod",
        f"{C0}.resources.requests.cpu",
        "2",
        "spec.containers[0].resources.requests",
        "FieldValueInvalid",
    ),
    (
        "pod",
        f"{C0}.resources.limits.memory",
        "1Gb",
        "spec.containers[0].resources.limits[memory]",
        "FieldValueInvalid",
    ),
    (
        "pod",
        f"{C0}.imagePullPolicy",
        "Sometimes",
        "spec.containers[0].imagePullPolicy",
        "FieldValueNotSupported",
    ),
    ("pod", f"{C0}.readinessProbe", {}, "spec.containers[0].readinessProbe", "FieldValueRequired"),
    (
        "pod",
        f"{C0}.env",
        [{"name": "A=B", "value": "x"}],
        "spec.containers[0].env[0].name",
        "FieldValueInvalid",
    ),
    ("pod", "spec.restartPolicy", "Sometimes", "spec.restartPolicy", "FieldValueNotSupported"),
    ("pod", "spec.dnsPolicy", "Google", "spec.dnsPolicy", "FieldValueNotSupported"),
    ("pod", "spec.volumes.0.name", "Data", "spec.volumes[0].name", "FieldValueInvalid"),
    ("pod", "spec.volumes.0.hostPath", {"path": "/x"}, "spec.volumes[0].hostPath", "FieldValueForbidden"),
    (
        "pod",
        "spec.tolerations",
        [{"key": "a", "operator": "Maybe"}],
        "spec.tolerations[0].operator",
        "FieldValueNotSupported",
    ),
    ("pod", "spec.activeDeadlineSeconds", 0, "spec.activeDeadlineSeconds", "FieldValueInvalid"),
    ("deployment", "spec.selector", DELETE, "spec.selector", "FieldValueRequired"),
    ("deployment", "spec.selector", {}, "spec.selector", "FieldValueInvalid"),
    (
        "deployment",
        "spec.template.metadata.labels",
        {"app": "other"},
        "spec.template.metadata.labels",
        "FieldValueInvalid",
    ),
    ("deployment", "spec.replicas", -1, "spec.replicas", "FieldValueInvalid"),
    ("deployment", "spec.strategy", {"type": "BlueGreen"}, "spec.strategy.type", "FieldValueNotSupported"),
    (
        "deployment",
        "spec.strategy",
        {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": "0%"}},
        "spec.strategy.rollingUpdate.maxUnavailable",
        "FieldValueInvalid",
    ),
    (
        "deployment",
        "spec.strategy",
        {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "half"}},
        "spec.strategy.rollingUpdate.maxSurge",
        "FieldValueInvalid",
    ),
    (
        "deployment",
        "spec.strategy",
        {"type": "Recreate", "rollingUpdate": {}},
        "spec.strategy.rollingUpdate",
        "FieldValueForbidden",
    ),
    (
        "deployment",
        "spec.template.spec.restartPolicy",
        "Never",
        "spec.template.spec.restartPolicy",
        "FieldValueNotSupported",
    ),
    ("deployment", f"{TC0}.name", "", "spec.template.spec.containers[0].name", "FieldValueRequired"),
    (
        "replicaset",
        "spec.selector.matchExpressions.0.operator",
        "Like",
        "spec.selector.matchExpressions[0].operator",
        "FieldValueNotSupported",
    ),
    (
        "job",
        "spec.template.spec.restartPolicy",
        DELETE,
        "spec.template.spec.restartPolicy",
        "FieldValueNotSupported",
    ),
    ("job", "spec.parallelism", -2, "spec.parallelism", "FieldValueInvalid"),
    (
        "job",
        "spec",
        {"completionMode": "Indexed", "parallelism": 2, "template": template(restart="Never")},
        "spec.completions",
        "FieldValueRequired",
    ),
    ("job", "spec.completionMode", "Sometimes", "spec.completionMode", "FieldValueNotSupported"),
    ("cronjob", "spec.schedule", "* * *", "spec.schedule", "FieldValueInvalid"),
    ("cronjob", "spec.schedule", "61 * * * *", "spec.schedule", "FieldValueInvalid"),
    ("cronjob", "spec.schedule", "@fortnightly", "spec.schedule", "FieldValueInvalid"),
    ("cronjob", "spec.schedule", "TZ=UTC 0 * * * *", "spec.schedule", "FieldValueInvalid"),
    ("cronjob", "spec.schedule", DELETE, "spec.schedule", "FieldValueRequired"),
    ("cronjob", "spec.timeZone", "Mars/Olympus", "spec.timeZone", "FieldValueInvalid"),
    ("cronjob", "spec.concurrencyPolicy", "Sometimes", "spec.concurrencyPolicy", "FieldValueNotSupported"),
    ("cronjob", "metadata.name", "n" * 53, "metadata.name", "FieldValueInvalid"),
    (
        "cronjob",
        "spec.jobTemplate.spec.template.spec.restartPolicy",
        "Always",
        "spec.jobTemplate.spec.template.spec.restartPolicy",
        "FieldValueNotSupported",
    ),
    ("service", "metadata.name", "1web", "metadata.name", "FieldValueInvalid"),
    ("service", "spec.ports", [], "spec.ports", "FieldValueRequired"),
    ("service", "spec.ports", [{"port": 80}, {"port": 81}], "spec.ports[0].name", "FieldValueRequired"),
    (
        "service",
        "spec.ports",
        [{"port": 80, "name": "a"}, {"port": 81, "name": "a"}],
        "spec.ports[1].name",
        "FieldValueDuplicate",
    ),
    ("service", "spec.ports", [{"port": 0}], "spec.ports[0].port", "FieldValueInvalid"),
    (
        "service",
        "spec.ports",
        [{"port": 80, "protocol": "ICMP"}],
        "spec.ports[0].protocol",
        "FieldValueNotSupported",
    ),
    (
        "service",
        "spec.ports",
        [{"port": 80, "nodePort": 30001}],
        "spec.ports[0].nodePort",
        "FieldValueForbidden",
    ),
    ("service", "spec.type", "Magic", "spec.type", "FieldValueNotSupported"),
    ("service", "spec.clusterIP", "10.0.0.300", "spec.clusterIP", "FieldValueInvalid"),
    ("service", "spec.sessionAffinity", "Sticky", "spec.sessionAffinity", "FieldValueNotSupported"),
    ("external", "spec.externalName", DELETE, "spec.externalName", "FieldValueRequired"),
    ("configmap", "data", {"bad key": "v"}, "data", "FieldValueInvalid"),
    ("configmap", "data", {"..x": "v"}, "data", "FieldValueInvalid"),
    ("configmap", "data", {"big": "x" * (1024 * 1024 + 1)}, "", "FieldValueTooLong"),
    ("secret", "data", {"pw": "not base64!"}, "data[pw]", "FieldValueInvalid"),
    ("tls", "data", {"tls.crt": ""}, "data[tls.key]", "FieldValueRequired"),
    ("namespace", "metadata.name", "team.a", "metadata.name", "FieldValueInvalid"),
    ("namespace", "metadata.namespace", "default", "metadata.namespace", "FieldValueForbidden"),
    ("node", "spec.taints.0.effect", "Sometimes", "spec.taints[0].effect", "FieldValueNotSupported"),
    ("node", "spec.podCIDR", "10.0.0.0/33", "spec.podCIDRs[0]", "FieldValueInvalid"),
    ("lease", "spec.leaseDurationSeconds", 0, "spec.leaseDurationSeconds", "FieldValueInvalid"),
    ("event", "involvedObject.namespace", "other", "involvedObject.namespace", "FieldValueInvalid"),
    ("events-event", "reportingController", DELETE, "reportingController", "FieldValueRequired"),
    ("events-event", "type", "Fatal", "type", "FieldValueNotSupported"),
    ("endpoints", "subsets.0.addresses.0.ip", "nope", "subsets[0].addresses[0].ip", "FieldValueInvalid"),
    ("slice", "addressType", "IPX", "addressType", "FieldValueNotSupported"),
    ("slice", "endpoints.0.addresses", ["fe80::1"], "endpoints[0].addresses[0]", "FieldValueInvalid"),
    ("serviceaccount", "metadata.name", "Builder", "metadata.name", "FieldValueInvalid"),
]


@pytest.mark.parametrize(("case", "path", "value", "field", "reason"), INVALID)
def test_invalid_objects_name_field_and_reason(case, path, value, field, reason):
    resource, obj = valid_objects()[case]
    _set(obj, path, value)
    found = problems(resource, obj)
    assert (field, reason) in found, found


def test_messages_use_kubernetes_wording():
    pod = {"metadata": meta("Foo_"), "spec": pod_spec()}
    pod["spec"]["containers"][0]["ports"][0]["protocol"] = "HTTP"
    by_field = {c.field: c.message for c in validate(POD, prepared(POD, pod))}
    assert by_field["metadata.name"].startswith(
        'Invalid value: "Foo_": a lowercase RFC 1123 subdomain must consist'
    )
    assert by_field["spec.containers[0].ports[0].protocol"] == (
        'Unsupported value: "HTTP": supported values: "SCTP", "TCP", "UDP"'
    )
    dep = {
        "metadata": meta("web"),
        "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": template({"app": "x"})},
    }
    [cause] = validate(DEPLOYMENT, prepared(DEPLOYMENT, dep))
    assert (
        cause.message
        == 'Invalid value: map[string]string{"app":"x"}: `selector` does not match template `labels`'
    )
    job = {"metadata": meta("pi"), "spec": {"template": template()}}
    [cause] = validate(JOB, prepared(JOB, job))
    assert cause.message == 'Unsupported value: "Always": supported values: "OnFailure", "Never"'


def test_generate_name_stands_in_for_name():
    pod = {"metadata": {"generateName": "web-", "namespace": "default"}, "spec": pod_spec()}
    assert problems(POD, pod) == []
    pod["metadata"]["generateName"] = "Web_"
    assert problems(POD, pod) == [("metadata.generateName", "FieldValueInvalid")]


def test_duplicate_container_names_across_init_containers():
    pod = {"metadata": meta(), "spec": pod_spec()}
    pod["spec"]["initContainers"] = [{"name": "web", "image": "busybox"}]
    assert ("spec.containers[0].name", "FieldValueDuplicate") in problems(POD, pod)


# --- updates ---------------------------------------------------------------------------------


def stored(case: str) -> tuple:
    resource, obj = valid_objects()[case]
    old = prepared(resource, obj)
    old["metadata"]["uid"] = old["metadata"].get("uid") or "uid-1"
    return resource, old, copy.deepcopy(old)


def test_pod_image_activedeadline_and_new_tolerations_may_change():
    resource, old, new = stored("pod")
    new["spec"]["containers"][0]["image"] = "nginx:1.28"
    new["spec"]["activeDeadlineSeconds"] = 100
    new["spec"]["tolerations"] = [{"key": "gpu", "operator": "Exists"}]
    new["metadata"]["labels"] = {"tier": "front"}
    assert validate(resource, new, old) == []


@pytest.mark.parametrize(
    "change",
    [
        lambda s: s["containers"][0].update(name="other"),
        lambda s: s.update(restartPolicy="Never"),
        lambda s: s["containers"][0]["ports"].append({"containerPort": 81, "protocol": "TCP"}),
        lambda s: s.update(nodeName="worker-2"),
    ],
)
def test_other_pod_spec_changes_are_forbidden(change):
    resource, old, new = stored("pod")
    change(new["spec"])
    causes = validate(resource, new, old)
    assert [(c.field, c.reason) for c in causes if c.field == "spec"] == [("spec", "FieldValueForbidden")]
    assert "pod updates may not change fields other than `spec.containers[*].image`" in causes[-1].message


def test_removing_a_toleration_is_forbidden():
    resource, old, new = stored("pod")
    old["spec"]["tolerations"] = [{"key": "gpu", "operator": "Exists"}]
    assert ("spec", "FieldValueForbidden") in [(c.field, c.reason) for c in validate(resource, new, old)]


def test_name_namespace_uid_are_immutable():
    resource, old, new = stored("configmap")
    new["metadata"].update(name="other", uid="uid-2")
    assert [(c.field, c.reason) for c in validate(resource, new, old)] == [
        ("metadata.name", "FieldValueInvalid"),
        ("metadata.uid", "FieldValueInvalid"),
    ]


@pytest.mark.parametrize("case", ["deployment", "replicaset"])
def test_selector_is_immutable(case):
    resource, old, new = stored(case)
    new["spec"]["selector"] = {"matchLabels": {"app": "web", "tier": "x"}}
    new["spec"]["template"]["metadata"]["labels"]["tier"] = "x"
    assert [(c.field, c.reason) for c in validate(resource, new, old)] == [
        ("spec.selector", "FieldValueInvalid")
    ]
    resource, old, new = stored(case)
    new["spec"]["replicas"] = 5
    assert validate(resource, new, old) == []


def test_job_template_is_immutable():
    resource, old, new = stored("job")
    new["spec"]["template"]["spec"]["containers"][0]["image"] = "perl:2"
    assert ("spec.template", "FieldValueInvalid") in [
        (c.field, c.reason) for c in validate(resource, new, old)
    ]
    resource, old, new = stored("job")
    new["spec"]["suspend"] = True
    assert validate(resource, new, old) == []


def test_service_cluster_ip_is_immutable_once_set():
    resource, old, new = stored("service")
    old["spec"]["clusterIP"] = new["spec"]["clusterIP"] = "10.96.0.10"
    assert validate(resource, new, old) == []
    new["spec"]["clusterIP"] = "10.96.0.11"
    assert [(c.field, c.reason) for c in validate(resource, new, old)] == [
        ("spec.clusterIP", "FieldValueInvalid")
    ]


def test_immutable_configmap_and_secret():
    resource, old, new = stored("configmap")
    old["immutable"] = new["immutable"] = True
    new["data"]["KEY_2"] = "changed"
    assert [(c.field, c.reason) for c in validate(resource, new, old)] == [("data", "FieldValueForbidden")]
    resource, old, new = stored("secret")
    old["immutable"] = True
    assert ("immutable", "FieldValueForbidden") in [(c.field, c.reason) for c in validate(resource, new, old)]
    resource, old, new = stored("secret")
    new["type"] = "kubernetes.io/basic-auth"
    new["data"]["username"] = "YQ=="
    assert [(c.field, c.reason) for c in validate(resource, new, old)] == [("type", "FieldValueInvalid")]


# --- quantities ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("100m", Decimal("0.1")),
        ("1", Decimal(1)),
        ("1.5", Decimal("1.5")),
        ("1Ki", Decimal(1024)),
        ("1Gi", Decimal(2**30)),
        ("2G", Decimal(2 * 10**9)),
        ("1e3", Decimal(1000)),
        ("5E-2", Decimal("0.05")),
        ("-1", Decimal(-1)),
        (".5", Decimal("0.5")),
        (2, Decimal(2)),
        (0.25, Decimal("0.25")),
    ],
)
def test_parse_quantity(text, value):
    assert parse_quantity(text) == value


@pytest.mark.parametrize("text", ["", "abc", "1Gb", "1.2.3", "1e", "Gi", ".", "1 Gi", True, None])
def test_parse_quantity_rejects(text):
    with pytest.raises(ValueError):
        parse_quantity(text)


# --- check_fields / drop_unknown -------------------------------------------------------------


def test_check_fields_finds_unknown_fields_with_full_paths():
    _, pod = valid_objects()["pod"]
    pod["spec"]["containers"][0]["imagePullPolicyy"] = "Always"
    pod["spec"]["replica"] = 3
    pod["metadata"]["nam"] = "x"
    unknown, causes = check_fields(POD.schema, pod)
    assert sorted(unknown) == [".metadata.nam", ".spec.containers[0].imagePullPolicyy", ".spec.replica"]
    assert causes == []


def test_check_fields_reports_type_errors_as_causes():
    _, dep = valid_objects()["deployment"]
    dep["spec"]["replicas"] = "3"
    dep["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = 80.5
    dep["spec"]["paused"] = "yes"
    dep["metadata"]["labels"] = {"app": 5}
    del dep["spec"]["template"]["spec"]["containers"][0]["name"]
    unknown, causes = check_fields(DEPLOYMENT.schema, dep)
    assert unknown == []
    got = {(c.field, c.reason) for c in causes}
    assert got == {
        ("spec.replicas", "FieldValueInvalid"),
        ("spec.template.spec.containers[0].ports[0].containerPort", "FieldValueInvalid"),
        ("spec.paused", "FieldValueInvalid"),
        ("metadata.labels[app]", "FieldValueInvalid"),
        ("spec.template.spec.containers[0].name", "FieldValueRequired"),
    }
    replicas = next(c for c in causes if c.field == "spec.replicas")
    assert replicas.message == 'Invalid value: "3": must be of type integer'


def test_check_fields_accepts_int_or_string_quantities_and_nulls():
    _, pod = valid_objects()["pod"]
    c = pod["spec"]["containers"][0]
    c["readinessProbe"] = {"httpGet": {"port": 8080}}
    c["resources"] = {"limits": {"cpu": 2, "memory": "1Gi"}, "requests": {"cpu": 0.5}}
    pod["metadata"]["creationTimestamp"] = None
    pod["status"] = {"startTime": "2024-01-01T00:00:00Z"}
    assert check_fields(POD.schema, pod) == ([], [])
    c["readinessProbe"] = {"httpGet": {"port": 1.5}}
    _, causes = check_fields(POD.schema, pod)
    assert [x.field for x in causes] == ["spec.containers[0].readinessProbe.httpGet.port"]


def test_drop_unknown_removes_only_those_fields():
    _, pod = valid_objects()["pod"]
    pod["spec"]["containers"][0]["imagePullPolicyy"] = "Always"
    pod["spec"]["bogus"] = {"a": 1}
    unknown, _ = check_fields(POD.schema, pod)
    cleaned = drop_unknown(pod, unknown)
    assert check_fields(POD.schema, cleaned) == ([], [])
    assert "imagePullPolicyy" in pod["spec"]["containers"][0]  # the input is untouched
    assert cleaned["spec"]["containers"][0]["image"] == "nginx:1.27"
    assert "bogus" not in cleaned["spec"]


def test_every_served_kind_has_a_model():
    for resource in RESOURCES:
        model = model_for(resource.schema)
        assert "metadata" in {f.alias for f in model.model_fields.values()}


def test_check_fields_is_fast_on_a_typical_pod():
    resource, pod = valid_objects()["pod"]
    pod = prepared(resource, pod)
    check_fields(POD.schema, pod)
    samples = []
    for _ in range(200):
        start = time.perf_counter()
        check_fields(POD.schema, pod)
        samples.append(time.perf_counter() - start)
    median = statistics.median(samples)
    print(f"check_fields(pod) median {median * 1e6:.0f} us")
    assert median < 0.05  # generous: only catches pathological regressions
