"""The node's pod watch: which pod changes make a kubelet sync (``workers/node/podsource.py``)."""

from __future__ import annotations

import copy
from typing import Any

from workers.node.podsource import PodSource

Obj = dict[str, Any]


def pod(**status: Any) -> Obj:
    return {
        "metadata": {"namespace": "ns", "name": "web", "uid": "u1", "generation": 1, "labels": {"a": "1"}},
        "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "x"}]},
        "status": status,
    }


def source() -> PodSource:
    return PodSource(client=None, node="n1", add=lambda *_: None)  # type: ignore[arg-type]


def test_status_only_changes_make_no_sync() -> None:
    src, p = source(), pod(phase="Pending")
    assert src.changed({"type": "ADDED", "object": p}) == "n1/ns/web"
    running = pod(phase="Running", podIP="10.0.0.1")  # the kubelet's own status write
    assert src.changed({"type": "MODIFIED", "object": running}) is None


def test_relabel_deletion_and_force_delete_make_a_sync() -> None:
    src, p = source(), pod(phase="Running")
    src.changed({"type": "ADDED", "object": p})
    labelled = copy.deepcopy(p)
    labelled["metadata"]["labels"]["b"] = "2"  # the downward API shows labels
    assert src.changed({"type": "MODIFIED", "object": labelled}) == "n1/ns/web"
    deleting = copy.deepcopy(labelled)
    deleting["metadata"].update(deletionTimestamp="2026-01-01T00:00:00Z", deletionGracePeriodSeconds=30)
    assert src.changed({"type": "MODIFIED", "object": deleting}) == "n1/ns/web"
    assert src.changed({"type": "DELETED", "object": deleting}) is None  # its deletion's sync cleans up
    assert src.changed({"type": "ADDED", "object": p}) == "n1/ns/web"  # recreated under the same name
    assert src.changed({"type": "DELETED", "object": p}) == "n1/ns/web"  # removed at once (force)
