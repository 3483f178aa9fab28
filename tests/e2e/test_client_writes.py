"""The official Python client: conflicts, every patch type, status/scale subresources, binding, eviction."""

from __future__ import annotations

import json

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

CONTAINERS = [
    {"name": "app", "image": "busybox", "env": [{"name": "A", "value": "1"}]},
    {"name": "side", "image": "busybox"},
]


def _deployment(name: str, replicas: int = 2) -> dict:
    return {
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": CONTAINERS}},
        },
    }


def _status(exc: ApiException) -> dict:
    return json.loads(exc.body)


def test_replace_with_stale_resource_version_is_conflict(
    api_client: client.ApiClient, namespace: str
) -> None:
    core = client.CoreV1Api(api_client)
    first = core.create_namespaced_config_map(namespace, {"metadata": {"name": "cm"}, "data": {"v": "1"}})
    current = core.read_namespaced_config_map("cm", namespace)
    current.data = {"v": "2"}
    core.replace_namespaced_config_map("cm", namespace, current)

    first.data = {"v": "stale"}
    with pytest.raises(ApiException) as err:
        core.replace_namespaced_config_map("cm", namespace, first)
    assert err.value.status == 409
    status = _status(err.value)
    assert status["reason"] == "Conflict"
    assert 'Operation cannot be fulfilled on configmaps "cm"' in status["message"]
    assert core.read_namespaced_config_map("cm", namespace).data == {"v": "2"}


def test_strategic_merge_patch_merges_containers_by_name(
    api_client: client.ApiClient, namespace: str
) -> None:
    apps = client.AppsV1Api(api_client)
    apps.create_namespaced_deployment(namespace, _deployment("web"))
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [{"name": "app", "image": "nginx", "env": [{"name": "B", "value": "2"}]}]
                }
            }
        }
    }
    out = apps.patch_namespaced_deployment("web", namespace, patch)
    containers = out.spec.template.spec.containers
    assert [c.name for c in containers] == ["app", "side"]
    assert containers[0].image == "nginx"
    assert sorted(e.name for e in containers[0].env) == ["A", "B"]
    assert out.metadata.generation == 2


def test_json_patch_from_a_list_body(api_client: client.ApiClient, namespace: str) -> None:
    apps = client.AppsV1Api(api_client)
    apps.create_namespaced_deployment(namespace, _deployment("web"))
    ops = [
        {"op": "replace", "path": "/spec/replicas", "value": 5},
        {"op": "remove", "path": "/spec/template/spec/containers/1"},
        {"op": "add", "path": "/metadata/labels/extra", "value": "yes"},
    ]
    out = apps.patch_namespaced_deployment("web", namespace, ops)
    assert out.spec.replicas == 5
    assert [c.name for c in out.spec.template.spec.containers] == ["app"]
    assert out.metadata.labels == {"app": "web", "extra": "yes"}

    with pytest.raises(ApiException) as err:  # a failing test op changes nothing
        apps.patch_namespaced_deployment(
            "web", namespace, [{"op": "test", "path": "/spec/replicas", "value": 9}, ops[0]]
        )
    assert err.value.status in (409, 422)


def test_merge_patch_replaces_lists(api_client: client.ApiClient, namespace: str) -> None:
    apps = client.AppsV1Api(api_client)
    apps.create_namespaced_deployment(namespace, _deployment("web"))
    patch = {
        "metadata": {"labels": {"app": None, "new": "1"}},
        "spec": {"template": {"spec": {"containers": [{"name": "only", "image": "nginx"}]}}},
    }
    out = apps.patch_namespaced_deployment(
        "web", namespace, patch, _content_type="application/merge-patch+json"
    )
    assert out.metadata.labels == {"new": "1"}
    assert [c.name for c in out.spec.template.spec.containers] == ["only"]


