"""Field paths of typed objects and Kubernetes' ``FieldsV1`` trie encoding.

A path is a tuple of elements: ``f:<field>`` (a field or map key), ``k:<json of list-map
keys>`` (an item of a list map), ``v:<json value>`` (a member of a set list). ``walk``
lists every path of an object with what kind of node sits there; the schema
(``cluster.api.schema``) decides whether a list is a map, a set or atomic, and whether a map
is granular or atomic. Unknown parts are granular maps and atomic lists.
"""

from __future__ import annotations

import json
from typing import Any

from cluster.api import schema
from cluster.apiserver.patch.json_patch import json_equal
from cluster.errors import BadRequest

Node = dict[str, Any] | None
Path = tuple[str, ...]

LEAF = "leaf"  # a scalar, an atomic list or an atomic map
ITEM = "item"  # an item of a list map
MAP = "map"  # a granular map without declared fields (labels, free-form objects) or a granular list
STRUCT = "struct"  # a granular object with declared fields

# Key fields whose Kubernetes default is not in definitions.json.
_KEY_DEFAULTS = {"protocol": "TCP"}
_SCALAR_TYPES = ("string", "integer", "number", "boolean")

# Fields the API server sets itself: never owned by a manager (like Kubernetes' stripMeta).
_STRIP_EXACT = {("f:apiVersion",), ("f:kind",), ("f:metadata",)}
_STRIP_META = {
    "f:" + name
    for name in (
        "name",
        "namespace",
        "creationTimestamp",
        "selfLink",
        "uid",
        "clusterName",
        "generation",
        "managedFields",
        "resourceVersion",
    )
}


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def is_atomic_map(node: Node) -> bool:
    return bool(node) and (
        node.get("x-kubernetes-map-type") == "atomic"
        or schema.resolve(node).get("x-kubernetes-map-type") == "atomic"
        or schema.resolve(node).get("type") in _SCALAR_TYPES
    )


def list_kind(node: Node) -> tuple[str, list[str]]:
    """``("map", keys)``, ``("set", [])`` or ``("atomic", [])`` for a list field."""
    if not node:
        return "atomic", []
    keys = schema.list_map_keys(node)
    if keys:
        return "map", keys
    list_type = node.get("x-kubernetes-list-type")
    if list_type in ("set", "atomic"):
        return list_type, []
    strategy, merge_key = schema.patch_strategy(node)
    if "merge" in strategy.split(","):
        return ("map", [merge_key]) if merge_key else ("set", [])
    return "atomic", []


def item_element(item: Any, node: Node, kind: str, keys: list[str]) -> str | None:
    """The path element of one item of a map or set list; None if the item has no usable key."""
    if kind == "set":
        return "v:" + _dumps(item)
    if not isinstance(item, dict):
        return None
    props = schema.resolve(schema.items(node)).get("properties") or {}
    key: dict[str, Any] = {}
    for name in keys:
        if name in item and item[name] is not None:
            key[name] = item[name]
        elif "default" in (props.get(name) or {}):
            key[name] = props[name]["default"]
        elif name in _KEY_DEFAULTS and name in props:
            key[name] = _KEY_DEFAULTS[name]
    if not key or keys[0] not in key:
        return None
    return "k:" + _dumps(key)


def list_elements(value: list, node: Node) -> list[str] | None:
    """Path elements of every item of a granular list, or None if the list is atomic here."""
    kind, keys = list_kind(node)
    if kind == "atomic":
        return None
    elements = [item_element(item, node, kind, keys) for item in value]
    if any(e is None for e in elements):
        return None
    return elements  # type: ignore[return-value]


def walk(value: Any, node: Node, strict: bool = False) -> dict[Path, tuple[str, Any]]:
    """Every path under the object ``value`` mapped to ``(kind, value there)``.

    ``strict`` rejects duplicate list-map keys with ``BadRequest`` (for applied configurations).
    """
    out: dict[Path, tuple[str, Any]] = {}
    if isinstance(value, dict):
        _walk_map(value, node, (), out, strict)
    return out


