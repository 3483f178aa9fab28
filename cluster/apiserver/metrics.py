"""Prometheus counters of the API server: requests by verb, resource and code, latencies, and the
time per request phase (``kubeq_apiserver_phase_seconds_total{verb,phase}``, see ``phases``).

With ``PROMETHEUS_MULTIPROC_DIR`` set (prometheus_client's multi-process mode, read when the
process starts) every gunicorn worker writes its values there and ``/metrics`` reports the sum of
all workers; without it, each worker reports its own share.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

REGISTRY = CollectorRegistry()
CONTENT_TYPE = CONTENT_TYPE_LATEST
REQUESTS = Counter(
    "apiserver_request",
    "API requests served, by verb, resource, subresource and HTTP code",
    ["verb", "resource", "subresource", "code"],
    registry=REGISTRY,
)
LATENCY = Histogram(
    "apiserver_request_duration_seconds",
    "Time to answer an API request (to the first byte for watches)",
    ["verb", "resource", "subresource"],
    registry=REGISTRY,
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)

PHASE_SECONDS = Counter(
    "kubeq_apiserver_phase_seconds",
    "Wall time spent in each phase of API requests (decode, admission, store, encode), by verb",
    ["verb", "phase"],
    registry=REGISTRY,
)
PHASES = ("decode", "admission", "store", "encode")
_phase_children: dict[str, tuple[Counter, Counter, Counter, Counter]] = {}


def phase_counters(verb: str) -> tuple[Counter, Counter, Counter, Counter]:
    """The decode, admission, store and encode counters of ``verb`` (bound once per verb)."""
    children = _phase_children.get(verb)
    if children is None:
        d, a, s, e = (PHASE_SECONDS.labels(verb, phase) for phase in PHASES)
        children = _phase_children[verb] = (d, a, s, e)
    return children


_request_children: dict[tuple[str, str, str, int], tuple[Counter, Histogram]] = {}


def observe(verb: str, resource: str, code: int, seconds: float, subresource: str = "") -> None:
    """Count one request (the labelled children are looked up once per verb, resource, subresource
    and code)."""
    key = (verb, resource, subresource, code)
    children = _request_children.get(key)
    if children is None:
        children = (
            REQUESTS.labels(verb, resource, subresource, str(code)),
            LATENCY.labels(verb, resource, subresource),
        )
        _request_children[key] = children
    children[0].inc()
    children[1].observe(seconds)


_before_render: list[Callable[[], None]] = []


def before_render(fn: Callable[[], None]) -> None:
    """Call ``fn`` (e.g. publishing batched sums) before every ``render``."""
    _before_render.append(fn)


def render() -> bytes:
    """The metrics in Prometheus' text format: all workers' sum in multi-process mode (see above),
    else this process's share."""
    for fn in _before_render:
        fn()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        merged = CollectorRegistry()
        multiprocess.MultiProcessCollector(merged)
        return generate_latest(merged)
    return generate_latest(REGISTRY)
