"""Create, get, update and delete with compare-and-swap, as a client of the store sees them."""

from __future__ import annotations

import re
import threading

import pytest

from cluster import errors
from cluster.store import RV_PLACEHOLDER, Store


def pod(name: str, ns: str = "default", **extra: object) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns}, **extra}


def test_create_fills_metadata_and_revision(store: Store) -> None:
    created = store.create("pods", "default/a", pod("a", spec={"containers": [], "volumes": {}}))
    meta = created["metadata"]
    assert re.fullmatch(r"[0-9a-f-]{36}", meta["uid"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", meta["creationTimestamp"])
    assert meta["generation"] == 1
    assert meta["resourceVersion"] == str(store.current_revision())
    # empty lists and maps survive the round trip unchanged
    assert created["spec"] == {"containers": [], "volumes": {}}
    assert store.get("pods", "default/a") == created


def test_create_keeps_given_metadata(store: Store) -> None:
    given = pod("a")
    given["metadata"].update(uid="u-1", creationTimestamp="2020-01-01T00:00:00Z", generation=7)
    given["metadata"]["resourceVersion"] = "999"
    created = store.create("pods", "default/a", given)
    assert created["metadata"]["uid"] == "u-1"
    assert created["metadata"]["generation"] == 7
    assert created["metadata"]["resourceVersion"] == str(store.current_revision())
    assert given["metadata"]["resourceVersion"] == "999"  # caller's dict untouched


def test_revisions_are_global_and_increase(store: Store) -> None:
    a = store.create("pods", "default/a", pod("a"))
    b = store.create("deployments.apps", "default/b", pod("b"))
    assert int(b["metadata"]["resourceVersion"]) == int(a["metadata"]["resourceVersion"]) + 1


def test_create_twice_is_already_exists(store: Store) -> None:
    store.create("deployments.apps", "default/web", pod("web"))
    with pytest.raises(errors.AlreadyExists) as info:
        store.create("deployments.apps", "default/web", pod("web"))
    assert info.value.code == 409
    assert info.value.message == 'deployments.apps "web" already exists'


def test_get_missing_is_not_found(store: Store) -> None:
    with pytest.raises(errors.NotFound) as info:
        store.get("pods", "default/nope")
    assert info.value.message == 'pods "nope" not found'


def test_update_with_matching_revision(store: Store) -> None:
    created = store.create("pods", "default/a", pod("a"))
    rv = int(created["metadata"]["resourceVersion"])
    changed = dict(created, spec={"nodeName": "n1"})
    updated = store.update("pods", "default/a", changed, rv)
    assert int(updated["metadata"]["resourceVersion"]) == rv + 1
    assert store.get("pods", "default/a")["spec"] == {"nodeName": "n1"}


def test_stale_update_is_409_with_current(store: Store) -> None:
    created = store.create("pods", "default/a", pod("a"))
    rv = int(created["metadata"]["resourceVersion"])
    newer = store.update("pods", "default/a", dict(created, spec={"x": 1}), rv)
    with pytest.raises(errors.Conflict) as info:
        store.update("pods", "default/a", dict(created, spec={"x": 2}), rv)
    assert info.value.code == 409
    assert "the object has been modified" in info.value.message
    assert info.value.current == newer
    assert store.get("pods", "default/a")["spec"] == {"x": 1}


def test_unconditional_update_and_missing_update(store: Store) -> None:
    created = store.create("pods", "default/a", pod("a"))
    store.update("pods", "default/a", dict(created, spec={"y": 1}), None)
    assert store.get("pods", "default/a")["spec"] == {"y": 1}
    with pytest.raises(errors.NotFound):
        store.update("pods", "default/missing", pod("missing"), None)


def test_delete_returns_object_at_deletion_revision(store: Store) -> None:
    created = store.create("pods", "default/a", pod("a"))
    deleted = store.delete("pods", "default/a")
    assert deleted["metadata"]["uid"] == created["metadata"]["uid"]
    assert deleted["metadata"]["resourceVersion"] == str(store.current_revision())
    with pytest.raises(errors.NotFound):
        store.get("pods", "default/a")
    with pytest.raises(errors.NotFound):
        store.delete("pods", "default/a")


def test_delete_with_stale_revision_is_conflict(store: Store) -> None:
    created = store.create("pods", "default/a", pod("a"))
    rv = int(created["metadata"]["resourceVersion"])
    store.update("pods", "default/a", created, rv)
    with pytest.raises(errors.Conflict) as info:
        store.delete("pods", "default/a", expected_rv=rv)
    assert info.value.current is not None
    assert info.value.current["metadata"]["resourceVersion"] == str(rv + 1)
    store.delete("pods", "default/a", expected_rv=rv + 1)


def test_object_containing_placeholder_is_refused(store: Store) -> None:
    with pytest.raises(errors.BadRequest):
        store.create("pods", "default/a", pod("a", spec={"x": RV_PLACEHOLDER}))


def test_guaranteed_update_no_change_returns_current(store: Store) -> None:
    created = store.create("pods", "default/a", pod("a"))
    assert store.guaranteed_update("pods", "default/a", lambda obj: None) == created
    assert store.current_revision() == int(created["metadata"]["resourceVersion"])


def test_guaranteed_update_loses_no_increment_under_50_threads(store: Store) -> None:
    store.create("configmaps", "default/counter", {"metadata": {"name": "counter"}, "data": {"n": "0"}})

    def bump(obj: dict) -> dict:
        obj["data"]["n"] = str(int(obj["data"]["n"]) + 1)
        return obj

    failures: list[BaseException] = []

    def worker() -> None:
        try:
            for _ in range(4):
                store.guaranteed_update("configmaps", "default/counter", bump, retries=1000)
        except BaseException as err:  # noqa: BLE001 - collected and asserted below
            failures.append(err)

    threads = [threading.Thread(target=worker) for _ in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    assert store.get("configmaps", "default/counter")["data"]["n"] == "200"


def test_guaranteed_update_gives_up_after_retries(store: Store) -> None:
    store.create("pods", "default/a", pod("a"))

    def meddle(obj: dict) -> dict:
        store.update("pods", "default/a", store.get("pods", "default/a"), None)  # someone else wins
        return obj

    with pytest.raises(errors.Conflict):
        store.guaranteed_update("pods", "default/a", meddle, retries=3)
