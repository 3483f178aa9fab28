"""Prometheus counters of the API server: requests by verb, resource and code, and latencies."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

REGISTRY = CollectorRegistry()
CONTENT_TYPE = CONTENT_TYPE_LATEST
REQUESTS = Counter(
    "apiserver_request",
    "API requests served, by verb, resource and HTTP code",
    ["verb", "resource", "code"],
    registry=REGISTRY,
)
LATENCY = Histogram(
    "apiserver_request_duration_seconds",
    "Time to answer an API request (to the first byte for watches)",
    ["verb", "resource"],
    registry=REGISTRY,
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


def observe(verb: str, resource: str, code: int, seconds: float) -> None:
    """Count one request."""
    REQUESTS.labels(verb, resource, str(code)).inc()
    LATENCY.labels(verb, resource).observe(seconds)


def render() -> bytes:
    """The metrics in Prometheus' text format (this process's share when several workers serve)."""
    return generate_latest(REGISTRY)
