"""The kubelet's reads of a pod's ConfigMaps and Secrets, against a real API server: live reads,
except the cluster CA ConfigMap, which a node reuses for a while once it has found it."""

from __future__ import annotations

import time

import pytest

from cluster.api.resources import lookup
from cluster.client.client import Client
from tasks.kubelet import controller as kubelet
from tasks.runtime.controller import Context

CONFIGMAPS = lookup("", "v1", "configmaps")


def _cm(ns: str, name: str, value: str) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": ns},
        "data": {"v": value},
    }


def test_root_ca_is_reused_until_its_ttl_and_others_are_read_live(
    client: Client, ns: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(kubelet, "ROOT_CA_TTL", 1.5)
    monkeypatch.setattr(kubelet, "ROOT_CA_MISS_TTL", 0.5)
    get = kubelet.KubeletController().lookup(Context(client=client))
    assert get("configmaps", ns, kubelet.ROOT_CA) is None  # not published yet
    client.create(_cm(ns, kubelet.ROOT_CA, "ca-1"), ns)
    client.create(_cm(ns, "app", "one"), ns)
    assert get("configmaps", ns, kubelet.ROOT_CA) is None  # its absence is remembered briefly
    time.sleep(0.6)
    assert get("configmaps", ns, kubelet.ROOT_CA)["data"] == {"v": "ca-1"}
    assert get("configmaps", ns, "app")["data"] == {"v": "one"}

    for name, value in ((kubelet.ROOT_CA, "ca-2"), ("app", "two")):
        current = client.get(CONFIGMAPS, name, ns)
        client.update({**current, "data": {"v": value}})
    assert get("configmaps", ns, "app")["data"] == {"v": "two"}  # a user's ConfigMap: always fresh
    assert get("configmaps", ns, kubelet.ROOT_CA)["data"] == {"v": "ca-1"}  # within the TTL

    time.sleep(1.6)
    assert get("configmaps", ns, kubelet.ROOT_CA)["data"] == {"v": "ca-2"}
