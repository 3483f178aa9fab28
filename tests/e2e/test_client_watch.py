"""Watching with the official Python client and with kubeq's own ``cluster.client.Client``."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from kubernetes import client, watch
from kubernetes.client.rest import ApiException

from cluster import errors
from cluster.api.resources import by_kind
from cluster.client import client as kubeq_client
from cluster.store import Store

CONFIGMAPS = by_kind("v1", "ConfigMap")


def _cm(name: str, value: str = "1", **labels: str) -> dict:
    return {"metadata": {"name": name, "labels": labels}, "data": {"v": value}}


def _compact_everything(apiserver) -> None:  # type: ignore[no-untyped-def]
    """Forget every change so far: watches from any earlier revision are too old."""
    store = Store.from_url(apiserver.redis_url, prefix=apiserver.prefix)
    try:
        store.compact(0)
    finally:
        store.client.close()


def _events(stream: Iterator[dict], w: watch.Watch, count: int) -> list[tuple[str, str, str]]:
    """The first ``count`` events as (type, name, data value); stops the watch after them."""
    out = []
    for event in stream:
        obj = event["object"]
        out.append((event["type"], obj.metadata.name, (obj.data or {}).get("v", "")))
        if len(out) == count:
            w.stop()
    return out


def test_watch_reports_changes_in_order(api_client: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(api_client)
    start = core.list_namespaced_config_map(namespace).metadata.resource_version
    core.create_namespaced_config_map(namespace, _cm("a"))
    core.patch_namespaced_config_map("a", namespace, {"data": {"v": "2"}})
    core.create_namespaced_config_map(namespace, _cm("b"))
    core.delete_namespaced_config_map("a", namespace)

    w = watch.Watch()
    stream = w.stream(core.list_namespaced_config_map, namespace, resource_version=start, timeout_seconds=5)
    events = _events(stream, w, 4)
    assert events == [("ADDED", "a", "1"), ("MODIFIED", "a", "2"), ("ADDED", "b", "1"), ("DELETED", "a", "2")]


def test_watch_without_version_starts_with_current_state(
    api_client: client.ApiClient, namespace: str
) -> None:
    core = client.CoreV1Api(api_client)
    core.create_namespaced_config_map(namespace, _cm("x"))
    core.create_namespaced_config_map(namespace, _cm("y"))
    w = watch.Watch()
    stream = w.stream(core.list_namespaced_config_map, namespace, timeout_seconds=5)
    assert sorted(_events(stream, w, 2)) == [("ADDED", "x", "1"), ("ADDED", "y", "1")]


def test_watch_resumes_from_a_resource_version(api_client: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(api_client)
    first = core.create_namespaced_config_map(namespace, _cm("r"))
    second = core.patch_namespaced_config_map("r", namespace, {"data": {"v": "2"}})
    core.patch_namespaced_config_map("r", namespace, {"data": {"v": "3"}})

    w = watch.Watch()
    stream = w.stream(
        core.list_namespaced_config_map,
        namespace,
        resource_version=second.metadata.resource_version,
        timeout_seconds=5,
    )
    assert _events(stream, w, 1) == [("MODIFIED", "r", "3")]
    assert (
        int(w.resource_version) > int(second.metadata.resource_version) > int(first.metadata.resource_version)
    )


def test_watch_ends_after_timeout_seconds(api_client: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(api_client)
    rv = core.list_namespaced_config_map(namespace).metadata.resource_version
    began = time.monotonic()
    events = list(
        watch.Watch().stream(
            core.list_namespaced_config_map, namespace, resource_version=rv, timeout_seconds=1
        )
    )
    assert events == []
    assert 0.8 < time.monotonic() - began < 5


def test_watch_with_selectors(api_client: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(api_client)
    rv = core.list_namespaced_config_map(namespace).metadata.resource_version
    core.create_namespaced_config_map(namespace, _cm("other", app="db"))
    core.create_namespaced_config_map(namespace, _cm("mine", app="web"))
    core.patch_namespaced_config_map("mine", namespace, {"data": {"v": "2"}})
    w = watch.Watch()
    stream = w.stream(
        core.list_namespaced_config_map,
        namespace,
        resource_version=rv,
        label_selector="app=web",
        timeout_seconds=5,
    )
    assert _events(stream, w, 2) == [("ADDED", "mine", "1"), ("MODIFIED", "mine", "2")]


def test_watch_from_a_compacted_revision_is_410(
    apiserver, api_client: client.ApiClient, namespace: str
) -> None:  # type: ignore[no-untyped-def]
    core = client.CoreV1Api(api_client)
    old = core.create_namespaced_config_map(namespace, _cm("old")).metadata.resource_version
    core.patch_namespaced_config_map("old", namespace, {"data": {"v": "2"}})
    _compact_everything(apiserver)
    with pytest.raises(ApiException) as err:
        list(
            watch.Watch().stream(
                core.list_namespaced_config_map, namespace, resource_version=old, timeout_seconds=3
            )
        )
    assert err.value.status == 410

    fresh = core.list_namespaced_config_map(namespace)  # clients recover by listing again
    assert [i.data["v"] for i in fresh.items] == ["2"]
    core.patch_namespaced_config_map("old", namespace, {"data": {"v": "3"}})
    w = watch.Watch()
    stream = w.stream(
        core.list_namespaced_config_map,
        namespace,
        resource_version=fresh.metadata.resource_version,
        timeout_seconds=5,
    )
    assert _events(stream, w, 1) == [("MODIFIED", "old", "3")]


# ---- kubeq's own client -------------------------------------------------------------------


@pytest.fixture
def kq(apiserver) -> kubeq_client.Client:  # type: ignore[no-untyped-def]
    return kubeq_client.Client.from_kubeconfig(str(apiserver.kubeconfig))


def test_kubeq_client_lists_every_page(kq: kubeq_client.Client, namespace: str) -> None:
    for i in range(7):
        kq.create(dict(_cm(f"p{i}"), apiVersion="v1", kind="ConfigMap"), namespace)
    listing = kq.list(CONFIGMAPS, namespace, page_size=3)
    assert [i["metadata"]["name"] for i in listing["items"]] == [f"p{i}" for i in range(7)]
    assert listing["kind"] == "ConfigMapList"
    assert "continue" not in listing["metadata"]
    with pytest.raises(errors.NotFound):
        kq.get(CONFIGMAPS, "missing", namespace)


def test_kubeq_client_pages_are_one_revision_and_can_be_left_early(
    kq: kubeq_client.Client, namespace: str
) -> None:
    for i in range(7):
        kq.create(dict(_cm(f"p{i}"), apiVersion="v1", kind="ConfigMap"), namespace)
    pages = kq.list_pages(CONFIGMAPS, namespace, page_size=3)
    first = next(pages)
    # written after the first page was served (the second is already asked for): not in this list
    kq.create(dict(_cm("late"), apiVersion="v1", kind="ConfigMap"), namespace)
    rest = list(pages)
    names = [i["metadata"]["name"] for page in [first, *rest] for i in page["items"]]
    assert names == [f"p{i}" for i in range(7)]
    assert [len(page["items"]) for page in [first, *rest]] == [3, 3, 1]
    assert {page["metadata"]["resourceVersion"] for page in rest} == {first["metadata"]["resourceVersion"]}
    assert "continue" not in rest[-1]["metadata"]

    left = kq.list_pages(CONFIGMAPS, namespace, page_size=2)
    next(left)  # the second page is in flight when the caller walks away
    left.close()
    assert kq.get(CONFIGMAPS, "late", namespace)["metadata"]["name"] == "late"
    assert len(kq.list(CONFIGMAPS, namespace, page_size=2)["items"]) == 8


def test_continue_token_is_read_from_the_head_of_a_list() -> None:
    head = b'{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"5","continue":"eyJ=","remainingItemCount":3},'
    assert kubeq_client.continue_token(head + b'"items":[{"metadata":{"name":"a"}}]}') == "eyJ="
    last = b'{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"5"},"items":[]}'
    assert kubeq_client.continue_token(last) == ""
    # items first (not how Kubernetes writes it): an item's metadata is never taken for the list's
    odd = b'{"items":[{"metadata":{"continue":"no"}}],"metadata":{"continue":"yes"}}'
    assert kubeq_client.continue_token(odd) == ""
    assert kubeq_client.continue_token(b'{"kind":"Status","code":410}') == ""


def test_kubeq_client_watch(kq: kubeq_client.Client, namespace: str) -> None:
    rv = kq.list(CONFIGMAPS, namespace)["metadata"]["resourceVersion"]
    kq.create(dict(_cm("w"), apiVersion="v1", kind="ConfigMap"), namespace)
    kq.patch(CONFIGMAPS, "w", {"data": {"v": "2"}}, namespace)
    kq.delete(CONFIGMAPS, "w", namespace)
    events = kq.watch(CONFIGMAPS, namespace, resource_version=rv, timeout_seconds=1)
    seen = [(e["type"], e["object"]["metadata"]["name"], e["object"]["data"]["v"]) for e in events]
    assert seen == [("ADDED", "w", "1"), ("MODIFIED", "w", "2"), ("DELETED", "w", "2")]


def test_kubeq_client_watch_too_old_raises_gone(apiserver, kq: kubeq_client.Client, namespace: str) -> None:  # type: ignore[no-untyped-def]
    rv = kq.create(dict(_cm("g"), apiVersion="v1", kind="ConfigMap"), namespace)["metadata"][
        "resourceVersion"
    ]
    kq.patch(CONFIGMAPS, "g", {"data": {"v": "2"}}, namespace)
    _compact_everything(apiserver)
    with pytest.raises(errors.Gone):
        list(kq.watch(CONFIGMAPS, namespace, resource_version=rv, timeout_seconds=2))


def test_kubeq_client_list_and_watch_relists_after_410(
    apiserver, kq: kubeq_client.Client, namespace: str
) -> None:  # type: ignore[no-untyped-def]
    for name in ("keep", "drop"):
        kq.create(dict(_cm(name), apiVersion="v1", kind="ConfigMap"), namespace)
    stream = kq.list_and_watch(CONFIGMAPS, namespace)
    try:
        first = [next(stream), next(stream)]
        assert sorted((e["type"], e["object"]["metadata"]["name"]) for e in first) == [
            ("ADDED", "drop"),
            ("ADDED", "keep"),
        ]
        # While the informer is between its list and its watch, the world moves on and history is lost.
        kq.delete(CONFIGMAPS, "drop", namespace)
        kq.create(dict(_cm("new"), apiVersion="v1", kind="ConfigMap"), namespace)
        _compact_everything(apiserver)

        relisted = [next(stream) for _ in range(3)]  # "keep" is re-reported only by a re-list
        summary = sorted(
            (e["type"], e["object"]["metadata"]["name"], e["object"]["data"]["v"]) for e in relisted
        )
        assert summary == [("ADDED", "new", "1"), ("DELETED", "drop", "1"), ("MODIFIED", "keep", "1")]

        kq.create(dict(_cm("later"), apiVersion="v1", kind="ConfigMap"), namespace)  # the new watch sees it
        event = next(stream)
        assert (event["type"], event["object"]["metadata"]["name"]) == ("ADDED", "later")
    finally:
        stream.close()


def test_watch_reports_objects_entering_and_leaving_a_selector(
    api_client: client.ApiClient, namespace: str
) -> None:
    core = client.CoreV1Api(api_client)
    core.create_namespaced_config_map(namespace, _cm("moving", app="db"))
    rv = core.list_namespaced_config_map(namespace).metadata.resource_version
    core.patch_namespaced_config_map("moving", namespace, {"metadata": {"labels": {"app": "web"}}})
    core.patch_namespaced_config_map("moving", namespace, {"data": {"v": "2"}})
    core.patch_namespaced_config_map("moving", namespace, {"metadata": {"labels": {"app": "db"}}})
    w = watch.Watch()
    stream = w.stream(
        core.list_namespaced_config_map,
        namespace,
        resource_version=rv,
        label_selector="app=web",
        timeout_seconds=5,
    )
    assert _events(stream, w, 3) == [
        ("ADDED", "moving", "1"),
        ("MODIFIED", "moving", "2"),
        ("DELETED", "moving", "2"),
    ]


def test_watch_across_namespaces_and_cluster_scoped(api_client: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(api_client)
    rv = core.list_namespace().metadata.resource_version
    core.create_namespaced_config_map(namespace, _cm("anywhere"))
    w = watch.Watch()
    stream = w.stream(
        core.list_config_map_for_all_namespaces,
        resource_version=rv,
        field_selector=f"metadata.namespace={namespace}",
        timeout_seconds=5,
    )
    assert _events(stream, w, 1) == [("ADDED", "anywhere", "1")]

    other = f"{namespace}-b"
    core.create_namespace({"metadata": {"name": other}})
    w = watch.Watch()
    seen = []
    for event in w.stream(core.list_namespace, resource_version=rv, timeout_seconds=5):
        seen.append((event["type"], event["object"].metadata.name))
        if event["object"].metadata.name == other:
            w.stop()
    assert seen[-1] == ("ADDED", other)
    assert event["object"].status.phase == "Active"
