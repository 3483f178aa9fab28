"""Steering generated cases towards the server's deeper code: real names, real kinds, real patches.

Schema-driven generation alone mostly stops at "namespace not found" or "wrong kind". About half of
the cases are bent here (each choice is a hypothesis draw, so runs stay seeded and repeatable):
the namespace becomes the fuzz namespace, the name one of the seeded objects, a create/update body
a seed object with one value replaced by an arbitrary JSON value, and a patch one of the four patch
types with a body built from the seed object (JSON-patch operations on real and odd paths, merge
patches carrying strategic directives, apply configurations).
"""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import strategies as st

from ops.fuzz.seeds import seed_for_path

NAMES = ("fz-a", "fz-b")
PATCH_TYPES = (
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
)
ODD_POINTERS = (
    "",
    "/",
    "/metadata/labels/a~1b",
    "/metadata/labels/~2",
    "/spec/containers/-",
    "/spec/containers/99",
    "/x/y/z",
    "/metadata/name",
    "/metadata/resourceVersion",
    "/kind",
)
DIRECTIVES = ("$patch", "$retainKeys", "$setElementOrder/containers", "$deleteFromPrimitiveList/finalizers")

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)


def pointers(obj: Any, prefix: str = "") -> list[str]:
    """JSON pointers to every value inside ``obj`` (``/spec/containers/0/name`` ...)."""
    out = []
    items = obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, list) else ()
    for key, value in items:
        pointer = f"{prefix}/{str(key).replace('~', '~0').replace('/', '~1')}"
        out.append(pointer)
        out.extend(pointers(value, pointer))
    return out


def replace_at(obj: Any, pointer: str, value: Any) -> None:
    """Set the value at ``pointer`` (which exists in ``obj``)."""
    keys = [k.replace("~1", "/").replace("~0", "~") for k in pointer.split("/")[1:]]
    for key in keys[:-1]:
        obj = obj[int(key)] if isinstance(obj, list) else obj[key]
    last = keys[-1]
    if isinstance(obj, list):
        obj[int(last)] = value
    else:
        obj[last] = value


def mutated(obj: dict[str, Any], data: st.DataObject) -> dict[str, Any]:
    """A copy of ``obj`` with one value (never the name) replaced by an arbitrary JSON value."""
    out = copy.deepcopy(obj)
    candidates = [p for p in pointers(out) if p not in ("/metadata/name", "/apiVersion", "/kind")]
    if candidates:
        replace_at(out, data.draw(st.sampled_from(candidates), label="pointer"), data.draw(JSON_VALUES))
    return out


def patch_body(seed: dict[str, Any], data: st.DataObject) -> tuple[str, Any]:
    """(content type, body) of a patch derived from ``seed``."""
    kind = data.draw(st.sampled_from(PATCH_TYPES), label="patch-type")
    if kind == "application/json-patch+json":
        paths = st.sampled_from(pointers(seed) + list(ODD_POINTERS))
        op = st.fixed_dictionaries(
            {
                "op": st.sampled_from(("add", "remove", "replace", "move", "copy", "test", "bogus")),
                "path": paths,
            },
            optional={"value": JSON_VALUES, "from": paths},
        )
        return kind, data.draw(st.lists(op, min_size=1, max_size=3), label="json-patch")
    body = mutated(seed, data)
    if kind == "application/apply-patch+yaml":
        return kind, body
    body = {k: v for k, v in body.items() if k not in ("apiVersion", "kind")}
    if data.draw(st.booleans(), label="directive"):
        target = body.get("spec") if isinstance(body.get("spec"), dict) else body
        target[data.draw(st.sampled_from(DIRECTIVES))] = data.draw(
            JSON_VALUES | st.sampled_from(("delete", "replace", "merge", ["main"], ["image"]))
        )
    return kind, body


def steer(case: Any, data: st.DataObject, namespace: str) -> None:
    """Bend about half of ``case``'s choices towards existing objects and well-formed shapes."""
    params = case.path_parameters or {}
    if "namespace" in params and data.draw(st.booleans(), label="steer-namespace"):
        params["namespace"] = namespace
    if "name" in params and data.draw(st.booleans(), label="steer-name"):
        params["name"] = data.draw(st.sampled_from(NAMES), label="name")
    path, method = case.operation.path, case.method.upper()
    found = seed_for_path(path, namespace, params.get("name") or NAMES[0])
    subresource = path.rsplit("}", 1)[-1].strip("/") if path.endswith(("status", "scale")) else ""
    if (
        found
        and not subresource
        and method in ("POST", "PUT")
        and data.draw(st.booleans(), label="steer-body")
    ):
        case.body, case.media_type = mutated(found[1], data), "application/json"
    elif found and not subresource and method == "PATCH" and data.draw(st.booleans(), label="steer-patch"):
        case.media_type, case.body = patch_body(found[1], data)
    query = case.query
    if isinstance(query, dict):
        if "watch" in query:
            query["timeoutSeconds"] = 1  # a generated watch must end
        if "follow" in query:
            query["follow"] = "false"
