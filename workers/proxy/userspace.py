"""The userspace proxy: listen on every Service address of a ``ProxyState`` and forward to its endpoints.

``Forwarder.apply(state)`` (on a running asyncio loop) makes the open listeners equal to what the
state asks for, closing the ones that are gone:

- every ClusterIP:port (cluster-internal traffic), every NodePort on ``0.0.0.0`` and every
  load-balancer or external IP:port that is a local address (external traffic), TCP and UDP;
- listeners set SO_REUSEADDR and SO_REUSEPORT: several nodes of one host bind the same addresses.

A new TCP connection goes to a random endpoint among ``model.targets(...)`` (Local policies honoured);
with ClientIP affinity a client keeps its endpoint while it is still a target and it came back within
the timeout. An endpoint that refuses is dropped from the pick and another one tried; a connection
with no target left is reset at once (Kubernetes rejects it). A UDP client gets a flow (a socket
connected to its endpoint) that replies come back through; flows idle for ``udp_idle`` seconds, or
whose endpoint stopped being a target, are closed. Established TCP connections are left alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import random
import socket
import struct
import time
from dataclasses import dataclass, field
from typing import Any

from tasks.proxy.model import Endpoint, ProxyState, ServicePort, targets

log = logging.getLogger("kubeq.proxy.userspace")
CONNECT_TIMEOUT = 3.0
UDP_IDLE_SECONDS = 30.0
BUFFER = 65536
ListenerKey = tuple[str, str, int]  # (protocol, address, port)


@dataclass
class Listener:
    """One open address; ``service`` (a ServicePort key) and ``external`` may change between applies."""

    key: ListenerKey
    service: str
    external: bool
    sock: socket.socket
    server: Any = None  # asyncio.Server (TCP) or DatagramTransport (UDP)
    flows: dict[tuple[str, int], _Flow] = field(default_factory=dict)


@dataclass
class _Flow:
    sock: socket.socket
    endpoint: Endpoint
    last: float


def bind_socket(protocol: str, address: str, port: int) -> socket.socket:
    """A non-blocking socket bound to ``address:port`` with address and port reuse; ``OSError`` if not."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    kind = socket.SOCK_STREAM if protocol == "TCP" else socket.SOCK_DGRAM
    sock = socket.socket(family, kind)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.setblocking(False)
        sock.bind((address, port))
        if kind == socket.SOCK_STREAM:
            sock.listen(512)
    except OSError:
        sock.close()
        raise
    return sock


def wanted_listeners(state: ProxyState) -> dict[ListenerKey, tuple[str, bool]]:
    """Every address the state asks to listen on -> (ServicePort key, external?)."""
    out: dict[ListenerKey, tuple[str, bool]] = {}
    for sp in state.services:
        if sp.protocol not in ("TCP", "UDP"):
            continue
        for ip in sp.cluster_ips:
            out.setdefault((sp.protocol, ip, sp.port), (sp.key, False))
        if sp.node_port:
            out.setdefault((sp.protocol, "0.0.0.0", sp.node_port), (sp.key, True))
        for ip in (*sp.load_balancer_ips, *sp.external_ips):
            out.setdefault((sp.protocol, ip, sp.port), (sp.key, True))
    return out


