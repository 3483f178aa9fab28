"""Optimistic concurrency through the real API: many writers, retries on 409, nothing lost."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.e2e.conftest import APIServerProcess

WRITERS = 50
INCREMENTS = 4


def test_fifty_writers_retrying_on_conflict_lose_no_increment(
    apiserver: APIServerProcess, namespace: str
) -> None:
    """Each writer reads, increments ``data.count`` and replaces with CAS, retrying on 409."""
    config = client.Configuration()
    config.host = apiserver.url
    config.connection_pool_maxsize = WRITERS
    with client.ApiClient(config) as api:
        core = client.CoreV1Api(api)
        core.create_namespaced_config_map(
            namespace, {"metadata": {"name": "counter"}, "data": {"count": "0"}}
        )
        conflicts = []

        def writer(_: int) -> None:
            for _ in range(INCREMENTS):
                while True:
                    cm = core.read_namespaced_config_map("counter", namespace)
                    cm.data["count"] = str(int(cm.data["count"]) + 1)
                    try:
                        core.replace_namespaced_config_map("counter", namespace, cm)
                        break
                    except ApiException as exc:
                        assert exc.status == 409, exc.body
                        conflicts.append(1)

        with ThreadPoolExecutor(WRITERS) as pool:
            list(pool.map(writer, range(WRITERS)))
        final = core.read_namespaced_config_map("counter", namespace)
    assert final.data["count"] == str(WRITERS * INCREMENTS)
    assert conflicts, "50 concurrent writers should have raced at least once"
