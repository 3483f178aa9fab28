"""The official Python client: status and scale subresources beyond Deployments, dry-run and list details."""

from __future__ import annotations

import json
import uuid

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

POD_SPEC = {"containers": [{"name": "c", "image": "busybox"}]}


def _rs(name: str, replicas: int = 1) -> dict:
    return {
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": POD_SPEC},
        },
    }


def test_replicaset_scale_and_status(api_client: client.ApiClient, namespace: str) -> None:
    apps = client.AppsV1Api(api_client)
    apps.create_namespaced_replica_set(namespace, _rs("rs", 2))
    scale = apps.patch_namespaced_replica_set_scale(
        "rs", namespace, {"spec": {"replicas": 5}}, _content_type="application/merge-patch+json"
    )
    assert scale.spec.replicas == 5
    assert scale.status.selector == "app=rs"
    rs = apps.patch_namespaced_replica_set_status("rs", namespace, {"status": {"replicas": 3}})
    assert rs.status.replicas == 3
    assert rs.spec.replicas == 5
    assert apps.read_namespaced_replica_set_scale("rs", namespace).status.replicas == 3


def test_pod_status_is_written_only_through_the_subresource(
    api_client: client.ApiClient, namespace: str
) -> None:
    core = client.CoreV1Api(api_client)
    created = core.create_namespaced_pod(namespace, {"metadata": {"name": "p"}, "spec": POD_SPEC})
    assert created.status.phase == "Pending"
    core.patch_namespaced_pod("p", namespace, {"status": {"phase": "Running"}})
    assert core.read_namespaced_pod("p", namespace).status.phase == "Pending"

    pod = core.read_namespaced_pod("p", namespace)
    pod.status.phase = "Running"
    pod.status.pod_ip = "10.1.2.3"
    pod.spec.containers[0].image = "ignored"
    updated = core.replace_namespaced_pod_status("p", namespace, pod)
    assert updated.status.phase == "Running"
    assert updated.spec.containers[0].image == "busybox"
    assert [
        p.metadata.name
        for p in core.list_namespaced_pod(namespace, field_selector="status.phase=Running").items
    ] == ["p"]


def test_job_and_cronjob_status(api_client: client.ApiClient, namespace: str) -> None:
    batch = client.BatchV1Api(api_client)
    spec = dict(POD_SPEC, restartPolicy="Never")
    batch.create_namespaced_job(namespace, {"metadata": {"name": "j"}, "spec": {"template": {"spec": spec}}})
    job = batch.patch_namespaced_job_status("j", namespace, {"status": {"active": 1}})
    assert job.status.active == 1
    assert job.spec.completions == 1 and job.spec.backoff_limit == 6

    cron = {
        "metadata": {"name": "cj"},
        "spec": {"schedule": "0 * * * *", "jobTemplate": {"spec": {"template": {"spec": spec}}}},
    }
    batch.create_namespaced_cron_job(namespace, cron)
    out = batch.patch_namespaced_cron_job_status(
        "cj", namespace, {"status": {"lastScheduleTime": "2024-01-01T00:00:00Z"}}
    )
    assert out.status.last_schedule_time.year == 2024
    assert out.spec.suspend is False and out.spec.concurrency_policy == "Allow"


