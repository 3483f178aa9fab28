"""Object metadata: names, namespace, labels, annotations, finalizers, owner references; update rules."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from cluster.api.validation import names
from cluster.api.validation.errors import as_dict, as_list, forbidden, immutable, invalid, required, too_long
from cluster.errors import Cause

NameRule = Callable[[str], list[str]]
ANNOTATIONS_MAX_BYTES = 256 * 1024


def validate_labels(labels: Any, field: str) -> list[Cause]:
    out: list[Cause] = []
    for key, value in as_dict(labels).items():
        out += [invalid(field, key, msg) for msg in names.qualified_name(key)]
        if isinstance(value, str):
            out += [invalid(field, value, msg) for msg in names.label_value(value)]
    return out


def validate_annotations(annotations: Any, field: str) -> list[Cause]:
    out: list[Cause] = []
    total = 0
    for key, value in as_dict(annotations).items():
        out += [invalid(field, key, msg) for msg in names.qualified_name(key.lower())]
        total += len(key.encode()) + len(str(value or "").encode())
    if total > ANNOTATIONS_MAX_BYTES:
        out.append(too_long(field, ANNOTATIONS_MAX_BYTES))
    return out


def validate_meta(
    meta: Any, *, namespaced: bool, name_rule: NameRule = names.dns1123_subdomain, path: str = "metadata"
) -> list[Cause]:
    """Rules every object's metadata obeys; ``name_rule`` is the kind's name syntax."""
    meta = as_dict(meta)
    out: list[Cause] = []
    name, generate = meta.get("name"), meta.get("generateName")
    if name:
        out += [invalid(f"{path}.name", name, msg) for msg in name_rule(str(name))]
    elif generate:
        prefix_errors = names.as_prefix(name_rule, str(generate))
        out += [invalid(f"{path}.generateName", generate, m) for m in prefix_errors]
    else:
        out.append(required(f"{path}.name", "name or generateName is required"))
    namespace = meta.get("namespace")
    if namespaced:
        if not namespace:
            out.append(required(f"{path}.namespace"))
        else:
            out += [invalid(f"{path}.namespace", namespace, m) for m in names.dns1123_label(str(namespace))]
    elif namespace:
        out.append(Cause("FieldValueForbidden", "Forbidden: not allowed on this type", f"{path}.namespace"))
    generation = meta.get("generation")
    if isinstance(generation, int) and generation < 0:
        out.append(invalid(f"{path}.generation", generation, "must be greater than or equal to 0"))
    out += validate_labels(meta.get("labels"), f"{path}.labels")
    out += validate_annotations(meta.get("annotations"), f"{path}.annotations")
    for i, finalizer in enumerate(as_list(meta.get("finalizers"))):
        if isinstance(finalizer, str):
            out += [invalid(f"{path}.finalizers[{i}]", finalizer, m) for m in names.qualified_name(finalizer)]
    for i, ref in enumerate(as_list(meta.get("ownerReferences"))):
        ref = as_dict(ref)
        where = f"{path}.ownerReferences[{i}]"
        for key in ("apiVersion", "kind", "name", "uid"):
            if not ref.get(key):
                out.append(required(f"{where}.{key}"))
    return out


def validate_meta_update(meta: Any, old_meta: Any, path: str = "metadata") -> list[Cause]:
    """``name``, ``namespace`` and ``uid`` never change."""
    meta, old_meta = as_dict(meta), as_dict(old_meta)
    out: list[Cause] = []
    for key in ("name", "namespace", "uid"):
        if old_meta.get(key) and meta.get(key) != old_meta.get(key):
            out.append(immutable(f"{path}.{key}", meta.get(key)))
    if old_meta.get("deletionTimestamp"):
        added = set(as_list(meta.get("finalizers"))) - set(as_list(old_meta.get("finalizers")))
        if added:
            detail = "no new finalizers can be added if the object is being deleted"
            out.append(forbidden(f"{path}.finalizers", f"{detail}, found new finalizers {sorted(added)}"))
    return out


def canonical(value: Any) -> str:
    """A stable text form for comparing nested values."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))
