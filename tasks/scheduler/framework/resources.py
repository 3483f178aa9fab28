"""Resource arithmetic in integers: cpu in millicores, everything else in whole units (bytes, pods)."""

from __future__ import annotations

from decimal import ROUND_CEILING, Decimal
from functools import lru_cache
from typing import Any

from cluster.api.validation.quantity import parse_quantity

CPU, MEMORY, EPHEMERAL, PODS = "cpu", "memory", "ephemeral-storage", "pods"
DEFAULT_MILLI_CPU = 100  # what scoring assumes for a container that requests no cpu
DEFAULT_MEMORY = 200 * 1024 * 1024  # ... and no memory


@lru_cache(maxsize=4096)
def _units(text: str, milli: bool) -> int:
    value: Decimal = parse_quantity(text)
    if milli:
        value = value * 1000
    return int(value.to_integral_value(rounding=ROUND_CEILING))


def amount(name: str, quantity: Any) -> int:
    """A quantity as an int: millicores for cpu, whole units (rounded up) for the rest; 0 if malformed."""
    try:
        return _units(str(quantity), name == CPU)
    except ValueError:
        return 0


def resource_list(raw: Any) -> dict[str, int]:
    """A v1.ResourceList parsed to ints (see ``amount``)."""
    return {name: amount(name, q) for name, q in (raw or {}).items()}


def is_scalar(name: str) -> bool:
    """Extended resources and hugepages: everything but cpu, memory, ephemeral-storage and pods."""
    return name not in (CPU, MEMORY, EPHEMERAL, PODS)


def _container_requests(c: dict[str, Any]) -> dict[str, int]:
    res = c.get("resources") or {}
    out = resource_list(res.get("limits"))  # an absent request defaults to the limit
    out.update(resource_list(res.get("requests")))
    return out


def _add(into: dict[str, int], other: dict[str, int]) -> None:
    for k, v in other.items():
        into[k] = into.get(k, 0) + v


def _max(into: dict[str, int], other: dict[str, int]) -> None:
    for k, v in other.items():
        if v > into.get(k, 0):
            into[k] = v


def _with_nonzero(reqs: dict[str, int]) -> dict[str, int]:
    out = dict(reqs)
    out[CPU] = reqs.get(CPU) or DEFAULT_MILLI_CPU
    out[MEMORY] = reqs.get(MEMORY) or DEFAULT_MEMORY
    return out


def pod_requests(spec: dict[str, Any], nonzero: bool = False) -> dict[str, int]:
    """Effective requests: max(sum of containers + sidecars, largest init step) + overhead.

    With ``nonzero``, a container without a cpu/memory request counts as 100m / 200Mi (for scoring).
    """
    total: dict[str, int] = {}
    for c in spec.get("containers") or ():
        r = _container_requests(c)
        _add(total, _with_nonzero(r) if nonzero else r)
    sidecars: dict[str, int] = {}
    init_peak: dict[str, int] = {}
    for c in spec.get("initContainers") or ():
        r = _container_requests(c)
        if nonzero:
            r = _with_nonzero(r)
        if c.get("restartPolicy") == "Always":
            _add(total, r)
            _add(sidecars, r)
            step = dict(sidecars)
        else:
            step = dict(r)
            _add(step, sidecars)
        _max(init_peak, step)
    _max(total, init_peak)
    _add(total, resource_list(spec.get("overhead")))
    return total
