"""``tasks/runtime/informer.py``: a controller's watch-fed view of a resource, against a real API server."""

from __future__ import annotations

import time
from collections.abc import Callable

from cluster.api.resources import by_kind
from cluster.client import Client
from tasks.runtime.controller import Context
from tasks.runtime.informer import cached_list, informer

SERVICES = by_kind("v1", "Service")


def _svc(name: str, app: str) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {"selector": {"app": app}, "ports": [{"port": 80}]},
    }


def _until(check: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.02)
    return check()


def _names(items: list[dict]) -> set[str]:
    return {o["metadata"]["name"] for o in items}


def test_view_follows_creates_updates_and_deletes_per_namespace(apiserver, namespace: str) -> None:  # type: ignore[no-untyped-def]
    client = Client(apiserver.url)
    client.create(_svc("before", "a"), namespace)
    ctx = Context(client=client)
    # filled by its first list: what existed before the view started is there at once
    assert _names(cached_list(ctx, SERVICES, namespace)) == {"before"}
    assert informer(ctx, SERVICES) is informer(ctx, SERVICES)  # one view per worker and resource

    client.create(_svc("after", "b"), namespace)
    assert _until(lambda: _names(cached_list(ctx, SERVICES, namespace)) == {"before", "after"})
    client.patch(SERVICES, "after", {"spec": {"selector": {"app": "c"}}}, namespace)
    assert _until(
        lambda: (
            [
                s["spec"]["selector"]
                for s in cached_list(ctx, SERVICES, namespace)
                if s["metadata"]["name"] == "after"
            ]
            == [{"app": "c"}]
        )
    )
    client.delete(SERVICES, "before", namespace)
    assert _until(lambda: _names(cached_list(ctx, SERVICES, namespace)) == {"after"})
    # other namespaces are not mixed in; None means every namespace
    assert (
        "after" in _names(cached_list(ctx, SERVICES)) and cached_list(ctx, SERVICES, namespace + "-x") == []
    )


def test_owner_index_names_the_dependents_of_a_uid(apiserver, namespace: str) -> None:  # type: ignore[no-untyped-def]
    from tasks.controllers.gc.index import owned_by

    client = Client(apiserver.url)
    ctx = Context(client=client)
    owner = client.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "owner"}}, namespace)
    uid = owner["metadata"]["uid"]
    ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": uid}
    client.create(
        _svc("dep-svc", "a") | {"metadata": {"name": "dep-svc", "ownerReferences": [ref]}}, namespace
    )
    client.create(
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "dep", "ownerReferences": [ref]}},
        namespace,
    )
    client.create({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "free"}}, namespace)

    def found() -> set[tuple[str, str | None, str]]:
        return {
            (r.plural, ns, n) for r, ns, n in owned_by(ctx, by_kind("v1", "ConfigMap"), namespace, uid) or []
        }

    assert _until(lambda: found() == {("services", namespace, "dep-svc"), ("secrets", namespace, "dep")})
    client.patch(by_kind("v1", "Secret"), "dep", {"metadata": {"ownerReferences": None}}, namespace)
    assert _until(lambda: found() == {("services", namespace, "dep-svc")})
    assert owned_by(ctx, by_kind("v1", "ConfigMap"), namespace + "-x", uid) == []
