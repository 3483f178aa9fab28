"""50 writers on one ConfigMap counter through the API, each update carrying the resourceVersion it read.

Every update lands (200) or is refused with 409 Conflict, nothing else; the counter ends equal to the
number of landed updates (no lost update, no double count).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator

import pytest

from ops.hosts.faults import Api
from tests.faults.conftest import apiserver
from tests.figures import report

WRITERS = 50
ATTEMPTS = 20  # per writer
PATH = "/api/v1/namespaces/default/configmaps"


@pytest.fixture(scope="module")
def api(redis_url: str) -> Iterator[Api]:
    with apiserver(redis_url) as server:
        yield server


def writer(api: Api, start: threading.Barrier, outcomes: Counter[int], lock: threading.Lock) -> None:
    conn = api.connect()
    start.wait()
    for _ in range(ATTEMPTS):
        status, cm = api.call("GET", f"{PATH}/counter", conn=conn)
        if status != 200:
            with lock:
                outcomes[-status or -1] += 1
            conn = api.connect()
            continue
        cm["data"]["n"] = str(int(cm["data"]["n"]) + 1)
        status, _ = api.call("PUT", f"{PATH}/counter", cm, conn=conn)
        with lock:
            outcomes[status] += 1
        if status == 0:
            conn = api.connect()
    conn.close()


def test_every_update_lands_or_conflicts_and_counter_equals_landed(api: Api) -> None:
    status, _ = api.call("POST", PATH, {"metadata": {"name": "counter"}, "data": {"n": "0"}})
    assert status == 201
    outcomes: Counter[int] = Counter()
    lock = threading.Lock()
    start = threading.Barrier(WRITERS)
    threads = [threading.Thread(target=writer, args=(api, start, outcomes, lock)) for _ in range(WRITERS)]
    began = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    took = time.monotonic() - began
    status, cm = api.call("GET", f"{PATH}/counter")
    landed, conflicts = outcomes[200], outcomes[409]
    report(
        f"\n{WRITERS} writers x {ATTEMPTS} updates: landed {landed}, conflicts {conflicts}, "
        f"other {sum(outcomes.values()) - landed - conflicts}, final n={cm['data']['n']}, {took:.1f} s"
    )
    assert set(outcomes) <= {200, 409}, outcomes
    assert landed + conflicts == WRITERS * ATTEMPTS
    assert landed >= 1 and conflicts >= 1  # they did contend
    assert int(cm["data"]["n"]) == landed
