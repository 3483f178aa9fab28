"""Defaults a user sees on objects they create: Kubernetes' values, never overriding theirs."""

from __future__ import annotations

import base64

import pytest

from cluster.api.defaults import apply_defaults, image_pull_policy, job_selector_defaults, qos_class
from cluster.api.resources import by_kind

POD = by_kind("v1", "Pod")
DEPLOYMENT = by_kind("apps/v1", "Deployment")
REPLICASET = by_kind("apps/v1", "ReplicaSet")
JOB = by_kind("batch/v1", "Job")
CRONJOB = by_kind("batch/v1", "CronJob")
SERVICE = by_kind("v1", "Service")
SECRET = by_kind("v1", "Secret")
NAMESPACE = by_kind("v1", "Namespace")
CONFIGMAP = by_kind("v1", "ConfigMap")


def pod_spec(**container) -> dict:
    return {"containers": [{"name": "c", "image": "nginx", **container}]}


def defaulted(resource, obj: dict) -> dict:
    apply_defaults(resource, obj)
    return obj


def test_minimal_pod_gets_kubernetes_defaults():
    pod = defaulted(POD, {"metadata": {"name": "p"}, "spec": pod_spec()})
    spec = pod["spec"]
    assert spec["restartPolicy"] == "Always"
    assert spec["dnsPolicy"] == "ClusterFirst"
    assert spec["schedulerName"] == "default-scheduler"
    assert spec["terminationGracePeriodSeconds"] == 30
    assert spec["securityContext"] == {}
    assert spec["enableServiceLinks"] is True
    assert spec["preemptionPolicy"] == "PreemptLowerPriority"
    assert spec["priority"] == 0
    assert spec["serviceAccountName"] == "default"
    c = spec["containers"][0]
    assert c["imagePullPolicy"] == "Always"
    assert c["terminationMessagePath"] == "/dev/termination-log"
    assert c["terminationMessagePolicy"] == "File"
    assert c["resources"] == {}
    assert pod["status"] == {"phase": "Pending", "qosClass": "BestEffort"}


def test_user_values_are_kept():
    spec = pod_spec(imagePullPolicy="Never")
    spec.update(restartPolicy="Never", terminationGracePeriodSeconds=0, serviceAccountName="builder")
    pod = defaulted(POD, {"spec": spec})
    assert pod["spec"]["restartPolicy"] == "Never"
    assert pod["spec"]["terminationGracePeriodSeconds"] == 0
    assert pod["spec"]["serviceAccountName"] == "builder"
    assert pod["spec"]["containers"][0]["imagePullPolicy"] == "Never"


@pytest.mark.parametrize(
    ("image", "policy"),
    [
        ("nginx", "Always"),
        ("nginx:latest", "Always"),
        ("nginx:1.27", "IfNotPresent"),
        ("registry.local:5000/team/app", "Always"),
        ("registry.local:5000/team/app:v2", "IfNotPresent"),
        ("nginx@sha256:" + "a" * 64, "IfNotPresent"),
    ],
)
def test_image_pull_policy_follows_the_tag(image, policy):
    assert image_pull_policy(image) == policy
    pod = defaulted(POD, {"spec": {"containers": [{"name": "c", "image": image}]}})
    assert pod["spec"]["containers"][0]["imagePullPolicy"] == policy


def test_ports_probes_volumes_and_init_containers():
    spec = pod_spec(
        ports=[{"containerPort": 80}],
        livenessProbe={"httpGet": {"port": 80}},
        readinessProbe={"tcpSocket": {"port": 80}, "periodSeconds": 3},
    )
    spec["initContainers"] = [{"name": "init", "image": "busybox:1.36"}]
    spec["volumes"] = [{"name": "scratch"}, {"name": "conf", "configMap": {"name": "cm"}}]
    pod = defaulted(POD, {"spec": spec})
    c = pod["spec"]["containers"][0]
    assert c["ports"] == [{"containerPort": 80, "protocol": "TCP"}]
    assert c["livenessProbe"] == {
        "httpGet": {"port": 80, "path": "/", "scheme": "HTTP"},
        "timeoutSeconds": 1,
        "periodSeconds": 10,
        "successThreshold": 1,
        "failureThreshold": 3,
    }
    assert c["readinessProbe"]["periodSeconds"] == 3
    assert pod["spec"]["initContainers"][0]["imagePullPolicy"] == "IfNotPresent"
    assert pod["spec"]["volumes"][0] == {"name": "scratch", "emptyDir": {}}
    assert pod["spec"]["volumes"][1]["configMap"] == {"name": "cm", "defaultMode": 420}


@pytest.mark.parametrize(
    ("resources", "qos"),
    [
        ({}, "BestEffort"),
        ({"limits": {"cpu": "500m", "memory": "128Mi"}}, "Guaranteed"),
        (
            {"requests": {"cpu": "0.5", "memory": "128Mi"}, "limits": {"cpu": "500m", "memory": "128Mi"}},
            "Guaranteed",
        ),
        ({"requests": {"cpu": "100m"}}, "Burstable"),
        (
            {"requests": {"cpu": "100m", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "1Gi"}},
            "Burstable",
        ),
    ],
)
def test_qos_class(resources, qos):
    pod = defaulted(POD, {"spec": pod_spec(resources=resources)})
    assert pod["status"]["qosClass"] == qos
    assert qos_class(pod["spec"]) == qos


