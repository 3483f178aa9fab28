"""The official Python client: pagination, selectors, dry run, finalizers, delete-collection, 404s."""

from __future__ import annotations

import json
import uuid

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException


def _cm(name: str, **labels: str) -> dict:
    return {"metadata": {"name": name, "labels": labels}, "data": {"k": name}}


def test_pagination_is_consistent_while_objects_are_created(
    api_client: client.ApiClient, namespace: str
) -> None:
    core = client.CoreV1Api(api_client)
    for i in range(25):
        core.create_namespaced_config_map(namespace, _cm(f"cm-{i:02d}"))

    names: list[str] = []
    page = core.list_namespaced_config_map(namespace, limit=10)
    first_rv = page.metadata.resource_version
    pages = 1
    while True:
        names += [i.metadata.name for i in page.items]
        assert len(page.items) <= 10
        token = page.metadata._continue
        if not token:
            break
        assert page.metadata.remaining_item_count == 25 - len(names)
        core.create_namespaced_config_map(namespace, _cm(f"late-{pages}"))  # not in this listing
        page = core.list_namespaced_config_map(namespace, limit=10, _continue=token)
        assert page.metadata.resource_version == first_rv
        pages += 1
    assert pages == 3
    assert names == [f"cm-{i:02d}" for i in range(25)]
    everything = core.list_namespaced_config_map(namespace)
    assert len(everything.items) == 27
    assert everything.metadata._continue is None


