"""``python -m workers.dns``: the cluster DNS daemon (watches, listeners, self-registration).

``ClusterDNS(client, ...).start()`` list+watches Services and EndpointSlices into a ``Catalog``,
serves DNS on UDP and TCP, and registers itself as ``kube-system/kube-dns`` (again whenever the
Service or its own EndpointSlice is deleted, and every ``REGISTER_SECONDS``); ``close()`` withdraws
its EndpointSlice and stops. ``main(argv)`` is the command line:

    python -m workers.dns --server URL [--port P] [--address A] [--advertise-address IP]
                          [--domain cluster.local] [--upstream IP[:PORT] ...] [--no-register]

Default port: 53 when running as root and it is free, else 10053. Upstreams default to the host's
non-loopback resolvers (``/etc/resolv.conf``).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import threading
import time
from typing import Any

from cluster.client.client import Client
from workers.dns.catalog import Catalog
from workers.dns.selfreg import NAME, NAMESPACE, SERVICES, SLICES, Registration, host_address
from workers.dns.server import DNSServer
from workers.dns.upstream import Forwarder, host_upstreams

REGISTER_SECONDS = 30.0
UNPRIVILEGED_PORT = 10053
log = logging.getLogger(__name__)


def default_port(address: str = "0.0.0.0") -> int:
    """53 when root and both UDP and TCP 53 are free on ``address``, else 10053."""
    if os.geteuid() != 0:
        return UNPRIVILEGED_PORT
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        with socket.socket(family, kind) as sock:
            try:
                sock.bind((address, 53))
            except OSError:
                return UNPRIVILEGED_PORT
    return 53


class ClusterDNS:
    """The running DNS server of one replica; see the module doc."""

    def __init__(
        self,
        client: Client,
        domain: str = "cluster.local",
        address: str = "0.0.0.0",
        port: int = 0,
        upstreams: list[str] | None = None,
        advertise: str = "",
        register: bool = True,
    ) -> None:
        self.client = client
        self.catalog = Catalog()
        forwarder = Forwarder(host_upstreams() if upstreams is None else upstreams)
        self.server = DNSServer(self.catalog, domain, forwarder, address, port)
        self.advertise = advertise or (address if address not in ("0.0.0.0", "::", "") else host_address())
        self.register = register
        self.registration: Registration | None = None
        self.stop = threading.Event()
        self._kick = threading.Event()

    def start(self) -> ClusterDNS:
        self.server.start()
        for resource in (SERVICES, SLICES):
            threading.Thread(
                target=self._watch, args=(resource,), name=f"dns-watch-{resource.plural}", daemon=True
            ).start()
        if self.register:
            self.registration = Registration(self.client, self.advertise, self.server.port)
            threading.Thread(target=self._register_loop, name="dns-register", daemon=True).start()
        return self

    def wait_synced(self, timeout: float = 10.0) -> bool:
        """True once both kinds have been listed (answers before that may miss names)."""
        deadline = time.monotonic() + timeout
        while not {"services", "endpointslices"} <= self.catalog.synced:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

    def close(self) -> None:
        self.stop.set()
        self._kick.set()
        if self.registration is not None:
            try:
                self.registration.withdraw()
            except Exception:  # the API server gone first: the slice outlives us, as a dead node's would
                log.warning("dns: could not withdraw the EndpointSlice", exc_info=True)
        self.server.close()

    def _watch(self, resource: Any) -> None:
        while not self.stop.is_set():
            try:
                for event in self.client.list_and_watch(resource, synced_marker=True):
                    if self.stop.is_set():
                        return
                    if event["type"] == "SYNCED":
                        self.catalog.synced.add(resource.plural)
                        continue
                    self.catalog.apply({**event, "object": {"kind": resource.kind, **event["object"]}})
                    if event["type"] == "DELETED" and self._mine(event["object"]):
                        self._kick.set()
            except Exception:  # the API server restarted: list and watch again
                if self.stop.is_set():
                    return
                log.warning("dns: %s watch failed; watching again", resource.plural, exc_info=True)
                self.stop.wait(0.5)

    def _mine(self, obj: dict) -> bool:
        md = obj.get("metadata") or {}
        if md.get("namespace") != NAMESPACE or self.registration is None:
            return False
        return md.get("name") in (NAME, self.registration.slice_name)

    def _register_loop(self) -> None:
        assert self.registration is not None
        while not self.stop.is_set():
            self._kick.clear()
            try:
                written = self.registration.ensure()
                if written:
                    log.info("dns: registered %s", ", ".join(written))
            except Exception:
                log.warning("dns: registration failed; retrying", exc_info=True)
                self.stop.wait(1.0)
                continue
            self._kick.wait(REGISTER_SECONDS)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m workers.dns", description="kubeq cluster DNS")
    parser.add_argument("--server", required=True, help="API server URL")
    parser.add_argument(
        "--port", type=int, default=None, help="listening port (default 53 as root if free, else 10053)"
    )
    parser.add_argument("--address", default="0.0.0.0", help="listening address")
    parser.add_argument("--advertise-address", default="", help="the address put in the EndpointSlice")
    parser.add_argument("--domain", default=os.environ.get("KUBEQ_CLUSTER_DOMAIN", "cluster.local"))
    parser.add_argument("--upstream", action="append", default=None, help="upstream resolver (repeatable)")
    parser.add_argument("--no-register", action="store_true", help="do not create kube-dns objects")
    parser.add_argument("--token", default=os.environ.get("KUBEQ_TOKEN"))
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(list(argv) if argv is not None else [])
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    kubeconfig = os.environ.get("KUBEQ_KUBECONFIG", "")
    if kubeconfig and not args.token:  # `kubeq up` hands the DNS its client certificate this way
        client = Client.from_kubeconfig(kubeconfig, user_agent="kubeq-dns")
    else:
        client = Client(args.server, token=args.token, user_agent="kubeq-dns")
    port = args.port if args.port is not None else default_port(args.address)
    dns = ClusterDNS(
        client,
        domain=args.domain,
        address=args.address,
        port=port,
        upstreams=args.upstream,
        advertise=args.advertise_address,
        register=not args.no_register,
    )
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    dns.start()
    print(f"dns listening on {args.address}:{dns.server.port}", flush=True)
    done.wait()
    dns.close()
