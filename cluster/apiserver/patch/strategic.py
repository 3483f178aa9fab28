"""Kubernetes strategic merge patch, driven by the patch strategies in ``cluster.api.schema``.

Maps merge key by key and ``null`` deletes a key. A list whose field has strategy ``merge``
merges: with a merge key (``containers`` by ``name``, ``ports`` by ``containerPort``) items
match by that key and merge recursively; without one (lists of primitives, ``finalizers``)
the lists merge as sets. Every other list is replaced. Fields the schema does not know
(annotations, free-form objects) follow JSON merge patch rules.

Directives: ``$patch: replace|delete|merge`` in a map or as a list item,
``$setElementOrder/<list>``, ``$retainKeys``, ``$deleteFromPrimitiveList/<list>``.
Malformed patches raise ``BadRequest``; inputs are never mutated.
"""

from __future__ import annotations

import copy
from typing import Any

from cluster.api import schema
from cluster.apiserver.patch.json_patch import json_equal
from cluster.errors import BadRequest

Node = dict[str, Any] | None

PATCH = "$patch"
RETAIN_KEYS = "$retainKeys"
SET_ORDER = "$setElementOrder/"
DELETE_FROM = "$deleteFromPrimitiveList/"
_DELETE = object()  # a map asked to delete itself with ``$patch: delete``


def apply_strategic_merge_patch(obj: dict, patch: dict, schema_name: str) -> dict:
    """Apply ``patch`` to a copy of ``obj`` using the type ``schema_name`` (e.g. ``io.k8s.api.core.v1.Pod``).

    An unknown ``schema_name`` makes the whole patch behave like a merge patch (plus directives).
    """
    if not isinstance(patch, dict):
        raise BadRequest("strategic merge patch: the patch must be a JSON object")
    if not isinstance(obj, dict):
        raise BadRequest("strategic merge patch: the target must be a JSON object")
    try:
        node: Node = schema.definition(schema_name)
    except KeyError:
        node = None
    result = _merge_map(copy.deepcopy(obj), copy.deepcopy(patch), node, "")
    return {} if result is _DELETE else result


def _merge_map(original: dict, patch: dict, node: Node, where: str) -> Any:
    """Merge ``patch`` into ``original`` (both owned by the caller); ``_DELETE`` to drop the map."""
    directive = patch.pop(PATCH, None)
    if directive == "replace":
        return _merge_map({}, patch, node, where)
    if directive == "delete":
        return _DELETE
    if directive not in (None, "merge"):
        raise BadRequest(f"strategic merge patch: unknown patch type {directive!r} in map {where or '.'}")
    _retain_keys(original, patch, where)
    _delete_from_primitive_lists(original, patch, where)
    orders = {key[len(SET_ORDER) :]: patch.pop(key) for key in list(patch) if key.startswith(SET_ORDER)}
    for key, value in patch.items():
        sub, here = schema.child(node, key), f"{where}.{key}"
        if value is None:
            original.pop(key, None)
        elif isinstance(value, dict):
            current = original.get(key)
            merged = _merge_map(current if isinstance(current, dict) else {}, value, sub, here)
            if merged is _DELETE:
                original.pop(key, None)
            else:
                original[key] = merged
        elif isinstance(value, list):
            current = original.get(key)
            current = current if isinstance(current, list) else []
            original[key] = _merge_list(current, value, sub, here, orders.pop(key, None))
        else:
            original[key] = value
    for key, order in orders.items():
        current = original.get(key)
        if isinstance(current, list):
            original[key] = _merge_list(current, [], schema.child(node, key), f"{where}.{key}", order)
        elif current is not None:
            raise BadRequest(f"strategic merge patch: $setElementOrder/{key}: {where}.{key} is not a list")
    return original


def _retain_keys(original: dict, patch: dict, where: str) -> None:
    """``$retainKeys``: drop every key of ``original`` not listed; all patched keys must be listed."""
    if RETAIN_KEYS not in patch:
        return
    keep = patch.pop(RETAIN_KEYS)
    if not isinstance(keep, list) or not all(isinstance(k, str) for k in keep):
        raise BadRequest(
            f"strategic merge patch: $retainKeys in {where or '.'} must be a list of field names"
        )
    for key, value in patch.items():
        if value is not None and not key.startswith(("$", DELETE_FROM, SET_ORDER)) and key not in keep:
            raise BadRequest(
                f"strategic merge patch: invalid patch format of retainKeys: {where}.{key} is patched "
                "but not listed in $retainKeys"
            )
    for key in list(original):
        if key not in keep:
            del original[key]


