"""Hollow nodes (like kwok): Nodes, Leases and pod lifecycles through the API, with no processes run.

``HollowFleet.start()`` registers the nodes (create, or update when present) on a small thread
pool, then renews each node's Lease every ``lease_seconds`` (10; node ``i`` at offset
``i/N * lease_seconds``, so renewals are spread over the interval), refreshes node heartbeats every
``NODE_STATUS_EVERY`` seconds, and runs pods bound to its nodes (see ``pods.py``). ``close()`` stops
all that and leaves the nodes in place, as a stopped kubelet does.
"""

from __future__ import annotations

import logging
import resource
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from cluster import errors
from cluster.api.resources import lookup
from cluster.client.client import Client, client_for
from cluster.settings import Settings
from workers.hollow.objects import NodeSpec, node_conditions, node_object
from workers.hollow.pods import PodRunner
from workers.hollow.timers import Timers
from workers.node.lease import NAMESPACE as LEASE_NAMESPACE
from workers.node.lease import lease_object, micro_timestamp

NODES = lookup("", "v1", "nodes")
LEASES = lookup("coordination.k8s.io", "v1", "leases")
NAMESPACES = lookup("", "v1", "namespaces")
LEASE_RENEW = 10.0
NODE_STATUS_EVERY = 60.0
log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass
class Registration:
    """What registering took: nodes, seconds, and this process's peak RSS in MiB afterwards."""

    nodes: int
    seconds: float
    rss_mib: float

    def __str__(self) -> str:
        rate = self.nodes / self.seconds if self.seconds else 0.0
        return (
            f"registered {self.nodes} hollow nodes in {self.seconds:.2f} s "
            f"({rate:.0f} nodes/s), RSS {self.rss_mib:.0f} MiB"
        )


