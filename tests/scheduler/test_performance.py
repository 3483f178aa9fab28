"""How long one cycle takes at 5,000 nodes (printed with -s; no timing asserts)."""

from __future__ import annotations

import random
import statistics
import time

from tasks.scheduler.framework import Snapshot, pod_info, schedule_one
from tests.scheduler.objects import node, pod


def _nodes(count: int):
    return [
        node(f"n{i}", cpu="32", memory="256Gi", labels={"topology.kubernetes.io/zone": f"zone-{i % 4}"})
        for i in range(count)
    ]


def test_schedule_one_latency_at_5000_nodes(profile):
    snap = Snapshot.from_objects(_nodes(5000))
    rng = random.Random(1)
    times = []
    for i in range(1000):
        info = pod_info(pod(f"p{i}", cpu="250m", memory="256Mi"))
        start = time.perf_counter()
        res = schedule_one(profile, info, snap, rng)
        times.append(time.perf_counter() - start)
        snap.add_pod(res.node_name, info)
    assert res.evaluated == 500 and res.feasible == 500
    spread = {"app": "web"}
    constraint = {
        "maxSkew": 1,
        "topologyKey": "topology.kubernetes.io/zone",
        "whenUnsatisfiable": "DoNotSchedule",
        "labelSelector": {"matchLabels": spread},
    }
    spread_times = []
    for i in range(100):
        info = pod_info(pod(f"s{i}", cpu="250m", labels=spread, topologySpreadConstraints=[constraint]))
        start = time.perf_counter()
        res = schedule_one(profile, info, snap, rng)
        spread_times.append(time.perf_counter() - start)
        snap.add_pod(res.node_name, info)
    zones = [0] * 4
    for n in snap.nodes:
        zones[int(n.labels["topology.kubernetes.io/zone"][-1])] += sum(
            1 for p in n.pods.values() if p.labels == spread
        )
    assert max(zones) - min(zones) <= 1
    print(
        f"\nschedule_one at 5000 nodes: plain pod median {statistics.median(times) * 1e3:.3f} ms"
        f" (p90 {sorted(times)[900] * 1e3:.3f} ms); with a zone spread constraint"
        f" median {statistics.median(spread_times) * 1e3:.3f} ms"
    )
