"""The benchmarked HTTP operations: configmap create/get/list/update and watch delivery.

Every HTTP client owns one keep-alive ``http.client`` connection. Objects are ConfigMaps with one
data key of ``VALUE_BYTES`` characters.
"""

from __future__ import annotations

import http.client
import itertools
import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from ops.bench.harness import CpuMeter, Operation, Result, run_clients

VALUE_BYTES = 64  # at least 20: values hold a nanosecond counter
LIST_SIZE = 100
LIST_LIMIT = 500
NS_CREATE, NS_LIST, NS_UPDATE, NS_WATCH = "bench-create", "bench-list", "bench-update", "bench-watch"
_HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}


def configmap(namespace: str, name: str, value: str, rv: str | None = None) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "namespace": namespace}
    if rv is not None:
        metadata["resourceVersion"] = rv
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": {"value": value}}


def _value(n: int) -> str:
    return str(n).rjust(VALUE_BYTES, "x")


class Client:
    """One keep-alive HTTP connection; ``call`` returns (status, body) and reconnects after errors."""

    def __init__(self, base_url: str, timeout: float = 30.0) -> None:
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.timeout = timeout
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def call(self, method: str, path: str, obj: Any = None) -> tuple[int, bytes]:
        body = None if obj is None else json.dumps(obj).encode()
        try:
            self.conn.request(method, path, body=body, headers=_HEADERS)
            resp = self.conn.getresponse()
            return resp.status, resp.read()
        except (http.client.HTTPException, OSError):
            self.conn.close()
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            return 0, b""

    def must(self, method: str, path: str, obj: Any = None, ok: tuple[int, ...] = (200, 201)) -> Any:
        status, body = self.call(method, path, obj)
        if status not in ok:
            raise RuntimeError(f"{method} {path}: {status} {body[:300]!r}")
        return json.loads(body) if body else None

    def close(self) -> None:
        self.conn.close()


def cm_path(namespace: str, name: str = "") -> str:
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    return f"{base}/{name}" if name else base


def prepare(base_url: str, max_clients: int) -> dict[str, int]:
    """Namespaces, the list namespace's ``LIST_SIZE`` configmaps, one configmap per updating client.

    Returns sizes observed: bytes of one configmap and of one list response.
    """
    client = Client(base_url)
    try:
        for ns in (NS_CREATE, NS_LIST, NS_UPDATE, NS_WATCH):
            client.must("POST", "/api/v1/namespaces", {"metadata": {"name": ns}}, ok=(201, 409))
        for i in range(LIST_SIZE):
            client.must("POST", cm_path(NS_LIST), configmap(NS_LIST, f"cm-{i}", _value(i)), ok=(201, 409))
        for ns in (NS_UPDATE, NS_WATCH):
            for i in range(max_clients):
                client.must("POST", cm_path(ns), configmap(ns, f"cm-{i}", _value(i)), ok=(201, 409))
        _, one = client.call("GET", cm_path(NS_LIST, "cm-0"))
        _, listed = client.call("GET", cm_path(NS_LIST) + f"?limit={LIST_LIMIT}")
        return {"object_bytes": len(one), "list_response_bytes": len(listed)}
    finally:
        client.close()


# -- HTTP verbs --------------------------------------------------------------------------------


def http_create(base_url: str, clients: int, seconds: float, cpu: CpuMeter | None, run: str) -> Result:
    def setup(i: int) -> Operation:
        client = Client(base_url)
        client.must("GET", cm_path(NS_LIST, "cm-0"))
        names = (f"{run}-{i}-{n}" for n in itertools.count())
        path = cm_path(NS_CREATE)

        def op() -> bool:
            return client.call("POST", path, configmap(NS_CREATE, next(names), _value(i)))[0] == 201

        return op

    return run_clients("create", clients, seconds, setup, cpu)


def http_get(base_url: str, clients: int, seconds: float, cpu: CpuMeter | None) -> Result:
    def setup(i: int) -> Operation:
        client = Client(base_url)
        paths = itertools.cycle([cm_path(NS_LIST, f"cm-{(i + k) % LIST_SIZE}") for k in range(LIST_SIZE)])
        client.must("GET", next(paths))
        return lambda: client.call("GET", next(paths))[0] == 200

    return run_clients("get", clients, seconds, setup, cpu)


def http_list(base_url: str, clients: int, seconds: float, cpu: CpuMeter | None) -> Result:
    path = cm_path(NS_LIST) + f"?limit={LIST_LIMIT}"

    def setup(i: int) -> Operation:
        client = Client(base_url)
        client.must("GET", path)
        return lambda: client.call("GET", path)[0] == 200

    return run_clients("list", clients, seconds, setup, cpu)


def _updater(base_url: str, namespace: str, i: int, on_write: Any = None) -> Operation:
    """PUT with the last seen resourceVersion (compare-and-swap) on this client's own configmap."""
    client = Client(base_url)
    name = f"cm-{i}"
    path = cm_path(namespace, name)
    rv = [client.must("GET", path)["metadata"]["resourceVersion"]]
    counter = itertools.count(time.time_ns())  # a new value every time: no-op updates write nothing

    def op() -> bool:
        status, body = client.call("PUT", path, configmap(namespace, name, _value(next(counter)), rv[0]))
        if status != 200:
            if status == 409:  # resync and go on; counted as a failure
                status, body = client.call("GET", path)
                if status == 200:
                    rv[0] = json.loads(body)["metadata"]["resourceVersion"]
            return False
        rv[0] = json.loads(body)["metadata"]["resourceVersion"]
        if on_write is not None:
            on_write(name, rv[0], time.perf_counter())
        return True

    return op


