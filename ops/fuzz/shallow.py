"""Smaller OpenAPI documents for fast generation: request bodies inlined to a few levels, then open.

Generating a full ``Pod`` from its schema takes hypothesis most of a second; the API server's
decoding, validation and patching are reached just as well by objects a few levels deep whose
deeper parts are any JSON value. ``shallow(doc, depth)`` returns a copy of ``doc`` in which every
request body schema has its ``$ref``s inlined down to ``depth`` nested objects/arrays, anything
deeper is replaced by ``{}`` (any value), and responses carry no schemas (replies are judged by
``checks``, not by the document).
"""

from __future__ import annotations

import copy
from typing import Any

REF_PREFIX = "#/components/schemas/"


def _inline(schema: Any, components: dict[str, Any], depth: int) -> Any:
    if not isinstance(schema, dict):
        return schema
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith(REF_PREFIX):
        target = components.get(ref[len(REF_PREFIX) :], {})
        merged = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
        return _inline(merged, components, depth)
    if "allOf" in schema and len(schema["allOf"]) == 1:
        rest = {k: v for k, v in schema.items() if k != "allOf"}
        return _inline({**schema["allOf"][0], **rest}, components, depth)
    nests = "properties" in schema or "items" in schema or "additionalProperties" in schema
    if nests and depth <= 0:
        return {}
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key.startswith("x-") or key in ("description", "example"):
            continue
        if key == "properties":
            out[key] = {name: _inline(sub, components, depth - 1) for name, sub in value.items()}
        elif key in ("items", "additionalProperties") and isinstance(value, dict):
            out[key] = _inline(value, components, depth - 1)
        elif key in ("allOf", "anyOf", "oneOf"):
            out[key] = [_inline(sub, components, depth) for sub in value]
        else:
            out[key] = copy.deepcopy(value)
    return out


def shallow(doc: dict[str, Any], depth: int = 3) -> dict[str, Any]:
    """``doc`` with request bodies inlined to ``depth`` levels and response schemas dropped."""
    components = doc.get("components", {}).get("schemas", {})
    out = copy.deepcopy({k: v for k, v in doc.items() if k != "components"})
    for item in out.get("paths", {}).values():
        for method, operation in item.items():
            if method == "parameters" or not isinstance(operation, dict):
                continue
            for response in operation.get("responses", {}).values():
                response.pop("content", None)
            content = operation.get("requestBody", {}).get("content", {})
            for media in content.values():
                if "schema" in media:
                    media["schema"] = _inline(media["schema"], components, depth)
    return out