def peak_rss_mib() -> float:
    """This process's peak resident set size in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _retry(fn: Callable[[], T], attempts: int = 20) -> T:
    """``fn()``, retried with backoff while the API server is unreachable or overloaded."""
    delay = 0.1
    for attempt in range(attempts):
        try:
            return fn()
        except (OSError, errors.ServiceUnavailable, errors.TooManyRequests, errors.InternalError):
            if attempt == attempts - 1:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 2.0)
    raise AssertionError("unreachable")


class HollowFleet:
    """``count`` hollow nodes named ``<prefix>-<i>``, acting through the API at ``server``."""

    def __init__(
        self,
        server: str | Client,
        count: int,
        prefix: str = "hollow",
        cpu: str = "32",
        memory: str = "256Gi",
        pods: int = 110,
        startup_ms: int = 0,
        workers: int = 8,
        lease_seconds: float = LEASE_RENEW,
    ) -> None:
        self.client = (
            server if isinstance(server, Client) else Client(server, user_agent="kubeq-hollow-nodes")
        )
        self.nodes = {
            f"{prefix}-{i}": NodeSpec(f"{prefix}-{i}", i, cpu=cpu, memory=memory, pods=pods)
            for i in range(count)
        }
        self.timers = Timers(workers)
        self.pods = PodRunner(self.client, self.nodes, self.timers, startup_ms / 1000)
        self.lease_seconds = lease_seconds
        self.stop = threading.Event()
        self._since = datetime.now(UTC)
        self._watch: threading.Thread | None = None

    # ---- lifecycle -------------------------------------------------------------------------
    def start(self) -> Registration:
        """Register every node and its Lease, then start renewing and watching pods."""
        began = time.monotonic()
        self._ensure_namespace()
        specs = list(self.nodes.values())
        for _ in self.timers.pool.map(self._register, specs):
            pass
        took = time.monotonic() - began
        now = time.monotonic()
        beats_per_lease = max(1, round(NODE_STATUS_EVERY / self.lease_seconds))
        for i, spec in enumerate(specs):
            offset = self.lease_seconds * i / len(specs)
            self.timers.at(now + offset, self._renewer(spec, now + offset, beats_per_lease))
        self._watch = threading.Thread(
            target=self.pods.watch_forever, args=(self.stop,), name="hollow-pod-watch", daemon=True
        )
        self._watch.start()
        return Registration(len(specs), took, peak_rss_mib())

    def close(self) -> None:
        """Stop renewing and running pods; the nodes stay registered."""
        self.stop.set()
        self.timers.close()
        if self._watch is not None:
            self._watch.join(timeout=0.5)  # a daemon; it ends with its watch request

    # ---- registration ----------------------------------------------------------------------
    def _ensure_namespace(self) -> None:
        ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": LEASE_NAMESPACE}}
        try:
            _retry(lambda: self.client.create(ns))
        except errors.AlreadyExists:
            pass

    def _register(self, spec: NodeSpec) -> None:
        now = datetime.now(UTC)
        wanted = node_object(spec, now)
        try:
            _retry(lambda: self.client.create(wanted))
        except errors.AlreadyExists:
            _retry(lambda: self._update_node(spec, wanted))
        self._renew_lease(spec)

    def _update_node(self, spec: NodeSpec, wanted: dict[str, Any]) -> None:
        """Lay our labels, spec and status over an existing node (retrying on 409)."""
        for _ in range(10):
            node = self.client.get(NODES, spec.name)
            md = node["metadata"]
            md["labels"] = {**(md.get("labels") or {}), **wanted["metadata"]["labels"]}
            md["annotations"] = {**(md.get("annotations") or {}), **wanted["metadata"]["annotations"]}
            node["spec"] = {**wanted["spec"], **{k: v for k, v in (node.get("spec") or {}).items() if v}}
            try:
                node = self.client.update(node)
                node["status"] = wanted["status"]
                self.client.update(node, subresource="status")
                return
            except errors.Conflict:
                continue
        raise errors.Conflict(f"node {spec.name} kept changing while being registered")

    # ---- periodic work ---------------------------------------------------------------------
    def _renewer(self, spec: NodeSpec, due: float, beats_per_lease: int) -> Callable[[], None]:
        """A timer callback renewing ``spec``'s Lease at ``due`` and re-arming itself."""
        count = 0

        def renew() -> None:
            nonlocal due, count
            if self.stop.is_set():
                return
            count += 1
            try:
                self._renew_lease(spec)
                if count % beats_per_lease == 0:
                    self._heartbeat(spec)
            except (errors.StatusError, OSError) as exc:
                log.warning("renewing %s: %s", spec.name, exc)
            due += self.lease_seconds
            self.timers.at(max(due, time.monotonic()), renew)

        return renew

    def _renew_lease(self, spec: NodeSpec) -> None:
        now = datetime.now(UTC)
        patch = {"spec": {"holderIdentity": spec.name, "renewTime": micro_timestamp(now)}}
        try:
            self.client.patch(LEASES, spec.name, patch, namespace=LEASE_NAMESPACE)
        except errors.NotFound:
            try:
                self.client.create(lease_object(spec.name, now))
            except errors.AlreadyExists:
                pass

    def _heartbeat(self, spec: NodeSpec) -> None:
        """Refresh the node's condition heartbeats (re-registering the node if it was deleted)."""
        now = datetime.now(UTC)
        patch = {"status": {"conditions": node_conditions(now, self._since)}}
        try:
            self.client.patch(NODES, spec.name, patch, patch_type="strategic", subresource="status")
        except errors.NotFound:
            try:
                self.client.create(node_object(spec, now))
            except errors.AlreadyExists:
                pass


def run_hollow_nodes(
    settings: Settings,
    count: int,
    prefix: str = "hollow",
    cpu: str = "32",
    memory: str = "256Gi",
    pods: int = 110,
    startup_ms: int = 0,
    stop: threading.Event | None = None,
    on_registered: Callable[[Registration], None] | None = None,
    lease_seconds: float = LEASE_RENEW,
) -> Registration:
    """Run ``count`` hollow nodes against ``settings.api_server`` until ``stop`` is set (or forever).

    Registers the nodes first (``on_registered`` gets the measurement), then keeps their Leases
    and pods going. Returns the registration measurement once stopped; the nodes stay.
    """
    fleet = HollowFleet(
        client_for(settings, user_agent="kubeq-hollow-nodes"),
        count,
        prefix,
        cpu=cpu,
        memory=memory,
        pods=pods,
        startup_ms=startup_ms,
        lease_seconds=lease_seconds,
    )
    stop = stop or threading.Event()
    try:
        registration = fleet.start()
        log.info("%s", registration)
        if on_registered is not None:
            on_registered(registration)
        stop.wait()
        return registration
    finally:
        fleet.close()
