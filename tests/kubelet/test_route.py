"""Kubelet keys route to their node's queue; the kubelet's resync is listed centrally."""

from __future__ import annotations

import pytest

from workers.celery_app import route


def test_kubelet_sync_goes_to_the_node_of_its_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBEQ_EXTRA_CONTROLLERS", "tasks.kubelet.controller:KubeletController")
    assert route("kubeq.kubelet.sync", [["n1/default/web"]], {}, {}) == {"queue": "node.n1"}
    assert route("kubeq.kubelet.sync", [], {"node": "n2"}, {}) == {"queue": "node.n2"}
    assert route("kubeq.resync", [], {"controller": "kubelet"}, {}) == {"queue": "controllers"}
