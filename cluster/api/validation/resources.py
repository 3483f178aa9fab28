"""Container resource requirements: quantities parse, are non-negative, requests <= limits."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from cluster.api.validation.errors import as_dict, invalid
from cluster.api.validation.quantity import QUANTITY_MESSAGE, parse_quantity
from cluster.errors import Cause


def _text(quantity: Any) -> str:
    return quantity if isinstance(quantity, str) else str(quantity)


def _parsed(section: Any, field: str, out: list[Cause]) -> dict[str, Decimal]:
    values: dict[str, Decimal] = {}
    for name, quantity in as_dict(section).items():
        try:
            value = parse_quantity(quantity)
        except ValueError:
            out.append(invalid(f"{field}[{name}]", _text(quantity), QUANTITY_MESSAGE))
            continue
        if value < 0:
            out.append(invalid(f"{field}[{name}]", _text(quantity), "must be greater than or equal to 0"))
        values[name] = value
    return values


def validate_resources(resources: Any, field: str) -> list[Cause]:
    """``limits``/``requests`` of one container (or pod) at ``field``."""
    resources = as_dict(resources)
    out: list[Cause] = []
    limits = _parsed(resources.get("limits"), f"{field}.limits", out)
    requests = _parsed(resources.get("requests"), f"{field}.requests", out)
    raw_limits = as_dict(resources.get("limits"))
    raw_requests = as_dict(resources.get("requests"))
    for name, request in requests.items():
        if name in limits and request > limits[name]:
            out.append(
                invalid(
                    f"{field}.requests",
                    _text(raw_requests[name]),
                    f"must be less than or equal to {name} limit of {_text(raw_limits[name])}",
                )
            )
    return out