def _delete_from_primitive_lists(original: dict, patch: dict, where: str) -> None:
    for key in [k for k in patch if k.startswith(DELETE_FROM)]:
        values, field = patch.pop(key), key[len(DELETE_FROM) :]
        if not isinstance(values, list):
            raise BadRequest(f"strategic merge patch: {key} in {where or '.'} must be a list")
        current = original.get(field)
        if current is None:
            continue
        if not isinstance(current, list):
            raise BadRequest(f"strategic merge patch: {key}: {where}.{field} is not a list")
        original[field] = [x for x in current if not any(json_equal(x, v) for v in values)]


def _merge_list(original: list, patch: list, node: Node, where: str, order: Any) -> list:
    """Merge a patch list into a list field according to its strategy."""
    strategy, key = schema.patch_strategy(node)
    if "merge" not in strategy.split(","):
        return patch
    if order is not None and not isinstance(order, list):
        raise BadRequest(f"strategic merge patch: $setElementOrder for {where} must be a list")
    if key is None:
        if any(isinstance(x, dict | list) for x in patch + original):
            raise BadRequest(f"strategic merge patch: {where}: cannot merge lists without merge key")
        merged = _unique(original + patch)
    else:
        merged = _merge_keyed(original, patch, key, schema.items(node), where)
        patch = [item for item in patch if item.get(PATCH) in (None, "merge")]
        if order is not None and not all(isinstance(x, dict) and key in x for x in order):
            raise BadRequest(
                f"strategic merge patch: $setElementOrder for {where} needs {key!r} in every item"
            )
    wanted = patch if order is None else order
    if order is not None and any(_position(order, item, key) < 0 for item in patch):
        raise BadRequest(f"strategic merge patch: {where}: the patch list and $setElementOrder do not match")
    patch_items = [x for x in merged if _position(wanted, x, key) >= 0]
    server_only = [x for x in merged if _position(wanted, x, key) < 0]
    patch_items.sort(key=lambda x: _position(wanted, x, key))
    server_only.sort(key=lambda x: _position(original, x, key))
    return _interleave(server_only, patch_items, original, key)


def _merge_keyed(original: list, patch: list, key: str, item_node: Node, where: str) -> list:
    """Items of ``patch`` merged into ``original`` by ``key``, honouring ``$patch`` items."""
    merged, regular, replace = list(original), [], False
    for item in patch:
        if not isinstance(item, dict):
            raise BadRequest(f"strategic merge patch: {where}: items must be objects with merge key {key!r}")
        directive = item.get(PATCH)
        if directive is None or directive == "merge":
            regular.append({k: v for k, v in item.items() if k != PATCH})
        elif directive == "delete":
            if key not in item:
                raise BadRequest(f"strategic merge patch: {where}: {item} does not contain merge key {key!r}")
            merged = [x for x in merged if not (isinstance(x, dict) and json_equal(x.get(key), item[key]))]
        elif directive == "replace":
            replace = True
        else:
            raise BadRequest(f"strategic merge patch: unknown patch type {directive!r} in list {where}")
    if replace:
        cleaned = (_merge_map({}, item, item_node, where) for item in regular)
        return [item for item in cleaned if item is not _DELETE]
    for item in regular:
        if key not in item:
            raise BadRequest(f"strategic merge patch: {where}: {item} does not contain merge key {key!r}")
        at = next(
            (i for i, x in enumerate(merged) if isinstance(x, dict) and json_equal(x.get(key), item[key])), -1
        )
        result = _merge_map(merged[at] if at >= 0 else {}, item, item_node, f"{where}[{key}={item[key]}]")
        if at < 0 and result is not _DELETE:
            merged.append(result)
        elif at >= 0 and result is _DELETE:
            del merged[at]
        elif at >= 0:
            merged[at] = result
    return merged


def _unique(values: list) -> list:
    out: list = []
    for value in values:
        if not any(json_equal(value, seen) for seen in out):
            out.append(value)
    return out


def _position(items: list, item: Any, key: str | None) -> int:
    """Index in ``items`` of the element matching ``item`` (by merge key, or by value); -1 if none."""
    for i, other in enumerate(items):
        if key is None:
            if json_equal(other, item):
                return i
        elif isinstance(other, dict) and isinstance(item, dict) and key in other and key in item:
            if json_equal(other[key], item[key]):
                return i
    return -1


def _interleave(left: list, right: list, server_order: list, key: str | None) -> list:
    """Merge two sorted lists keeping each one's order; ``left`` items go first only when both
    items appear in ``server_order`` and the left one comes earlier there (Kubernetes' rule)."""
    out, i, j = [], 0, 0
    while i < len(left) or j < len(right):
        if j >= len(right):
            out.append(left[i])
            i += 1
            continue
        if i < len(left):
            li, ri = _position(server_order, left[i], key), _position(server_order, right[j], key)
            if li >= 0 and ri >= 0 and li < ri:
                out.append(left[i])
                i += 1
                continue
        out.append(right[j])
        j += 1
    return out