def test_limits_become_requests_when_missing():
    pod = defaulted(
        POD, {"spec": pod_spec(resources={"limits": {"cpu": "1"}, "requests": {"memory": "1Mi"}})}
    )
    assert pod["spec"]["containers"][0]["resources"]["requests"] == {"memory": "1Mi", "cpu": "1"}


def test_host_network_copies_container_port_to_host_port():
    spec = pod_spec(ports=[{"containerPort": 8080}])
    spec["hostNetwork"] = True
    pod = defaulted(POD, {"spec": spec})
    assert pod["spec"]["containers"][0]["ports"][0]["hostPort"] == 8080


def test_deployment_defaults_include_the_template_pod_defaults():
    dep = defaulted(DEPLOYMENT, {"spec": {"template": {"spec": pod_spec(image="nginx:1.27")}}})
    spec = dep["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"},
    }
    assert spec["revisionHistoryLimit"] == 10
    assert spec["progressDeadlineSeconds"] == 600
    assert spec["template"]["spec"]["restartPolicy"] == "Always"
    assert spec["template"]["spec"]["containers"][0]["imagePullPolicy"] == "IfNotPresent"
    assert "status" not in dep


def test_recreate_strategy_gets_no_rolling_update():
    dep = defaulted(DEPLOYMENT, {"spec": {"replicas": 0, "strategy": {"type": "Recreate"}}})
    assert dep["spec"]["strategy"] == {"type": "Recreate"}
    assert dep["spec"]["replicas"] == 0


def test_replicaset_defaults():
    rs = defaulted(REPLICASET, {"spec": {"template": {"spec": pod_spec()}}})
    assert rs["spec"]["replicas"] == 1
    assert rs["spec"]["template"]["spec"]["dnsPolicy"] == "ClusterFirst"


def test_job_defaults_and_generated_selector():
    job = {"metadata": {"name": "pi", "uid": "1234"}, "spec": {"template": {"spec": pod_spec()}}}
    apply_defaults(JOB, job)
    spec = job["spec"]
    assert (spec["completions"], spec["parallelism"], spec["backoffLimit"]) == (1, 1, 6)
    assert spec["completionMode"] == "NonIndexed"
    assert spec["suspend"] is False
    assert spec["podReplacementPolicy"] == "TerminatingOrFailed"
    job_selector_defaults(job)
    assert spec["selector"] == {"matchLabels": {"batch.kubernetes.io/controller-uid": "1234"}}
    assert spec["template"]["metadata"]["labels"] == {
        "batch.kubernetes.io/controller-uid": "1234",
        "controller-uid": "1234",
        "batch.kubernetes.io/job-name": "pi",
        "job-name": "pi",
    }


def test_work_queue_job_keeps_completions_unset():
    job = defaulted(JOB, {"spec": {"parallelism": 3, "template": {"spec": pod_spec()}}})
    assert job["spec"]["parallelism"] == 3
    assert "completions" not in job["spec"]


def test_manual_selector_job_is_left_alone():
    job = {
        "metadata": {"name": "j", "uid": "u"},
        "spec": {"manualSelector": True, "selector": {"matchLabels": {"a": "b"}}},
    }
    job_selector_defaults(job)
    assert job["spec"] == {"manualSelector": True, "selector": {"matchLabels": {"a": "b"}}}


def test_cronjob_defaults():
    cj = defaulted(
        CRONJOB,
        {"spec": {"schedule": "@hourly", "jobTemplate": {"spec": {"template": {"spec": pod_spec()}}}}},
    )
    spec = cj["spec"]
    assert spec["concurrencyPolicy"] == "Allow"
    assert spec["suspend"] is False
    assert (spec["successfulJobsHistoryLimit"], spec["failedJobsHistoryLimit"]) == (3, 1)
    assert spec["jobTemplate"]["spec"]["template"]["spec"]["schedulerName"] == "default-scheduler"


def test_service_defaults():
    svc = defaulted(SERVICE, {"spec": {"ports": [{"port": 80}, {"port": 443, "targetPort": "https"}]}})
    spec = svc["spec"]
    assert spec["type"] == "ClusterIP"
    assert spec["sessionAffinity"] == "None"
    assert spec["ports"] == [
        {"port": 80, "protocol": "TCP", "targetPort": 80},
        {"port": 443, "targetPort": "https", "protocol": "TCP"},
    ]
    assert spec["ipFamilyPolicy"] == "SingleStack"
    assert spec["ipFamilies"] == ["IPv4"]
    assert spec["internalTrafficPolicy"] == "Cluster"


def test_external_name_service_has_no_ip_families():
    svc = defaulted(SERVICE, {"spec": {"type": "ExternalName", "externalName": "db.example.com"}})
    assert "ipFamilies" not in svc["spec"]


def test_secret_defaults_and_string_data():
    secret = defaulted(SECRET, {"stringData": {"user": "admin"}, "data": {"pw": "eA=="}})
    assert secret["type"] == "Opaque"
    assert "stringData" not in secret
    assert base64.b64decode(secret["data"]["user"]) == b"admin"
    assert secret["data"]["pw"] == "eA=="


def test_namespace_defaults():
    ns = defaulted(NAMESPACE, {"metadata": {"name": "team"}})
    assert ns["status"] == {"phase": "Active"}
    assert ns["spec"] == {"finalizers": ["kubernetes"]}


def test_kinds_without_defaults_are_unchanged():
    cm = {"metadata": {"name": "c"}, "data": {"a": "b"}}
    assert defaulted(CONFIGMAP, dict(cm)) == cm
