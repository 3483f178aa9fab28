"""The DNS listeners: UDP and TCP on one port, every query answered by ``DNSServer.handle``.

``handle(packet, tcp)`` is the whole protocol: the cluster's names from the catalog
(``workers.dns.answer``), other names forwarded upstream (REFUSED with no upstream, SERVFAIL when
none answered), an ExternalName CNAME followed by the upstream's addresses of its target. UDP
replies larger than the client's limit (512 bytes, or its EDNS size) come back truncated (TC) so
the client retries over TCP. A packet that does not parse gets FORMERR when its header does,
else no reply.
"""

from __future__ import annotations

import logging
import socket
import socketserver
import struct
import threading

from dnslib import QTYPE, RCODE, DNSRecord
from dnslib.dns import DNSError

from workers.dns.answer import answer
from workers.dns.catalog import Catalog
from workers.dns.upstream import Forwarder

log = logging.getLogger(__name__)
UDP_LIMIT = 512


IP_PKTINFO = getattr(socket, "IP_PKTINFO", 8)  # Linux's value; Python 3.11 does not name it


def destination(ancillary: list[tuple[int, int, bytes]]) -> bytes | None:
    """The address a UDP query was sent to (``IP_PKTINFO``'s ``ipi_addr``), packed; None if unknown."""
    for level, kind, data in ancillary:
        if level == socket.IPPROTO_IP and kind == IP_PKTINFO and len(data) >= 12:
            return data[8:12]
    return None


def reply_from(sock: socket.socket, reply: bytes, client: object, local: bytes | None) -> None:
    """Send ``reply`` from the address the query came to. A wildcard-bound socket otherwise answers
    from the address routing picks (a pod's gateway, say), which a connected resolver socket drops
    and which no NAT mapping (a Service ClusterIP in front of this server) can translate back."""
    if local is None:
        sock.sendto(reply, client)  # type: ignore[arg-type]
        return
    info = struct.pack("=I4s4s", 0, local, bytes(4))
    sock.sendmsg([reply], [(socket.IPPROTO_IP, IP_PKTINFO, info)], 0, client)  # type: ignore[arg-type]


class DNSServer:
    """Answers DNS queries for ``domain`` from ``catalog``; see the module doc."""

    def __init__(
        self,
        catalog: Catalog,
        domain: str = "cluster.local",
        forwarder: Forwarder | None = None,
        address: str = "0.0.0.0",
        port: int = 53,
    ) -> None:
        self.catalog, self.domain, self.forwarder = catalog, domain.strip("."), forwarder
        self.address, self.port = address, port
        self._servers: list[socketserver.BaseServer] = []

    # ---- protocol -------------------------------------------------------------------------------
    def handle(self, packet: bytes, tcp: bool = False) -> bytes | None:
        """The raw reply to the raw query ``packet`` (None: not even a header to answer)."""
        try:
            request = DNSRecord.parse(packet)
        except (DNSError, struct.error, IndexError, ValueError):
            return self._formerr(packet)
        if request.header.qr or not request.questions:
            return self._formerr(packet)
        got = answer(self.catalog, request, self.domain)
        if got is None:
            if self.forwarder is None or not self.forwarder.upstreams:
                reply = request.reply(ra=1, aa=0)
                reply.header.rcode = RCODE.REFUSED
                return self._fit(reply, request, tcp)
            raw = self.forwarder.forward(packet, tcp)
            if raw is None:
                reply = request.reply(ra=1, aa=0)
                reply.header.rcode = RCODE.SERVFAIL
                return self._fit(reply, request, tcp)
            return raw
        reply = got.reply
        if got.chase and self.forwarder is not None and self.forwarder.upstreams:
            wanted = request.q.qtype if request.q.qtype != QTYPE.ANY else QTYPE.A
            raw = self.forwarder.forward(DNSRecord.question(got.chase, QTYPE[wanted]).pack(), tcp)
            if raw is not None:
                try:
                    for rr in DNSRecord.parse(raw).rr:
                        reply.add_answer(rr)
                except (DNSError, struct.error, IndexError, ValueError):
                    pass
        return self._fit(reply, request, tcp)

    @staticmethod
    def _fit(reply: DNSRecord, request: DNSRecord, tcp: bool) -> bytes:
        data = reply.pack()
        if tcp:
            return data
        limit = max(UDP_LIMIT, max((rr.rclass for rr in request.ar if rr.rtype == QTYPE.OPT), default=0))
        return data if len(data) <= limit else reply.truncate().pack()

    @staticmethod
    def _formerr(packet: bytes) -> bytes | None:
        if len(packet) < 12:
            return None
        ident, flags = struct.unpack("!HH", packet[:4])
        opcode = flags & 0x7800
        return struct.pack("!HHHHHH", ident, 0x8000 | opcode | RCODE.FORMERR, 0, 0, 0, 0)

    # ---- listeners ------------------------------------------------------------------------------
    def start(self) -> DNSServer:
        """Bind UDP and TCP on ``address:port`` (port 0: a free one, the same for both) and serve in
        daemon threads; ``self.port`` is the bound port."""
        family = socket.AF_INET6 if ":" in self.address else socket.AF_INET
        dns = self

        class UDPHandler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                data, sock, local = self.request
                reply = dns.handle(data, tcp=False)
                if reply is not None:
                    reply_from(sock, reply, self.client_address, local)

        class TCPHandler(socketserver.StreamRequestHandler):
            timeout = 10

            def handle(self) -> None:
                try:
                    while True:
                        head = self.rfile.read(2)
                        if len(head) < 2:
                            return
                        data = self.rfile.read(struct.unpack("!H", head)[0])
                        reply = dns.handle(data, tcp=True)
                        if reply is None:
                            return
                        self.wfile.write(struct.pack("!H", len(reply)) + reply)
                        self.wfile.flush()
                except OSError:
                    return

        class UDP(socketserver.ThreadingUDPServer):
            address_family, daemon_threads, allow_reuse_address = family, True, True

            def server_bind(self) -> None:
                super().server_bind()
                if family == socket.AF_INET:
                    self.socket.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)

            def get_request(self) -> tuple[tuple[bytes, socket.socket, bytes | None], object]:
                data, ancillary, _flags, client = self.socket.recvmsg(
                    self.max_packet_size, socket.CMSG_SPACE(12)
                )
                return (data, self.socket, destination(ancillary)), client

        class TCP(socketserver.ThreadingTCPServer):
            address_family, daemon_threads, allow_reuse_address = family, True, True

        udp = UDP((self.address, self.port), UDPHandler)
        try:
            tcp = TCP((self.address, udp.server_address[1]), TCPHandler)
        except OSError:
            udp.server_close()
            raise
        self.port = udp.server_address[1]
        for srv in (udp, tcp):
            self._servers.append(srv)
            threading.Thread(target=srv.serve_forever, name=f"dns-{type(srv).__name__}", daemon=True).start()
        log.info("dns: serving %s on %s:%d (udp+tcp)", self.domain, self.address, self.port)
        return self

    def close(self) -> None:
        for srv in self._servers:
            srv.shutdown()
            srv.server_close()
        self._servers = []