class Forwarder:
    """The listeners and forwarding of one node (see the module docstring). Use from one event loop."""

    def __init__(self, udp_idle: float = UDP_IDLE_SECONDS, connect_timeout: float = CONNECT_TIMEOUT) -> None:
        self.udp_idle, self.connect_timeout = udp_idle, connect_timeout
        self.node = ""
        self.services: dict[str, ServicePort] = {}
        self.listeners: dict[ListenerKey, Listener] = {}
        self.affinity: dict[tuple[str, str], tuple[Endpoint, float]] = {}  # (svc, client ip) -> ep, until
        self.failed: list[str] = []  # addresses that could not be bound at the last apply
        self.fingerprint = ""
        self._sweeper: asyncio.Task[None] | None = None

    # ---- apply ---------------------------------------------------------------------------------
    async def apply(self, state: ProxyState) -> dict[str, int]:
        """Listen exactly where ``state`` says; summary counts (services, listeners, endpoints, failed)."""
        self.node = state.node
        self.services = {sp.key: sp for sp in state.services}
        wanted = wanted_listeners(state)
        for key in [k for k in self.listeners if k not in wanted]:
            self._close(self.listeners.pop(key))
        failed = []
        for key, (service, external) in wanted.items():
            have = self.listeners.get(key)
            if have is not None:
                have.service, have.external = service, external
                continue
            try:
                self.listeners[key] = await self._open(key, service, external)
            except OSError as exc:
                failed.append(f"{key[0]} {key[1]}:{key[2]}")
                quiet = external and key[1] != "0.0.0.0" and exc.errno == errno.EADDRNOTAVAIL
                (log.debug if quiet else log.warning)("cannot listen on %s %s:%d: %s", *key, exc)
        self.failed = failed
        self._drop_stale_flows()
        if self._sweeper is None or self._sweeper.done():
            self._sweeper = asyncio.get_running_loop().create_task(self._sweep())
        self.fingerprint = state.fingerprint()
        return {
            "services": len(self.services),
            "listeners": len(self.listeners),
            "endpoints": sum(len(sp.endpoints) for sp in state.services),
            "failed": len(failed),
        }

    async def close(self) -> None:
        """Close every listener and flow (what ``cleanup`` does)."""
        for listener in self.listeners.values():
            self._close(listener)
        self.listeners.clear()
        self.services.clear()
        self.affinity.clear()
        self.fingerprint = ""
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None

    async def _open(self, key: ListenerKey, service: str, external: bool) -> Listener:
        protocol, address, port = key
        sock = bind_socket(protocol, address, port)
        listener = Listener(key, service, external, sock)
        loop = asyncio.get_running_loop()
        try:
            if protocol == "TCP":
                listener.server = await asyncio.start_server(
                    lambda r, w: self._tcp(listener, r, w), sock=sock, limit=BUFFER
                )
            else:
                listener.server, _ = await loop.create_datagram_endpoint(
                    lambda: _UdpListener(self, listener), sock=sock
                )
        except OSError:
            sock.close()
            raise
        return listener

    def _close(self, listener: Listener) -> None:
        if listener.server is not None:
            listener.server.close()
        with contextlib.suppress(OSError):
            listener.sock.close()
        for addr in list(listener.flows):
            self._end_flow(listener, addr)

    # ---- choosing an endpoint ------------------------------------------------------------------
    def pick(
        self, service: str, client_ip: str, external: bool, exclude: set[Endpoint] = frozenset()
    ) -> Endpoint | None:
        """The endpoint for a new connection or flow of ``client_ip`` to ``service``, or None."""
        sp = self.services.get(service)
        if sp is None:
            return None
        usable = [e for e in targets(sp, self.node, external) if e not in exclude]
        if not usable:
            return None
        now = time.monotonic()
        if sp.affinity_seconds:
            held = self.affinity.get((service, client_ip))
            if held is not None and held[1] > now and held[0] in usable:
                chosen = held[0]
            else:
                chosen = random.choice(usable)
            self.affinity[(service, client_ip)] = (chosen, now + sp.affinity_seconds)
            return chosen
        return random.choice(usable)

    def _forget(self, service: str, client_ip: str) -> None:
        self.affinity.pop((service, client_ip), None)

    # ---- TCP -----------------------------------------------------------------------------------
    async def _tcp(
        self, listener: Listener, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        peer = writer.get_extra_info("peername") or ("", 0)
        service, tried = listener.service, set()
        while True:
            endpoint = self.pick(service, peer[0], listener.external, tried)
            if endpoint is None:
                _reset(writer)
                return
            try:
                up_reader, up_writer = await asyncio.wait_for(
                    asyncio.open_connection(endpoint.ip, endpoint.port, limit=BUFFER), self.connect_timeout
                )
                break
            except (TimeoutError, OSError) as exc:
                log.info("endpoint %s:%d of %s failed: %s", endpoint.ip, endpoint.port, service, exc)
                tried.add(endpoint)
                self._forget(service, peer[0])
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        for w in (writer, up_writer):
            w.close()

    # ---- UDP -----------------------------------------------------------------------------------
    def udp_in(self, listener: Listener, data: bytes, addr: tuple[str, int]) -> None:
        flow = listener.flows.get(addr)
        now = time.monotonic()
        if flow is None:
            endpoint = self.pick(listener.service, addr[0], listener.external)
            if endpoint is None:
                return  # no target: the datagram is dropped
            family = socket.AF_INET6 if ":" in endpoint.ip else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_DGRAM)
            sock.setblocking(False)
            try:
                sock.connect((endpoint.ip, endpoint.port))
            except OSError as exc:
                sock.close()
                log.info("udp endpoint %s:%d unreachable: %s", endpoint.ip, endpoint.port, exc)
                return
            flow = listener.flows[addr] = _Flow(sock, endpoint, now)
            asyncio.get_running_loop().add_reader(sock.fileno(), self._udp_back, listener, addr, flow)
        flow.last = now
        with contextlib.suppress(OSError):
            flow.sock.send(data)

    def _udp_back(self, listener: Listener, addr: tuple[str, int], flow: _Flow) -> None:
        try:
            data = flow.sock.recv(BUFFER)
        except BlockingIOError:
            return
        except OSError:  # e.g. ICMP port unreachable from the endpoint: end the flow
            self._end_flow(listener, addr)
            return
        flow.last = time.monotonic()
        if listener.server is not None:
            listener.server.sendto(data, addr)

    def _end_flow(self, listener: Listener, addr: tuple[str, int]) -> None:
        flow = listener.flows.pop(addr, None)
        if flow is not None:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(flow.sock.fileno())
            flow.sock.close()

    def _drop_stale_flows(self) -> None:
        """End flows whose endpoint is no longer a target of their Service, and idle ones."""
        now = time.monotonic()
        for listener in self.listeners.values():
            sp = self.services.get(listener.service)
            allowed = set(targets(sp, self.node, listener.external)) if sp else set()
            for addr, flow in list(listener.flows.items()):
                if flow.endpoint not in allowed or now - flow.last > self.udp_idle:
                    self._end_flow(listener, addr)
        self.affinity = {k: v for k, v in self.affinity.items() if v[1] > now}

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(min(5.0, self.udp_idle / 2))
            self._drop_stale_flows()


class _UdpListener(asyncio.DatagramProtocol):
    def __init__(self, forwarder: Forwarder, listener: Listener) -> None:
        self.forwarder, self.listener = forwarder, listener

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.forwarder.udp_in(self.listener, data, addr[:2])


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy until EOF, then half-close ``writer``; any socket error ends the copy."""
    try:
        while data := await reader.read(BUFFER):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (OSError, RuntimeError):
        writer.close()


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close a client connection with a TCP reset (linger 0), as a rejected connection looks."""
    sock = writer.get_extra_info("socket")
    with contextlib.suppress(OSError):
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.close()
