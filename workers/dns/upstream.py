"""Forwarding names outside the cluster's domain to the host's resolvers.

``host_upstreams(path)`` reads ``nameserver`` lines from a resolv.conf and drops loopback ones (a
local stub such as systemd-resolved's 127.0.0.53 is not reachable from pods and may loop back to
us); when that leaves none and ``path`` is the default, systemd-resolved's real upstream file is
tried. ``Forwarder.forward(packet, tcp)`` sends the raw query to each upstream in turn (UDP, or TCP
when the client asked over TCP) and returns the raw reply, or None when none answered.
"""

from __future__ import annotations

import ipaddress
import socket
import struct

HOST_RESOLV_CONF = "/etc/resolv.conf"
RESOLVED_UPSTREAM = "/run/systemd/resolve/resolv.conf"
TIMEOUT = 2.0


def nameservers(text: str) -> list[str]:
    """The ``nameserver`` addresses of resolv.conf text, in order."""
    out = []
    for line in text.splitlines():
        words = line.split()
        if len(words) >= 2 and words[0] == "nameserver":
            out.append(words[1])
    return out


def host_upstreams(path: str = HOST_RESOLV_CONF) -> list[str]:
    """The non-loopback nameservers of ``path`` (see the module doc)."""
    candidates = [path] + ([RESOLVED_UPSTREAM] if path == HOST_RESOLV_CONF else [])
    for candidate in candidates:
        try:
            with open(candidate) as f:
                text = f.read()
        except OSError:
            continue
        found = []
        for ns in nameservers(text):
            try:
                if not ipaddress.ip_address(ns.split("%")[0]).is_loopback:
                    found.append(ns)
            except ValueError:
                continue
        if found:
            return found
    return []


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("upstream closed the connection")
        data += chunk
    return data


class Forwarder:
    """Sends queries to ``upstreams`` (``ip`` or ``ip:port`` / ``[ipv6]:port``), first answer wins."""

    def __init__(self, upstreams: list[str], timeout: float = TIMEOUT) -> None:
        self.upstreams = [self._address(u) for u in upstreams]
        self.timeout = timeout

    @staticmethod
    def _address(text: str) -> tuple[str, int]:
        if text.startswith("["):
            host, _, port = text[1:].partition("]:")
            return host, int(port or 53)
        if text.count(":") == 1:
            host, port = text.split(":")
            return host, int(port)
        return text, 53

    def forward(self, packet: bytes, tcp: bool = False) -> bytes | None:
        """The first upstream's raw reply to ``packet``, or None when no upstream answered."""
        for host, port in self.upstreams:
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            try:
                if tcp:
                    with socket.socket(family, socket.SOCK_STREAM) as sock:
                        sock.settimeout(self.timeout)
                        sock.connect((host, port))
                        sock.sendall(struct.pack("!H", len(packet)) + packet)
                        (length,) = struct.unpack("!H", _recv_exact(sock, 2))
                        return _recv_exact(sock, length)
                with socket.socket(family, socket.SOCK_DGRAM) as sock:
                    sock.settimeout(self.timeout)
                    sock.sendto(packet, (host, port))
                    while True:
                        data, _ = sock.recvfrom(65535)
                        if data[:2] == packet[:2]:  # the same query id
                            return data
            except (OSError, struct.error):
                continue
        return None