def test_server_side_apply_creates_updates_and_tracks_managers(
    api_client: client.ApiClient, namespace: str
) -> None:
    core = client.CoreV1Api(api_client)
    apply = "application/apply-patch+yaml"
    body = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "ssa"},
        "data": {"a": "1", "b": "2"},
    }
    created = core.patch_namespaced_config_map(
        "ssa", namespace, body, field_manager="tool-one", _content_type=apply
    )
    assert created.data == {"a": "1", "b": "2"}
    assert "tool-one" in [m.manager for m in created.metadata.managed_fields]

    body["data"] = {"a": "1"}  # tool-one stops owning b: it is removed
    updated = core.patch_namespaced_config_map(
        "ssa", namespace, body, field_manager="tool-one", _content_type=apply
    )
    assert updated.data == {"a": "1"}

    other = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ssa"}, "data": {"a": "changed"}}
    with pytest.raises(ApiException) as err:
        core.patch_namespaced_config_map(
            "ssa", namespace, other, field_manager="tool-two", _content_type=apply
        )
    assert err.value.status == 409
    forced = core.patch_namespaced_config_map(
        "ssa", namespace, other, field_manager="tool-two", force=True, _content_type=apply
    )
    assert forced.data == {"a": "changed"}


def test_status_subresource_splits_spec_and_status(api_client: client.ApiClient, namespace: str) -> None:
    apps = client.AppsV1Api(api_client)
    created = apps.create_namespaced_deployment(namespace, _deployment("web"))
    assert created.metadata.generation == 1

    current = apps.read_namespaced_deployment("web", namespace)
    current.status = client.V1DeploymentStatus(replicas=2, ready_replicas=1, observed_generation=1)
    current.spec.replicas = 7  # ignored by the status endpoint
    after_status = apps.replace_namespaced_deployment_status("web", namespace, current)
    assert after_status.status.ready_replicas == 1
    assert after_status.spec.replicas == 2
    assert after_status.metadata.generation == 1

    after_status.status.ready_replicas = 99  # ignored by the main endpoint
    after_status.metadata.labels["touched"] = "yes"
    relabeled = apps.replace_namespaced_deployment("web", namespace, after_status)
    assert relabeled.status.ready_replicas == 1
    assert relabeled.metadata.labels["touched"] == "yes"
    assert relabeled.metadata.generation == 1  # metadata-only change

    relabeled.spec.replicas = 3
    respecced = apps.replace_namespaced_deployment("web", namespace, relabeled)
    assert respecced.metadata.generation == 2
    patched = apps.patch_namespaced_deployment_status("web", namespace, {"status": {"availableReplicas": 1}})
    assert patched.status.available_replicas == 1
    assert patched.metadata.generation == 2


def test_scale_subresource(api_client: client.ApiClient, namespace: str) -> None:
    apps = client.AppsV1Api(api_client)
    apps.create_namespaced_deployment(namespace, _deployment("web", replicas=2))
    scale = apps.read_namespaced_deployment_scale("web", namespace)
    assert scale.spec.replicas == 2
    assert scale.metadata.name == "web"

    patched = apps.patch_namespaced_deployment_scale("web", namespace, {"spec": {"replicas": 4}})
    assert patched.spec.replicas == 4
    assert apps.read_namespaced_deployment("web", namespace).spec.replicas == 4

    scale = apps.read_namespaced_deployment_scale("web", namespace)
    scale.spec.replicas = 1
    replaced = apps.replace_namespaced_deployment_scale("web", namespace, scale)
    assert replaced.spec.replicas == 1
    deployment = apps.read_namespaced_deployment("web", namespace)
    assert deployment.spec.replicas == 1
    assert deployment.metadata.generation == 3

    scale.spec.replicas = 6  # scale's resourceVersion is now stale
    with pytest.raises(ApiException) as err:
        apps.replace_namespaced_deployment_scale("web", namespace, scale)
    assert err.value.status == 409


def _pod(name: str) -> dict:
    return {"metadata": {"name": name}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}}