def _walk(value: Any, node: Node, path: Path, out: dict, strict: bool) -> None:
    if isinstance(value, dict) and not is_atomic_map(node):
        out[path] = (STRUCT if schema.resolve(node).get("properties") else MAP, value)
        _walk_map(value, node, path, out, strict)
    elif isinstance(value, list) and (elements := list_elements(value, node)) is not None:
        kind, _ = list_kind(node)
        out[path] = (MAP, value)
        item_node = schema.items(node)
        for element, item in zip(elements, value, strict=True):
            here = path + (element,)
            if here in out:
                if strict:
                    raise BadRequest(
                        f"{path_string(path)}: duplicate entries for key {path_string((element,))}"
                    )
                continue
            if kind == "set":
                out[here] = (LEAF, item)
            else:
                out[here] = (ITEM, item)
                _walk_map(item, item_node, here, out, strict)
    else:
        out[path] = (LEAF, value)


def _walk_map(value: dict, node: Node, path: Path, out: dict, strict: bool) -> None:
    for key, child in value.items():
        _walk(child, schema.child(node, key), path + ("f:" + key,), out, strict)


def strip(paths: set[Path]) -> set[Path]:
    """``paths`` without the fields the API server owns (name, uid, resourceVersion, ...)."""
    return {
        p
        for p in paths
        if p not in _STRIP_EXACT and not (len(p) > 1 and p[0] == "f:metadata" and p[1] in _STRIP_META)
    }


def compare(old: dict[Path, tuple[str, Any]], new: dict[Path, tuple[str, Any]]) -> tuple[set, set, set]:
    """``(modified, added, removed)`` paths between two ``walk`` results."""
    added = set(new) - set(old)
    removed = set(old) - set(new)
    modified = set()
    for path in set(old) & set(new):
        (old_kind, old_value), (new_kind, new_value) = old[path], new[path]
        if old_kind != new_kind or (new_kind == LEAF and not json_equal(old_value, new_value)):
            modified.add(path)
    return modified, added, removed


def encode(paths: set[Path]) -> dict:
    """The ``fieldsV1`` trie of a set of paths (``"."`` marks a member that also has children)."""
    root: dict = {}
    for path in paths:
        node = root
        for element in path:
            node = node.setdefault(element, {})
    for path in paths:
        node = root
        for element in path:
            node = node[element]
        if node:
            node["."] = {}
    return _sorted(root)


def _sorted(node: dict) -> dict:
    return {k: _sorted(node[k]) for k in sorted(node, key=lambda k: (k != ".", k))}


def decode(trie: Any) -> set[Path]:
    """The set of paths in a ``fieldsV1`` trie; ``ValueError`` if it is malformed."""
    out: set[Path] = set()

    def visit(node: Any, prefix: Path) -> None:
        if not isinstance(node, dict):
            raise ValueError(f"fieldsV1: expected an object at {prefix}")
        if prefix and (not node or "." in node):
            out.add(prefix)
        for key, child in node.items():
            if key == ".":
                continue
            if not isinstance(key, str) or key[:2] not in ("f:", "k:", "v:", "i:"):
                raise ValueError(f"fieldsV1: bad path element {key!r}")
            visit(child, prefix + (key,))

    visit(trie, ())
    return out


def path_string(path: Path) -> str:
    """Kubernetes' display form: ``.spec.containers[name="a"].image``, ``.metadata.finalizers[="x"]``."""
    parts = []
    for element in path:
        tag, body = element[:2], element[2:]
        if tag == "f:":
            parts.append("." + body)
        elif tag == "k:":
            try:
                key = json.loads(body)
                parts.append("[" + ",".join(f"{k}={_dumps(v)}" for k, v in sorted(key.items())) + "]")
            except (ValueError, AttributeError):
                parts.append("[" + body + "]")
        elif tag == "v:":
            parts.append("[=" + body + "]")
        else:
            parts.append("[" + body + "]")
    return "".join(parts)
