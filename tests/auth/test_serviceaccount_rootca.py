"""The root CA publisher: every live namespace gets a ``kube-root-ca.crt`` ConfigMap holding the
cluster CA, put back when edited or deleted; nothing is published when the cluster has no CA."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cluster import errors
from cluster.api.resources import lookup
from cluster.client.client import Client
from cluster.settings import Settings
from tasks.controllers.rootca import RootCAController
from tasks.runtime.controller import Change, Context
from tests.e2e.conftest import APIServerProcess, launch_apiserver
from tests.namespaces import fresh

CONFIGMAPS = lookup("", "v1", "configmaps")
NAMESPACES = lookup("", "v1", "namespaces")
CA = "-----BEGIN CERTIFICATE-----\nMIIBrootca\n-----END CERTIFICATE-----\n"


@pytest.fixture(scope="module")
def server(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[APIServerProcess]:
    with launch_apiserver(redis_url, tmp_path_factory.mktemp("rootca-api")) as srv:
        yield srv


@pytest.fixture(scope="module")
def client(server: APIServerProcess) -> Client:
    return Client(server.url)


@pytest.fixture
def controller(tmp_path: Path) -> RootCAController:
    ca = tmp_path / "ca.crt"
    ca.write_text(CA)
    return RootCAController(Settings(client_ca_file=str(ca), data_dir=str(tmp_path)))


def published(client: Client, ns: str) -> dict | None:
    try:
        return client.get(CONFIGMAPS, "kube-root-ca.crt", ns)
    except errors.NotFound:
        return None


def test_namespace_gets_the_ca(client: Client, controller: RootCAController) -> None:
    ns = fresh(client, "rootca")
    assert controller.sync(ns, Context(client=client)) is None
    cm = published(client, ns)
    assert cm is not None and cm["data"] == {"ca.crt": CA}
    assert "kubernetes.io/description" in cm["metadata"]["annotations"]
    controller.sync(ns, Context(client=client))  # idempotent: nothing rewritten
    assert published(client, ns)["metadata"]["resourceVersion"] == cm["metadata"]["resourceVersion"]  # type: ignore[index]


def test_edited_or_deleted_configmap_is_put_back(client: Client, controller: RootCAController) -> None:
    ns = fresh(client, "rootca")
    ctx = Context(client=client)
    controller.sync(ns, ctx)
    cm = published(client, ns)
    assert cm is not None
    cm["data"] = {"ca.crt": "tampered", "extra": "x"}
    client.update(cm)
    controller.sync(ns, ctx)
    assert published(client, ns)["data"] == {"ca.crt": CA}  # type: ignore[index]
    client.delete(CONFIGMAPS, "kube-root-ca.crt", ns)
    controller.sync(ns, ctx)
    assert published(client, ns)["data"] == {"ca.crt": CA}  # type: ignore[index]


def test_without_a_ca_nothing_is_published(client: Client, tmp_path: Path) -> None:
    ns = fresh(client, "rootca")
    insecure = RootCAController(Settings(insecure=True, data_dir=str(tmp_path)))
    insecure.sync(ns, Context(client=client))
    assert published(client, ns) is None


def test_missing_namespace_is_done(client: Client, controller: RootCAController) -> None:
    assert controller.sync("no-such-namespace", Context(client=client)) is None


def test_watches_map_changes_to_namespaces(controller: RootCAController) -> None:
    by_resource = {w.resource: w.keys for w in controller.watches}

    def change(kind: str, type_: str, md: dict) -> Change:
        return Change(kind, type_, {"metadata": md}, None, 1)

    assert list(by_resource["namespaces"](change("namespaces", "ADDED", {"name": "a"}))) == ["a"]
    assert list(by_resource["namespaces"](change("namespaces", "DELETED", {"name": "a"}))) == []
    cm = {"name": "kube-root-ca.crt", "namespace": "a"}
    assert list(by_resource["configmaps"](change("configmaps", "DELETED", cm))) == ["a"]
    other = {"name": "settings", "namespace": "a"}
    assert list(by_resource["configmaps"](change("configmaps", "MODIFIED", other))) == []


def test_registered_in_the_controller_table() -> None:
    from tasks.runtime.registry import controllers

    assert isinstance(controllers()["rootca"], RootCAController)


def test_ca_from_the_components_kubeconfig(client: Client, tmp_path: Path) -> None:
    from cluster import kubeconfig

    path = kubeconfig.write(str(tmp_path / "cm.kubeconfig"), "https://127.0.0.1:6443", CA, token="t")
    ns = fresh(client, "rootca")
    RootCAController(Settings(kubeconfig=path, data_dir=str(tmp_path))).sync(ns, Context(client=client))
    assert published(client, ns)["data"] == {"ca.crt": CA}  # type: ignore[index]