def test_pod_binding_sets_node_once(api_client: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(api_client)
    core.create_namespaced_pod(namespace, _pod("p"))
    binding = {"metadata": {"name": "p"}, "target": {"apiVersion": "v1", "kind": "Node", "name": "n1"}}
    core.create_namespaced_pod_binding("p", namespace, binding, _preload_content=False)
    assert core.read_namespaced_pod("p", namespace).spec.node_name == "n1"

    binding["target"]["name"] = "n2"
    with pytest.raises(ApiException) as err:
        core.create_namespaced_pod_binding("p", namespace, binding, _preload_content=False)
    assert err.value.status == 409
    assert core.read_namespaced_pod("p", namespace).spec.node_name == "n1"


def test_pod_binding_through_call_api(api_client: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(api_client)
    core.create_namespaced_pod(namespace, _pod("q"))
    body = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "q"}, "target": {"name": "n3"}}
    method, url, headers, data, _ = api_client.param_serialize(
        "POST",
        "/api/v1/namespaces/{namespace}/pods/{name}/binding",
        path_params={"namespace": namespace, "name": "q"},
        header_params={"Content-Type": "application/json", "Accept": "application/json"},
        body=body,
    )
    resp = api_client.call_api(method, url, headers, data)
    resp.read()
    assert resp.status == 201
    assert json.loads(resp.data)["status"] == "Success"
    assert core.read_namespaced_pod("q", namespace).spec.node_name == "n3"


def _eviction(name: str, **delete_options: int) -> dict:
    body: dict = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": name}}
    if delete_options:
        body["deleteOptions"] = delete_options
    return body


def test_eviction_deletes_the_pod(api_client: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(api_client)
    core.create_namespaced_pod(namespace, _pod("unbound"))
    resp = core.create_namespaced_pod_eviction(
        "unbound", namespace, _eviction("unbound"), _preload_content=False
    )
    assert resp.status == 201
    with pytest.raises(ApiException) as err:
        core.read_namespaced_pod("unbound", namespace)
    assert err.value.status == 404

    bound = _pod("bound")
    bound["spec"]["nodeName"] = "n1"
    core.create_namespaced_pod(namespace, bound)
    core.create_namespaced_pod_eviction("bound", namespace, _eviction("bound"), _preload_content=False)
    terminating = core.read_namespaced_pod("bound", namespace)  # a node still has to stop it
    assert terminating.metadata.deletion_timestamp is not None
    assert terminating.metadata.deletion_grace_period_seconds == 30

    core.create_namespaced_pod(namespace, dict(bound, metadata={"name": "now"}))
    core.create_namespaced_pod_eviction("now", namespace, _eviction("now", gracePeriodSeconds=0))
    with pytest.raises(ApiException) as err:
        core.read_namespaced_pod("now", namespace)
    assert err.value.status == 404

    with pytest.raises(ApiException) as err:
        core.create_namespaced_pod_eviction("ghost", namespace, _eviction("ghost"))
    assert err.value.status == 404


def test_server_side_apply_on_status_records_the_subresource(
    api_client: client.ApiClient, namespace: str
) -> None:
    apps = client.AppsV1Api(api_client)
    apply = "application/apply-patch+yaml"
    body = dict(_deployment("web"), apiVersion="apps/v1", kind="Deployment")
    apps.patch_namespaced_deployment("web", namespace, body, field_manager="owner", _content_type=apply)
    status = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "status": {"replicas": 2},
    }
    out = apps.patch_namespaced_deployment_status(
        "web", namespace, status, field_manager="controller", _content_type=apply
    )
    assert out.status.replicas == 2
    managers = {(m.manager, m.operation, m.subresource) for m in out.metadata.managed_fields}
    assert managers == {("owner", "Apply", None), ("controller", "Apply", "status")}

    out = apps.patch_namespaced_deployment_status(
        "web", namespace, {"status": {"readyReplicas": 1}}, field_manager="kubelet-ish"
    )
    managers = {(m.manager, m.operation, m.subresource) for m in out.metadata.managed_fields}
    assert ("kubelet-ish", "Update", "status") in managers
    assert out.spec.replicas == 2 and out.metadata.generation == 1
