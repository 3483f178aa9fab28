"""NodePort allocation from ``service_node_port_range`` for NodePort and LoadBalancer Services.

Each service port gets a node port: the one it asks for if in range and free (else 422 Invalid),
else a random free one. Ports of one Service with the same port number (TCP and UDP of port 53)
share one node port. A LoadBalancer with ``allocateLoadBalancerNodePorts: false`` gets only the
ones it asks for. The full range is Kubernetes' 500 ``failed to allocate a nodePort: range is full``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cluster import errors
from cluster.api.validation.errors import invalid
from cluster.registry.allocations import Allocation, Reservations, pick_offset

Obj = dict[str, Any]
_PICK_ATTEMPTS = 32


@dataclass(frozen=True)
class PortRange:
    """An inclusive range of ports, written ``30000-32767`` (or a single ``30000``)."""

    base: int
    size: int

    @classmethod
    def parse(cls, text: str) -> PortRange:
        """``ValueError`` unless ``text`` is ``low-high`` with 1 <= low <= high <= 65535."""
        low, _, high = text.strip().partition("-")
        lo, hi = int(low), int(high or low)
        if not 1 <= lo <= hi <= 65535:
            raise ValueError(f"invalid port range {text!r}")
        return cls(lo, hi - lo + 1)

    @property
    def static_band(self) -> int:
        """How many ports at the bottom random allocation leaves for explicit requests."""
        return min(max(16, self.size // 32), 128)

    def contains(self, port: int) -> bool:
        return self.base <= port < self.base + self.size

    def pick(self, taken: set[str]) -> int | None:
        """A random port not in ``taken``: the upper (dynamic) part first, then the static band."""
        offset = pick_offset(self.size, self.static_band, lambda o: str(self.base + o) not in taken)
        return None if offset is None else self.base + offset

    def __str__(self) -> str:
        return f"{self.base}-{self.base + self.size - 1}"


def takes_node_ports(spec: Obj) -> bool:
    """Whether the Service type has node ports at all (NodePort, LoadBalancer)."""
    return spec.get("type") in ("NodePort", "LoadBalancer")


def needs_node_ports(spec: Obj) -> bool:
    """Whether every port gets a node port even when none is asked for."""
    kind = spec.get("type")
    return kind == "NodePort" or (
        kind == "LoadBalancer" and spec.get("allocateLoadBalancerNodePorts") is not False
    )


def _ports(spec: Obj | None) -> list[Obj]:
    ports = (spec or {}).get("ports")
    return [p for p in ports if isinstance(p, dict)] if isinstance(ports, list) else []


def node_ports_of(spec: Obj | None) -> set[int]:
    """The node ports a stored Service spec holds."""
    if spec is None or not takes_node_ports(spec):
        return set()
    return {p["nodePort"] for p in _ports(spec) if isinstance(p.get("nodePort"), int) and p["nodePort"]}


class NodePorts:
    """Assigns node ports from one range through one reservation table."""

    def __init__(self, table: Reservations, rng: PortRange) -> None:
        self.table = table
        self.range = rng

    def assign(self, name: str, spec: Obj, old_spec: Obj | None, alloc: Allocation) -> None:
        """Fill ``nodePort`` of each port (in place), reserving through ``alloc``.

        Node ports the stored Service (``old_spec``) holds stay without a new reservation; those it
        no longer uses are released by ``alloc.commit()``. ``Invalid`` for a requested port out of
        range or held by another Service; ``InternalError`` when the range is full.
        """
        held = node_ports_of(old_spec)
        kept: set[int] = set()
        if takes_node_ports(spec):
            by_number: dict[Any, int] = {}
            for i, port in enumerate(_ports(spec)):  # asked-for ports first: random picks avoid them
                wanted = port.get("nodePort")
                if isinstance(wanted, int) and wanted:
                    if wanted not in held and wanted not in kept:
                        self._take_requested(name, i, wanted, alloc)
                    kept.add(wanted)
                    by_number.setdefault(port.get("port"), wanted)
            if needs_node_ports(spec):
                for port in _ports(spec):
                    if port.get("nodePort"):
                        continue
                    number = port.get("port")
                    if number not in by_number:
                        by_number[number] = self._take_any(alloc)
                    port["nodePort"] = by_number[number]
                    kept.add(by_number[number])
        for port in sorted(held - kept):
            alloc.release_later(self.table, str(port))

    def _take_requested(self, name: str, index: int, port: int, alloc: Allocation) -> None:
        if not self.range.contains(port):
            detail = f"provided port is not in the valid range. The range of valid ports is {self.range}"
        elif not alloc.take(self.table, str(port)):
            detail = "provided port is already allocated"
        else:
            return
        cause = invalid(f"spec.ports[{index}].nodePort", port, detail)
        raise errors.invalid("Service", "", name, [cause])

    def _take_any(self, alloc: Allocation) -> int:
        taken = self.table.taken()
        for _ in range(_PICK_ATTEMPTS):
            port = self.range.pick(taken)
            if port is None:
                break
            if alloc.take(self.table, str(port)):
                return port
            taken.add(str(port))
        message = "failed to allocate a nodePort: range is full"
        raise errors.InternalError(f"Internal error occurred: {message}", causes=[errors.Cause("", message)])