def http_update(base_url: str, clients: int, seconds: float, cpu: CpuMeter | None) -> Result:
    return run_clients("update", clients, seconds, lambda i: _updater(base_url, NS_UPDATE, i), cpu)


class Watcher:
    """A watch on the watch namespace's configmaps, read in a thread; arrival time per (name, rv)."""

    def __init__(self, base_url: str) -> None:
        self.client = Client(base_url, timeout=60)
        listed = self.client.must("GET", cm_path(NS_WATCH) + "?limit=1")
        rv = listed["metadata"]["resourceVersion"]
        self.client.conn.request("GET", cm_path(NS_WATCH) + f"?watch=true&resourceVersion={rv}")
        self.response = self.client.conn.getresponse()
        if self.response.status != 200:
            raise RuntimeError(f"watch: {self.response.status} {self.response.read()[:300]!r}")
        self.arrivals: dict[tuple[str, str], float] = {}
        self.thread = threading.Thread(target=self._read, name="watcher", daemon=True)
        self.thread.start()

    def _read(self) -> None:
        clock = time.perf_counter
        try:
            for line in iter(self.response.readline, b""):
                if not line.strip():
                    continue
                meta = json.loads(line)["object"].get("metadata", {})
                self.arrivals[(meta.get("name", ""), meta.get("resourceVersion", ""))] = clock()
        except (http.client.HTTPException, OSError, ValueError):
            return

    def close(self) -> None:
        sock = self.client.conn.sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.thread.join(5)
        self.client.close()


def watch_delivery(base_url: str, clients: int, seconds: float, cpu: CpuMeter | None) -> Result:
    """``clients`` updaters write; one watcher receives. Latency: write response -> event arrival.

    An event that arrives before its writer has read the response counts as 0 ms. Throughput is
    events delivered per second; writes whose event never arrived (5 s grace) count as errors.
    """
    watcher = Watcher(base_url)
    writes: dict[tuple[str, str], float] = {}

    def record(name: str, rv: str, at: float) -> None:
        writes[(name, rv)] = at

    try:
        writing = run_clients(
            "watch", clients, seconds, lambda i: _updater(base_url, NS_WATCH, i, record), cpu
        )
        grace = time.monotonic() + 5
        while time.monotonic() < grace and not writes.keys() <= watcher.arrivals.keys():
            time.sleep(0.02)
    finally:
        watcher.close()
    latencies = [
        max(watcher.arrivals[key] - at, 0.0) * 1000.0 for key, at in writes.items() if key in watcher.arrivals
    ]
    missing = len(writes) - len(latencies)
    return Result(
        "watch", clients, len(latencies), missing + writing.errors, writing.seconds, latencies, writing.cpu
    )


# -- the server's own counters ------------------------------------------------------------------

PHASE_METRIC = "kubeq_apiserver_phase_seconds_total"
DURATION_METRIC = "apiserver_request_duration_seconds"


def _samples(base_url: str) -> Iterator[Any]:
    """Every sample of the API server's ``/metrics``."""
    from prometheus_client.parser import text_string_to_metric_families

    client = Client(base_url)
    try:
        status, body = client.call("GET", "/metrics")
    finally:
        client.close()
    if status != 200:
        raise RuntimeError(f"GET /metrics: {status} {body[:300]!r}")
    for family in text_string_to_metric_families(body.decode()):
        yield from family.samples


def request_totals(base_url: str) -> dict[str, tuple[float, float]]:
    """Every request the API server has answered so far, from ``/metrics``:
    ``"verb resource[/subresource]"`` -> (count, summed seconds). Watches count their start only."""
    out: dict[str, tuple[float, float]] = {}
    for sample in _samples(base_url):
        which = {DURATION_METRIC + "_count": 0, DURATION_METRIC + "_sum": 1}.get(sample.name)
        if which is None or not sample.labels.get("resource"):
            continue
        sub = sample.labels.get("subresource") or ""
        key = f"{sample.labels['verb']} {sample.labels['resource']}" + (f"/{sub}" if sub else "")
        got = list(out.get(key, (0.0, 0.0)))
        got[which] += sample.value
        out[key] = (got[0], got[1])
    return out


def scrape(base_url: str, resource: str = "configmaps") -> dict[tuple[str, str], float]:
    """The API server's per-verb counters from ``/metrics``: (verb, phase) -> seconds for each phase,
    (verb, "requests") and (verb, "seconds") -> count and summed duration of ``resource`` requests.

    Meaningful across workers only when the server runs in multi-process metrics mode (see
    ``cluster.apiserver.metrics``), as ``ops.bench.api.apiserver`` starts it.
    """
    out: dict[tuple[str, str], float] = {}
    for sample in _samples(base_url):
        labels = sample.labels
        if sample.name == PHASE_METRIC:
            key = (labels["verb"], labels["phase"])
        elif labels.get("resource") != resource:
            continue
        elif sample.name == DURATION_METRIC + "_count":
            key = (labels["verb"], "requests")
        elif sample.name == DURATION_METRIC + "_sum":
            key = (labels["verb"], "seconds")
        else:
            continue
        out[key] = out.get(key, 0.0) + sample.value
    return out
