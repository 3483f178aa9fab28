"""Creates that require a live namespace: the check happens in the same atomic step as the write."""

from __future__ import annotations

import pytest

from cluster import errors
from cluster.store import NamespaceTerminating, Store


def cm(name: str, ns: str) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": ns}}


def namespace(name: str, **metadata: object) -> dict:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, **metadata}}


def test_create_in_live_namespace_is_stored(store: Store) -> None:
    store.create("namespaces", "live", namespace("live"))
    created = store.create("configmaps", "live/a", cm("a", "live"), namespace="live")
    assert store.get("configmaps", "live/a") == created


def test_create_in_missing_namespace_is_not_found_of_the_namespace(store: Store) -> None:
    before = store.current_revision()
    with pytest.raises(errors.NotFound) as err:
        store.create("configmaps", "gone/a", cm("a", "gone"), namespace="gone")
    assert err.value.message == 'namespaces "gone" not found'
    assert store.current_revision() == before  # nothing written, nothing published
    with pytest.raises(errors.NotFound):
        store.get("configmaps", "gone/a")


def test_create_in_terminating_namespace_is_refused(store: Store) -> None:
    store.create("namespaces", "ending", namespace("ending", deletionTimestamp="2026-01-01T00:00:00Z"))
    with pytest.raises(NamespaceTerminating) as err:
        store.create("configmaps", "ending/a", cm("a", "ending"), namespace="ending")
    assert err.value.namespace == "ending"
    with pytest.raises(errors.NotFound):
        store.get("configmaps", "ending/a")


def test_a_label_named_deletion_timestamp_does_not_make_a_namespace_terminating(store: Store) -> None:
    store.create("namespaces", "odd", namespace("odd", labels={"deletionTimestamp": "x"}))
    store.create("configmaps", "odd/a", cm("a", "odd"), namespace="odd")


def test_create_leaves_the_given_object_unchanged(store: Store) -> None:
    obj = cm("a", "default")
    store.create("configmaps", "default/a", obj)
    assert obj == cm("a", "default")


def test_get_many_reads_keys_and_whole_resources_in_one_call(store: Store) -> None:
    a = store.create("configmaps", "default/a", cm("a", "default"))
    ns = store.create("namespaces", "default", namespace("default"))
    found, every = store.get_many([("configmaps", "default/a"), ("configmaps", "default/b")], ["namespaces"])
    assert found == [a, None]
    assert every == [[ns]]
