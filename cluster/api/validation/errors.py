"""Builders for field errors in Kubernetes' wording (``Invalid value: "x": detail``)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from cluster.errors import Cause


def show(value: Any) -> str:
    """A value as Kubernetes prints it in messages: strings quoted, numbers bare, maps Go-style."""
    if isinstance(value, str):
        return json.dumps(value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        if all(isinstance(v, str) for v in value.values()):
            inner = ", ".join(f"{json.dumps(k)}:{json.dumps(v)}" for k, v in value.items())
            return "map[string]string{" + inner + "}"
        return json.dumps(value, separators=(",", ":"), sort_keys=True)
    if isinstance(value, list):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def required(field: str, detail: str = "") -> Cause:
    return Cause("FieldValueRequired", "Required value" + (f": {detail}" if detail else ""), field)


def invalid(field: str, value: Any, detail: str) -> Cause:
    return Cause("FieldValueInvalid", f"Invalid value: {show(value)}: {detail}", field)


def not_supported(field: str, value: Any, supported: Iterable[str]) -> Cause:
    choices = ", ".join(json.dumps(s) for s in supported)
    return Cause(
        "FieldValueNotSupported", f"Unsupported value: {show(value)}: supported values: {choices}", field
    )


def duplicate(field: str, value: Any) -> Cause:
    return Cause("FieldValueDuplicate", f"Duplicate value: {show(value)}", field)


def forbidden(field: str, detail: str) -> Cause:
    return Cause("FieldValueForbidden", f"Forbidden: {detail}", field)


def too_long(field: str, limit: int) -> Cause:
    return Cause("FieldValueTooLong", f"Too long: may not be more than {limit} bytes", field)


def not_found(field: str, value: Any) -> Cause:
    return Cause("FieldValueNotFound", f"Not found: {show(value)}", field)


def immutable(field: str, value: Any) -> Cause:
    return invalid(field, value, "field is immutable")


def enum(field: str, value: Any, supported: Iterable[str], *, need: bool = True) -> list[Cause]:
    """``value`` must be one of ``supported`` (listed in that order); empty is Required when ``need``."""
    if value in (None, ""):
        return [required(field)] if need else []
    choices = tuple(supported)
    return [] if value in choices else [not_supported(field, value, choices)]


def nonnegative(field: str, value: Any) -> list[Cause]:
    if isinstance(value, int) and not isinstance(value, bool) and value < 0:
        return [invalid(field, value, "must be greater than or equal to 0")]
    return []


def positive(field: str, value: Any) -> list[Cause]:
    if isinstance(value, int) and not isinstance(value, bool) and value <= 0:
        return [invalid(field, value, "must be greater than zero")]
    return []


def as_dict(value: Any) -> dict:
    """``value`` if it is a dict, else ``{}`` (validation tolerates ill-typed input: check_fields reports it)."""
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list:
    return value if isinstance(value, list) else []


def dicts(value: Any) -> list[tuple[int, dict]]:
    """``(index, item)`` for the dict items of a list."""
    return [(i, item) for i, item in enumerate(as_list(value)) if isinstance(item, dict)]