def test_node_status(api_client: client.ApiClient) -> None:
    core = client.CoreV1Api(api_client)
    name = f"node-{uuid.uuid4().hex[:6]}"
    core.create_node({"metadata": {"name": name}})
    try:
        ready = {"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "ok"}
        node = core.patch_node_status(name, {"status": {"conditions": [ready], "capacity": {"cpu": "4"}}})
        assert [c.type for c in node.status.conditions] == ["Ready"]
        assert node.status.capacity == {"cpu": "4"}
        unschedulable = core.patch_node(name, {"spec": {"unschedulable": True}})
        assert unschedulable.spec.unschedulable is True
        listed = core.list_node(field_selector="spec.unschedulable=true")
        assert name in [n.metadata.name for n in listed.items]
    finally:
        core.delete_node(name)


def test_dry_run_update_and_delete_collection(api_client: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(api_client)
    cm = core.create_namespaced_config_map(namespace, {"metadata": {"name": "d"}, "data": {"k": "1"}})
    cm.data = {"k": "2"}
    shown = core.replace_namespaced_config_map("d", namespace, cm, dry_run="All")
    assert shown.data == {"k": "2"}
    core.delete_collection_namespaced_config_map(namespace, dry_run="All")
    kept = core.read_namespaced_config_map("d", namespace)
    assert kept.data == {"k": "1"}
    assert kept.metadata.resource_version == cm.metadata.resource_version

    with pytest.raises(ApiException) as err:
        core.create_namespaced_config_map(namespace, {"metadata": {"name": "Bad"}}, dry_run="All")
    assert err.value.status == 422


def test_paging_with_a_label_selector(api_client: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(api_client)
    for i in range(9):
        labels = {"even": "yes"} if i % 2 == 0 else {}
        core.create_namespaced_config_map(namespace, {"metadata": {"name": f"c{i}", "labels": labels}})
    names, token = [], None
    while True:
        page = core.list_namespaced_config_map(namespace, label_selector="even=yes", limit=2, _continue=token)
        names += [i.metadata.name for i in page.items]
        token = page.metadata._continue
        if not token:
            break
    assert names == ["c0", "c2", "c4", "c6", "c8"]


def test_generate_name(api_client: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(api_client)
    a = core.create_namespaced_pod(namespace, {"metadata": {"generateName": "web-"}, "spec": POD_SPEC})
    b = core.create_namespaced_pod(namespace, {"metadata": {"generateName": "web-"}, "spec": POD_SPEC})
    assert a.metadata.name.startswith("web-") and len(a.metadata.name) == len("web-") + 5
    assert a.metadata.name != b.metadata.name
    assert a.metadata.generate_name == "web-"
    assert core.read_namespaced_pod(a.metadata.name, namespace).metadata.uid == a.metadata.uid


def test_invalid_objects_are_422_with_causes(api_client: client.ApiClient, namespace: str) -> None:
    apps = client.AppsV1Api(api_client)
    bad = _rs("bad", replicas=-1)
    bad["spec"]["template"]["metadata"]["labels"] = {"app": "other"}
    with pytest.raises(ApiException) as err:
        apps.create_namespaced_deployment(namespace, bad)
    assert err.value.status == 422
    status = json.loads(err.value.body)
    assert status["message"].startswith('Deployment.apps "bad" is invalid')
    fields = {c["field"] for c in status["details"]["causes"]}
    assert {"spec.replicas", "spec.template.metadata.labels"} <= fields

    core = client.CoreV1Api(api_client)
    core.create_namespaced_pod(
        namespace, {"metadata": {"name": "bound"}, "spec": dict(POD_SPEC, nodeName="n1")}
    )
    with pytest.raises(ApiException) as err:
        core.patch_namespaced_pod("bound", namespace, {"spec": {"nodeName": "n2"}})
    assert err.value.status == 422


def test_namespace_finalize_completes_deletion(api_client: client.ApiClient) -> None:
    core = client.CoreV1Api(api_client)
    name = f"fin-{uuid.uuid4().hex[:6]}"
    created = core.create_namespace({"metadata": {"name": name}})
    assert created.spec.finalizers == ["kubernetes"]
    assert created.metadata.labels["kubernetes.io/metadata.name"] == name
    core.delete_namespace(name)
    ns = core.read_namespace(name)
    assert ns.status.phase == "Terminating"
    ns.spec.finalizers = []
    core.replace_namespace_finalize(name, ns)
    with pytest.raises(ApiException) as err:
        core.read_namespace(name)
    assert err.value.status == 404


def test_concurrent_replaces_with_one_resource_version_have_one_winner(
    api_client: client.ApiClient, namespace: str
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    core = client.CoreV1Api(api_client)
    cm = core.create_namespaced_config_map(namespace, {"metadata": {"name": "race"}, "data": {"w": ""}})
    rv = cm.metadata.resource_version

    def attempt(i: int) -> int:
        body = {"metadata": {"name": "race", "resourceVersion": rv}, "data": {"w": str(i)}}
        try:
            core.replace_namespaced_config_map("race", namespace, body)
        except ApiException as exc:
            return exc.status
        return 200

    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(attempt, range(8)))
    assert sorted(codes) == [200] + [409] * 7
    winner = codes.index(200)
    assert core.read_namespaced_config_map("race", namespace).data == {"w": str(winner)}
