"""The embedded Redis: starts, serves a Store, keeps data across a restart (append-only file)."""

from __future__ import annotations

from cluster.store import Store, start_embedded


def test_data_survives_restart(tmp_path) -> None:
    data = str(tmp_path / "redis")
    with start_embedded(data) as server:
        store = Store.from_url(server.url)
        created = store.create("pods", "default/keep", {"metadata": {"name": "keep", "namespace": "default"}})
        assert store.client.config_get("appendonly") == {"appendonly": "yes"}
        store.client.close()
    assert not server.running()

    with start_embedded(data) as again:
        store = Store.from_url(again.url)
        assert store.get("pods", "default/keep") == created
        assert store.current_revision() == int(created["metadata"]["resourceVersion"])
        events = store.watch("pods", from_revision=0, heartbeat=0.05)
        first = next(events)
        assert first is not None and first.type == "ADDED"
        events.close()
        store.client.close()
    assert not again.running()