def test_label_and_field_selectors(api_client: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(api_client)
    core.create_namespaced_config_map(namespace, _cm("a", app="web", tier="front"))
    core.create_namespaced_config_map(namespace, _cm("b", app="web", tier="back"))
    core.create_namespaced_config_map(namespace, _cm("c", app="db"))

    def names(**kw: str) -> list[str]:
        return sorted(i.metadata.name for i in core.list_namespaced_config_map(namespace, **kw).items)

    assert names(label_selector="app=web") == ["a", "b"]
    assert names(label_selector="app=web,tier!=front") == ["b"]
    assert names(label_selector="app in (db, cache)") == ["c"]
    assert names(label_selector="tier") == ["a", "b"]
    assert names(label_selector="!tier") == ["c"]
    assert names(field_selector="metadata.name=b") == ["b"]
    assert names(field_selector="metadata.name!=b", label_selector="app=web") == ["a"]
    everywhere = core.list_config_map_for_all_namespaces(field_selector=f"metadata.namespace={namespace}")
    assert sorted(i.metadata.name for i in everywhere.items) == ["a", "b", "c"]


def test_pod_field_selector_on_node_name(api_client: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(api_client)
    spec = {"containers": [{"name": "c", "image": "busybox"}]}
    core.create_namespaced_pod(namespace, {"metadata": {"name": "on-n1"}, "spec": dict(spec, nodeName="n1")})
    core.create_namespaced_pod(namespace, {"metadata": {"name": "pending"}, "spec": spec})
    on_node = core.list_namespaced_pod(namespace, field_selector="spec.nodeName=n1")
    assert [p.metadata.name for p in on_node.items] == ["on-n1"]
    unbound = core.list_namespaced_pod(namespace, field_selector="spec.nodeName=")
    assert [p.metadata.name for p in unbound.items] == ["pending"]


def test_bad_selector_is_400(api_client: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(api_client)
    with pytest.raises(ApiException) as err:
        core.list_namespaced_config_map(namespace, field_selector="data.k=v")
    assert err.value.status == 400


def test_dry_run_creates_nothing(api_client: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(api_client)
    shown = core.create_namespaced_config_map(namespace, _cm("dry"), dry_run="All")
    assert shown.metadata.name == "dry" and shown.data == {"k": "dry"}
    with pytest.raises(ApiException) as err:
        core.read_namespaced_config_map("dry", namespace)
    assert err.value.status == 404

    core.create_namespaced_config_map(namespace, _cm("real"))
    core.patch_namespaced_config_map("real", namespace, {"data": {"k": "changed"}}, dry_run="All")
    core.delete_namespaced_config_map("real", namespace, dry_run="All")
    assert core.read_namespaced_config_map("real", namespace).data == {"k": "real"}


def test_finalizers_hold_deletion_until_removed(api_client: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(api_client)
    body = _cm("held")
    body["metadata"]["finalizers"] = ["e2e.kubeq.io/hold"]
    core.create_namespaced_config_map(namespace, body)

    core.delete_namespaced_config_map("held", namespace)
    held = core.read_namespaced_config_map("held", namespace)
    assert held.metadata.deletion_timestamp is not None
    assert held.metadata.finalizers == ["e2e.kubeq.io/hold"]

    with pytest.raises(ApiException) as err:  # no new finalizers on an object being deleted
        core.patch_namespaced_config_map(
            "held", namespace, [{"op": "add", "path": "/metadata/finalizers/-", "value": "other/x"}]
        )
    assert err.value.status == 422

    core.patch_namespaced_config_map("held", namespace, {"metadata": {"finalizers": None}})
    with pytest.raises(ApiException) as err:
        core.read_namespaced_config_map("held", namespace)
    assert err.value.status == 404


def test_delete_collection_by_label(api_client: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(api_client)
    for name in ("a", "b", "c"):
        core.create_namespaced_config_map(namespace, _cm(name, group="one"))
    core.create_namespaced_config_map(namespace, _cm("keep", group="two"))
    core.delete_collection_namespaced_config_map(namespace, label_selector="group=one")
    left = core.list_namespaced_config_map(namespace)
    assert [i.metadata.name for i in left.items] == ["keep"]

    core.delete_collection_namespaced_config_map(namespace)
    assert core.list_namespaced_config_map(namespace).items == []


def test_create_in_missing_namespace_is_404(api_client: client.ApiClient) -> None:
    core = client.CoreV1Api(api_client)
    with pytest.raises(ApiException) as err:
        core.create_namespaced_config_map("no-such-ns", _cm("x"))
    assert err.value.status == 404
    assert json.loads(err.value.body)["message"] == 'namespaces "no-such-ns" not found'


def test_already_exists_and_not_found(api_client: client.ApiClient, namespace: str) -> None:
    apps = client.AppsV1Api(api_client)
    with pytest.raises(ApiException) as err:
        apps.read_namespaced_deployment("nope", namespace)
    assert err.value.status == 404
    assert json.loads(err.value.body)["message"] == 'deployments.apps "nope" not found'

    core = client.CoreV1Api(api_client)
    core.create_namespaced_config_map(namespace, _cm("twice"))
    with pytest.raises(ApiException) as err:
        core.create_namespaced_config_map(namespace, _cm("twice"))
    assert err.value.status == 409
    assert err.value.reason == "Conflict"
    status = json.loads(err.value.body)
    assert status["reason"] == "AlreadyExists"
    assert status["message"] == 'configmaps "twice" already exists'


def test_expired_continue_token_is_410(apiserver, api_client: client.ApiClient, namespace: str) -> None:  # type: ignore[no-untyped-def]
    from cluster.store import Store

    core = client.CoreV1Api(api_client)
    for i in range(3):
        core.create_namespaced_config_map(namespace, _cm(f"e{i}"))
    token = core.list_namespaced_config_map(namespace, limit=1).metadata._continue
    core.create_namespaced_config_map(namespace, _cm("after"))
    store = Store.from_url(apiserver.redis_url, prefix=apiserver.prefix)
    try:
        store.compact(0)
    finally:
        store.client.close()
    with pytest.raises(ApiException) as err:
        core.list_namespaced_config_map(namespace, limit=1, _continue=token)
    assert err.value.status == 410
    assert json.loads(err.value.body)["reason"] == "Expired"


def test_delete_preconditions(api_client: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(api_client)
    cm = core.create_namespaced_config_map(namespace, _cm("pre"))
    core.patch_namespaced_config_map("pre", namespace, {"data": {"k": "new"}})
    stale = client.V1DeleteOptions(
        preconditions=client.V1Preconditions(resource_version=cm.metadata.resource_version)
    )
    with pytest.raises(ApiException) as err:
        core.delete_namespaced_config_map("pre", namespace, body=stale)
    assert err.value.status == 409
    right = client.V1DeleteOptions(preconditions=client.V1Preconditions(uid=cm.metadata.uid))
    core.delete_namespaced_config_map("pre", namespace, body=right)
    assert core.list_namespaced_config_map(namespace).items == []


def test_foreground_deletion_waits_for_its_finalizer(api_client: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(api_client)
    core.create_namespaced_config_map(namespace, _cm("fg"))
    core.delete_namespaced_config_map("fg", namespace, propagation_policy="Foreground")
    held = core.read_namespaced_config_map("fg", namespace)
    assert held.metadata.deletion_timestamp is not None
    assert held.metadata.finalizers == ["foregroundDeletion"]
    core.patch_namespaced_config_map("fg", namespace, [{"op": "remove", "path": "/metadata/finalizers"}])
    assert core.list_namespaced_config_map(namespace).items == []


def test_secret_string_data_becomes_base64_data(api_client: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(api_client)
    core.create_namespaced_secret(namespace, {"metadata": {"name": "s"}, "stringData": {"user": "admin"}})
    secret = core.read_namespaced_secret("s", namespace)
    assert secret.data == {"user": "YWRtaW4="}
    assert secret.string_data is None
    assert secret.type == "Opaque"


def test_terminating_namespace_refuses_new_objects(api_client: client.ApiClient) -> None:
    core = client.CoreV1Api(api_client)
    ns = f"t-term-{uuid.uuid4().hex[:6]}"
    core.create_namespace({"metadata": {"name": ns}})
    core.create_namespaced_config_map(ns, _cm("before"))
    core.delete_namespace(ns)
    assert core.read_namespace(ns).status.phase == "Terminating"
    with pytest.raises(ApiException) as err:
        core.create_namespaced_config_map(ns, _cm("after"))
    assert err.value.status == 403
    assert "being terminated" in json.loads(err.value.body)["message"]


def test_bad_writes_are_4xx(api_client: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(api_client)
    with pytest.raises(ApiException) as err:
        core.patch_namespaced_config_map("absent", namespace, {"data": {"k": "v"}})
    assert err.value.status == 404

    core.create_namespaced_config_map(namespace, _cm("named"))
    with pytest.raises(ApiException) as err:
        core.replace_namespaced_config_map("named", namespace, _cm("other"))
    assert err.value.status == 400

    with pytest.raises(ApiException) as err:
        core.create_namespaced_config_map(namespace, _cm("Bad_Name"))
    assert err.value.status == 422
    status = json.loads(err.value.body)
    assert status["reason"] == "Invalid"
    assert status["details"]["causes"][0]["field"] == "metadata.name"

    unconditional = core.replace_namespaced_config_map("named", namespace, _cm("named"))  # no resourceVersion
    assert unconditional.data == {"k": "named"}
