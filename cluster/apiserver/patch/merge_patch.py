"""JSON merge patch (RFC 7386): maps merge recursively, ``null`` deletes, anything else replaces."""

from __future__ import annotations

import copy
from typing import Any

from cluster.errors import BadRequest


def merge_value(target: Any, patch: Any) -> Any:
    """RFC 7386 ``MergePatch(target, patch)`` without touching either argument."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_value(result.get(key), value)
    return result


def apply_merge_patch(obj: dict, patch: dict) -> dict:
    """Apply a merge patch to a copy of the object ``obj``; the patch must be a JSON object."""
    if not isinstance(patch, dict):
        raise BadRequest("merge patch: the patch must be a JSON object")
    if not isinstance(obj, dict):
        raise BadRequest("merge patch: the target must be a JSON object")
    return merge_value(obj, patch)
