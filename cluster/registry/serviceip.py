"""ClusterIP allocation from ``service_cluster_ip_range``, as Kubernetes' API server does it.

Every Service that is neither headless (``clusterIP: None``) nor ExternalName gets one IPv4
address: the one asked for in ``spec.clusterIP``/``spec.clusterIPs`` if it is in range and free
(else 422 Invalid), or a random free one. Random picks avoid a small static band at the bottom of
the range (``.1`` is the ``kubernetes`` Service, ``.10`` cluster DNS) while the rest has room.
A range with nothing free is Kubernetes' 500 ``failed to allocate a serviceIP: range is full``.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from cluster import errors
from cluster.api.validation.errors import invalid
from cluster.registry.allocations import Allocation, Reservations, pick_offset

Obj = dict[str, Any]
HEADLESS = "None"
_PICK_ATTEMPTS = 32


@dataclass(frozen=True)
class IPRange:
    """The usable addresses of a CIDR: all but the network address (and the IPv4 broadcast)."""

    network: ipaddress.IPv4Network | ipaddress.IPv6Network

    @classmethod
    def parse(cls, text: str) -> IPRange:
        """``ValueError`` unless ``text`` is a CIDR with at least one usable address."""
        network = ipaddress.ip_network(text.strip(), strict=False)
        rng = cls(network)
        if rng.size < 1:
            raise ValueError(f"service IP range {text} has no usable addresses")
        return rng

    @property
    def first(self) -> int:
        return int(self.network.network_address) + 1

    @property
    def size(self) -> int:
        extra = 2 if self.network.version == 4 else 1
        return max(self.network.num_addresses - extra, 0)

    @property
    def static_band(self) -> int:
        """How many addresses at the bottom random allocation leaves for explicit requests."""
        return min(max(16, self.size // 16), 256)

    def address(self, offset: int) -> str:
        """The address ``offset`` places above the network address plus one (``0`` is ``.1``)."""
        return str(ipaddress.ip_address(self.first + offset))

    def contains(self, ip: str) -> bool:
        try:
            value = int(ipaddress.ip_address(ip))
        except ValueError:
            return False
        return self.first <= value < self.first + self.size

    def pick(self, taken: set[str]) -> str | None:
        """A random address not in ``taken``: the upper (dynamic) part first, then the static band."""
        offset = pick_offset(self.size, self.static_band, lambda o: self.address(o) not in taken)
        return None if offset is None else self.address(offset)

    def __str__(self) -> str:
        return str(self.network)


def needs_cluster_ip(spec: Obj) -> bool:
    """Whether a Service with this spec holds a ClusterIP (not ExternalName, not headless)."""
    return (spec.get("type") or "ClusterIP") != "ExternalName" and spec.get("clusterIP") != HEADLESS


def requested_ip(spec: Obj) -> str:
    """The ClusterIP the spec asks for (``clusterIP``, else ``clusterIPs[0]``); "" for any."""
    ip = spec.get("clusterIP")
    if not ip and isinstance(spec.get("clusterIPs"), list) and spec["clusterIPs"]:
        ip = spec["clusterIPs"][0]
    return ip if isinstance(ip, str) else ""


class ClusterIPs:
    """Assigns ClusterIPs from one range through one reservation table."""

    def __init__(self, table: Reservations, rng: IPRange) -> None:
        self.table = table
        self.range = rng

    def assign(self, name: str, spec: Obj, old_spec: Obj | None, alloc: Allocation) -> None:
        """Fill ``spec.clusterIP``/``clusterIPs`` (in place), reserving through ``alloc``.

        ``old_spec`` is the stored Service's spec on update; its IP is kept when still used and
        released by ``alloc.commit()`` when not. ``Invalid`` for a requested IP out of range or
        held by another Service; ``InternalError`` when the range is full.
        """
        old_ip = requested_ip(old_spec) if old_spec is not None and needs_cluster_ip(old_spec) else ""
        if not needs_cluster_ip(spec):
            if spec.get("clusterIP") == HEADLESS:
                spec["clusterIPs"] = [HEADLESS]
            if old_ip:
                alloc.release_later(self.table, old_ip)
            return
        ip = requested_ip(spec)
        if ip and ip != old_ip:
            self._take_requested(name, ip, alloc)
        elif not ip:
            ip = self._take_any(alloc)
        if old_ip and old_ip != ip:
            alloc.release_later(self.table, old_ip)
        spec["clusterIP"] = ip
        spec["clusterIPs"] = [ip]

    def _take_requested(self, name: str, ip: str, alloc: Allocation) -> None:
        if not self.range.contains(ip):
            detail = f"provided IP is not in the valid range. The range of valid IPs is {self.range}"
        elif not alloc.take(self.table, ip):
            detail = "provided IP is already allocated"
        else:
            return
        cause = invalid("spec.clusterIPs", ip, f"failed to allocate IP {ip}: {detail}")
        raise errors.invalid("Service", "", name, [cause])

    def _take_any(self, alloc: Allocation) -> str:
        taken = self.table.taken()
        for _ in range(_PICK_ATTEMPTS):
            ip = self.range.pick(taken)
            if ip is None:
                break
            if alloc.take(self.table, ip):
                return ip
            taken.add(ip)  # lost a race for it: pick again
        message = "failed to allocate a serviceIP: range is full"
        raise errors.InternalError(f"Internal error occurred: {message}", causes=[errors.Cause("", message)])
