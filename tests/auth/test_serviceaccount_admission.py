"""ServiceAccount admission on pod create, through the registry on a real Redis: the pod gets its
account name and a ``kube-api-access-*`` token volume mounted in every container."""

from __future__ import annotations

import re
from typing import Any

import pytest

from cluster import errors
from cluster.api.resources import lookup
from cluster.registry.admission import WriteOptions
from cluster.registry.registry import Registry
from cluster.store import Store

PODS = lookup("", "v1", "pods")
NAMESPACES = lookup("", "v1", "namespaces")
SERVICEACCOUNTS = lookup("", "v1", "serviceaccounts")
MOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"
Obj = dict[str, Any]


@pytest.fixture
def registry(store: Store) -> Registry:
    reg = Registry(store)
    reg.create(NAMESPACES, None, {"metadata": {"name": "apps"}}, WriteOptions())
    return reg


def pod(name: str = "p", **spec: Any) -> Obj:
    body: Obj = {"containers": [{"name": "c", "image": "python"}], **spec}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": body}


def create(registry: Registry, body: Obj, namespace: str = "apps") -> Obj:
    return registry.create(PODS, namespace, body, WriteOptions())


def account(registry: Registry, name: str, automount: bool | None = None) -> None:
    body: Obj = {"metadata": {"name": name}}
    if automount is not None:
        body["automountServiceAccountToken"] = automount
    registry.create(SERVICEACCOUNTS, "apps", body, WriteOptions())


def test_pod_gets_default_account_and_token_volume(registry: Registry) -> None:
    created = create(registry, pod(initContainers=[{"name": "init", "image": "python"}]))
    spec = created["spec"]
    assert spec["serviceAccountName"] == spec["serviceAccount"] == "default"
    [volume] = spec["volumes"]
    assert re.fullmatch(r"kube-api-access-[a-z0-9]{5}", volume["name"])
    projected = volume["projected"]
    assert projected["defaultMode"] == 420
    assert projected["sources"] == [
        {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
        {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
        {
            "downwardAPI": {
                "items": [
                    {"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}
                ]
            }
        },
    ]
    wanted = [{"name": volume["name"], "readOnly": True, "mountPath": MOUNT}]
    assert spec["containers"][0]["volumeMounts"] == wanted
    assert spec["initContainers"][0]["volumeMounts"] == wanted
    # the missing default account was made on the way (no controller runs here)
    assert registry.get(SERVICEACCOUNTS, "apps", "default")["metadata"]["uid"]


def test_volume_names_differ_between_pods(registry: Registry) -> None:
    names = {create(registry, pod(f"p{i}"))["spec"]["volumes"][0]["name"] for i in range(4)}
    assert len(names) == 4


def test_missing_named_account_is_forbidden(registry: Registry) -> None:
    with pytest.raises(errors.Forbidden) as caught:
        create(registry, pod(serviceAccountName="robot"))
    assert caught.value.code == 403
    assert str(caught.value.message) == (
        'pods "p" is forbidden: error looking up service account apps/robot: serviceaccount "robot" not found'
    )
    with pytest.raises(errors.NotFound):
        registry.get(PODS, "apps", "p")


def test_named_account_and_deprecated_alias(registry: Registry) -> None:
    account(registry, "robot")
    assert create(registry, pod("a", serviceAccountName="robot"))["spec"]["serviceAccount"] == "robot"
    assert create(registry, pod("b", serviceAccount="robot"))["spec"]["serviceAccountName"] == "robot"


def test_automount_false_on_pod_adds_nothing(registry: Registry) -> None:
    spec = create(registry, pod(automountServiceAccountToken=False))["spec"]
    assert spec["serviceAccountName"] == "default"
    assert not spec.get("volumes") and not spec["containers"][0].get("volumeMounts")


def test_automount_false_on_account_unless_pod_says_true(registry: Registry) -> None:
    account(registry, "quiet", automount=False)
    off = create(registry, pod("off", serviceAccountName="quiet"))["spec"]
    assert not off.get("volumes")
    on = create(registry, pod("on", serviceAccountName="quiet", automountServiceAccountToken=True))["spec"]
    assert on["volumes"][0]["name"].startswith("kube-api-access-")


def test_container_mounting_the_path_itself_is_left_alone(registry: Registry) -> None:
    own = {"name": "mine", "mountPath": MOUNT}
    body = pod(
        containers=[
            {"name": "a", "image": "python", "volumeMounts": [own]},
            {"name": "b", "image": "python"},
        ],
        volumes=[{"name": "mine", "emptyDir": {}}],
    )
    spec = create(registry, body)["spec"]
    assert spec["containers"][0]["volumeMounts"] == [own]
    assert spec["containers"][1]["volumeMounts"][0]["name"].startswith("kube-api-access-")
    assert [v["name"] for v in spec["volumes"]][0] == "mine" and len(spec["volumes"]) == 2


def test_recreated_pod_keeps_its_access_volume(registry: Registry) -> None:
    first = create(registry, pod("one"))
    copy = pod("two", volumes=first["spec"]["volumes"], containers=first["spec"]["containers"])
    spec = create(registry, copy)["spec"]
    assert [v["name"] for v in spec["volumes"]] == [first["spec"]["volumes"][0]["name"]]
    assert len(spec["containers"][0]["volumeMounts"]) == 1


def test_missing_namespace_is_still_not_found(registry: Registry) -> None:
    with pytest.raises(errors.NotFound) as caught:
        create(registry, pod(), namespace="nowhere")
    assert "namespaces" in str(caught.value.message)


def test_dry_run_creates_no_account(registry: Registry) -> None:
    created = registry.create(PODS, "apps", pod(), WriteOptions(dry_run=True))
    assert created["spec"]["volumes"][0]["name"].startswith("kube-api-access-")
    with pytest.raises(errors.NotFound):
        registry.get(SERVICEACCOUNTS, "apps", "default")


def test_refusal_reaches_the_client_as_a_403_status(store: Store, secure_settings: Any) -> None:
    from cluster.apiserver.app import APIServer
    from cluster.apiserver.security import security_from_settings
    from cluster.registry import ensure_system_namespaces
    from tests.auth.conftest import ADMIN_TOKEN, call

    reg = Registry(store)
    ensure_system_namespaces(reg)
    app = APIServer(reg, security=security_from_settings(secure_settings, reg))
    code, status = call(
        app, "POST", "/api/v1/namespaces/default/pods", pod(serviceAccountName="x"), ADMIN_TOKEN
    )
    assert (code, status["reason"], status["code"]) == (403, "Forbidden", 403)
    assert status["message"].endswith(
        'error looking up service account default/x: serviceaccount "x" not found'
    )
    code, created = call(app, "POST", "/api/v1/namespaces/default/pods", pod(), ADMIN_TOKEN)
    assert code == 201 and created["spec"]["serviceAccountName"] == "default"
