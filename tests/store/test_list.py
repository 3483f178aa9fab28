"""Lists at one consistent revision: paging, namespaces, predicates, compaction."""

from __future__ import annotations

import pytest

from cluster import errors
from cluster.store import Store, listing


def make(store: Store, ns: str, name: str, **labels: str) -> dict:
    return store.create(
        "pods", f"{ns}/{name}", {"metadata": {"name": name, "namespace": ns, "labels": labels}}
    )


def names(items: list[dict]) -> list[str]:
    return [i["metadata"]["name"] for i in items]


def test_list_is_sorted_and_scoped_by_namespace(store: Store) -> None:
    for name in ("c", "a", "b"):
        make(store, "one", name)
    make(store, "two", "a")
    make(store, "on", "z")  # a namespace that is a prefix of another must not leak in
    result = store.list("pods", "one")
    assert names(result.items) == ["a", "b", "c"]
    assert result.revision == store.current_revision()
    assert result.continue_token is None and result.remaining is None
    assert len(store.list("pods").items) == 5
    assert store.list("pods", "three").items == []
    assert store.list("services").items == []


def test_pages_stay_at_first_revision_while_writes_happen(store: Store) -> None:
    for i in range(10):
        make(store, "ns", f"p{i}")
    first = store.list("pods", "ns", limit=4)
    assert names(first.items) == ["p0", "p1", "p2", "p3"]
    assert first.remaining == 6
    assert first.continue_token

    store.delete("pods", "ns/p5")  # deleted after the list began: still shown
    make(store, "ns", "p45")  # created after: not shown
    item = store.get("pods", "ns/p6")
    store.update("pods", "ns/p6", dict(item, spec={"changed": True}), None)  # shown as it was
    store.delete("pods", "ns/p1")  # already listed: no effect

    second = store.list("pods", "ns", limit=4, continue_token=first.continue_token)
    assert second.revision == first.revision
    assert names(second.items) == ["p4", "p5", "p6", "p7"]
    assert "spec" not in second.items[2]
    assert second.remaining == 2
    third = store.list("pods", "ns", limit=4, continue_token=second.continue_token)
    assert names(third.items) == ["p8", "p9"]
    assert third.continue_token is None and third.remaining is None
    # a fresh list sees the new state
    assert "p45" in names(store.list("pods", "ns").items)


def test_limit_counts_matching_objects(store: Store) -> None:
    for i in range(12):
        make(store, "ns", f"p{i:02d}", tier="web" if i % 3 == 0 else "db")
    web = lambda obj: obj["metadata"]["labels"]["tier"] == "web"  # noqa: E731
    page = store.list("pods", "ns", limit=2, predicate=web)
    assert names(page.items) == ["p00", "p03"]
    assert page.continue_token and page.remaining is None
    rest = store.list("pods", "ns", limit=2, predicate=web, continue_token=page.continue_token)
    assert names(rest.items) == ["p06", "p09"]
    assert rest.continue_token is None  # nothing else matches


def test_exact_limit_has_no_continue(store: Store) -> None:
    for i in range(3):
        make(store, "ns", f"p{i}")
    assert store.list("pods", "ns", limit=3).continue_token is None


def test_list_at_revision(store: Store) -> None:
    make(store, "ns", "a")
    rev = store.current_revision()
    make(store, "ns", "b")
    store.delete("pods", "ns/a")
    at = store.list("pods", "ns", revision=rev)
    assert names(at.items) == ["a"]
    assert at.items[0]["metadata"]["resourceVersion"] == str(rev)
    assert at.revision == rev
    assert names(store.list("pods", "ns").items) == ["b"]


def test_list_at_compacted_revision_is_gone(store: Store) -> None:
    make(store, "ns", "a")
    rev = store.current_revision()
    for i in range(5):
        make(store, "ns", f"x{i}")
    store.compact(keep=2)
    with pytest.raises(errors.Gone) as info:
        store.list("pods", "ns", revision=rev)
    assert info.value.code == 410
    assert info.value.message == f"too old resource version: {rev} ({store.compacted_revision()})"


def test_expired_continue_is_resource_expired(store: Store) -> None:
    for i in range(6):
        make(store, "ns", f"p{i}")
    page = store.list("pods", "ns", limit=2)
    make(store, "ns", "late")
    store.compact(keep=0)
    with pytest.raises(errors.ResourceExpired) as info:
        store.list("pods", "ns", limit=2, continue_token=page.continue_token)
    assert info.value.code == 410
    assert "continue parameter is too old" in info.value.message


def test_continue_of_unchanged_resource_survives_compaction(store: Store) -> None:
    for i in range(4):
        make(store, "ns", f"p{i}")
    page = store.list("pods", "ns", limit=2)
    store.compact(keep=0)  # compacted == the page's revision: still reconstructible
    assert names(store.list("pods", "ns", continue_token=page.continue_token).items) == ["p2", "p3"]


def test_malformed_continue_is_bad_request(store: Store) -> None:
    with pytest.raises(errors.BadRequest):
        store.list("pods", continue_token="not-a-token!")


def test_big_list_spans_chunks_consistently(store: Store) -> None:
    pipe_names = [f"p{i:04d}" for i in range(1200)]
    for name in pipe_names:
        make(store, "ns", name)
    page = store.list("pods", "ns", limit=1100)
    for name in pipe_names[1100:1150]:
        store.delete("pods", f"ns/{name}")
    rest = store.list("pods", "ns", limit=1100, continue_token=page.continue_token)
    assert names(page.items) + names(rest.items) == pipe_names
    assert page.remaining == 100


def test_raw_pages_encode_to_the_same_json_as_parsed_ones(store: Store) -> None:
    from cluster import jsoncodec

    for name in ("a", "b", "c", "d"):
        make(store, "raw", name, app=name)
    store.update("pods", "raw/b", {**store.get("pods", "raw/b"), "spec": {"x": 1}}, None)
    old = store.current_revision()
    store.delete("pods", "raw/c")  # at `old` it is still there: its text comes from the change's prev
    for kwargs in ({}, {"revision": old}, {"limit": 2}):
        parsed = store.list("pods", "raw", **kwargs)
        raw = store.list("pods", "raw", raw=True, **kwargs)
        assert jsoncodec.loads(jsoncodec.dumpb(raw.items)) == parsed.items
        assert raw.continue_token == parsed.continue_token


def test_writes_while_a_chunk_is_read_do_not_show(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """A chunk reads its keys, then their values: writes landing in between are rolled back."""
    for i in range(6):
        make(store, "ns", f"p{i}")
    pin = listing._Pager._pin
    pins: list[int] = []

    def pin_then_write(pager: listing._Pager, current: int, compacted: int) -> int:
        rev = pin(pager, current, compacted)
        pins.append(rev)
        if len(pins) == 1:  # between the first chunk's keys and its values
            store.delete("pods", "ns/p2")
            make(store, "ns", "p25")
            store.update("pods", "ns/p3", dict(store.get("pods", "ns/p3"), spec={"changed": True}), None)
        return rev

    monkeypatch.setattr(listing._Pager, "_pin", pin_then_write)
    page = store.list("pods", "ns", limit=4)
    assert names(page.items) == ["p0", "p1", "p2", "p3"]
    assert "spec" not in page.items[3]
    assert page.remaining == 2
    rest = store.list("pods", "ns", continue_token=page.continue_token)
    assert names(rest.items) == ["p4", "p5"]
