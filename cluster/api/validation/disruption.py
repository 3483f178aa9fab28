"""PodDisruptionBudgets: minAvailable/maxUnavailable (one at most, int >= 0 or a percentage), selector."""

from __future__ import annotations

import re
from typing import Any

from cluster.api.validation.errors import as_dict, enum, invalid
from cluster.api.validation.selectors import validate_selector
from cluster.errors import Cause

EVICTION_POLICIES = ("IfHealthyBudget", "AlwaysAllow")
_PERCENT = re.compile(r"^[0-9]+%$")


def _int_or_percent(field: str, value: Any) -> list[Cause]:
    if value is None:
        return []
    if isinstance(value, bool):
        return [invalid(field, value, "must be an integer or percentage (e.g '5%')")]
    if isinstance(value, int):
        return [invalid(field, value, "must be greater than or equal to 0")] if value < 0 else []
    if isinstance(value, str):
        if not _PERCENT.match(value):
            return [
                invalid(
                    field, value, "a valid percent string must be a numeric string followed by an ending '%'"
                )
            ]
        if int(value[:-1]) > 100:
            return [invalid(field, value, "must not be greater than 100%")]
    return []


def validate_pdb(obj: dict) -> list[Cause]:
    spec = as_dict(obj.get("spec"))
    out: list[Cause] = []
    if spec.get("minAvailable") is not None and spec.get("maxUnavailable") is not None:
        out.append(Cause("FieldValueInvalid", "minAvailable and maxUnavailable cannot be both set", "spec"))
    out += _int_or_percent("spec.minAvailable", spec.get("minAvailable"))
    out += _int_or_percent("spec.maxUnavailable", spec.get("maxUnavailable"))
    if spec.get("selector") is not None:
        out += validate_selector(spec.get("selector"), "spec.selector")
    out += enum(
        "spec.unhealthyPodEvictionPolicy",
        spec.get("unhealthyPodEvictionPolicy"),
        EVICTION_POLICIES,
        need=False,
    )
    return out
