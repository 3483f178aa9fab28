"""Label selectors: syntax, and whether a selector matches a set of labels."""

from __future__ import annotations

from typing import Any

from cluster.api.validation import names
from cluster.api.validation.errors import as_dict, as_list, dicts, enum, forbidden, invalid, required
from cluster.api.validation.meta import validate_labels
from cluster.errors import Cause

OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")


def validate_selector(selector: Any, field: str) -> list[Cause]:
    selector = as_dict(selector)
    out = validate_labels(selector.get("matchLabels"), f"{field}.matchLabels")
    for i, expr in dicts(selector.get("matchExpressions")):
        where = f"{field}.matchExpressions[{i}]"
        key, operator, values = expr.get("key"), expr.get("operator"), as_list(expr.get("values"))
        if not key:
            out.append(required(f"{where}.key"))
        else:
            out += [invalid(f"{where}.key", key, msg) for msg in names.qualified_name(key)]
        out += enum(f"{where}.operator", operator, OPERATORS)
        if operator in ("In", "NotIn") and not values:
            out.append(required(f"{where}.values", "must be specified when `operator` is 'In' or 'NotIn'"))
        if operator in ("Exists", "DoesNotExist") and values:
            out.append(
                forbidden(
                    f"{where}.values", "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"
                )
            )
    return out


def is_empty(selector: Any) -> bool:
    selector = as_dict(selector)
    return not selector.get("matchLabels") and not selector.get("matchExpressions")


def matches(selector: Any, labels: Any) -> bool:
    """True when ``labels`` satisfy every term of ``selector`` (an empty selector matches all)."""
    selector, labels = as_dict(selector), as_dict(labels)
    for key, value in as_dict(selector.get("matchLabels")).items():
        if labels.get(key) != value:
            return False
    for expr in as_list(selector.get("matchExpressions")):
        expr = as_dict(expr)
        key, operator, values = expr.get("key"), expr.get("operator"), as_list(expr.get("values"))
        present = key in labels
        if operator == "In" and (not present or labels[key] not in values):
            return False
        if operator == "NotIn" and present and labels[key] in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
    return True
