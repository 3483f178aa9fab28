"""Pydantic v2 models of the Kubernetes types, built from ``cluster.api.schema`` definitions.

One model per definition, created on first use and cached. Models are strict (no coercion:
``"3"`` is not an integer), forbid unknown fields, accept ``null`` for every field (Kubernetes
treats it as "unset") and use the exact JSON names as aliases. ``check_fields`` runs a decoded
object through them and reports unknown fields and type errors the way Kubernetes does.
"""

from __future__ import annotations

import copy
import functools
import re
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model
from pydantic.functional_validators import AfterValidator, PlainValidator
from pydantic_core import PydanticCustomError

from cluster.api.schema import Schema, definition, ref_name, resolve
from cluster.errors import Cause

_CONFIG = ConfigDict(strict=True, extra="forbid", populate_by_name=False, validate_by_alias=True)

_INT_BOUNDS = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}


def _int_or_string(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise PydanticCustomError("int_or_string", "must be an integer or a string")
    return value


def _quantity(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise PydanticCustomError("quantity", "must be a quantity (a string or a number)")
    return value


def _in_range(low: int, high: int):
    def check(value: int) -> int:
        if not low <= value <= high:
            raise PydanticCustomError(
                "int_range", "must be between {low} and {high}", {"low": low, "high": high}
            )
        return value

    return check


IntOrString = Annotated[Any, PlainValidator(_int_or_string)]
QuantityValue = Annotated[Any, PlainValidator(_quantity)]
_INT_TYPES = {fmt: Annotated[int, AfterValidator(_in_range(*bounds))] for fmt, bounds in _INT_BOUNDS.items()}


def _python_type(node: Schema) -> Any:
    """The annotation for one schema node (a property, an item, a map value)."""
    name = ref_name(node)
    if name is not None:
        target = definition(name)
        if "properties" in target:
            return model_for(name)
        return _python_type(target)
    kind, fmt = node.get("type"), node.get("format")
    if fmt == "int-or-string" or node.get("x-kubernetes-int-or-string"):
        return IntOrString
    if fmt == "quantity":
        return QuantityValue
    if kind == "string":
        return str
    if kind == "integer":
        return _INT_TYPES.get(fmt, int)
    if kind == "number":
        return float | int
    if kind == "boolean":
        return bool
    if kind == "array":
        return list[_python_type(node.get("items") or {})]
    if kind == "object":
        values = node.get("additionalProperties")
        if isinstance(values, dict):
            return dict[str, _python_type(values) | None]
        return dict[str, Any]
    return Any


def _field_name(json_name: str) -> str:
    """A Python-safe attribute name; the JSON name is always the alias."""
    return "f_" + re.sub(r"\W", "_", json_name)


@functools.cache
def model_for(schema_name: str) -> type[BaseModel]:
    """The pydantic model of definition ``schema_name`` (cached); KeyError if unknown."""
    schema = definition(schema_name)
    required = set(schema.get("required", ()))
    fields: dict[str, Any] = {}
    for json_name, node in schema.get("properties", {}).items():
        annotation = _python_type(node) | None
        default = ... if json_name in required else None
        fields[_field_name(json_name)] = (annotation, Field(default, alias=json_name))
    model_name = schema_name.rsplit(".", 1)[-1]
    return create_model(model_name, __config__=_CONFIG, **fields)


def _path(schema_name: str, loc: tuple[Any, ...]) -> str:
    """Format an error location as a Kubernetes field path (``spec.containers[0].name``).

    Walks the schema beside ``loc`` so that map keys print as ``[key]`` and fields as ``.name``.
    """
    out = ""
    node: Schema | None = definition(schema_name)
    for part in loc:
        node = resolve(node) if node else None
        if isinstance(part, int):
            out += f"[{part}]"
            node = node.get("items") if node else None
        elif node and part in node.get("properties", {}):
            out += f".{part}" if out else str(part)
            node = node["properties"][part]
        elif node and isinstance(node.get("additionalProperties"), dict):
            out += f"[{part}]"
            node = node["additionalProperties"]
        else:
            out += f".{part}" if out else str(part)
            node = None
    return out


_TYPE_WORDS = {
    "int_type": "integer",
    "string_type": "string",
    "bool_type": "boolean",
    "list_type": "array",
    "dict_type": "object",
    "model_type": "object",
    "model_attributes_type": "object",
    "float_type": "number",
}


def _cause(schema_name: str, error: Any) -> Cause:
    field = _path(schema_name, tuple(error["loc"]))
    if error["type"] == "missing":
        return Cause("FieldValueRequired", "Required value", field)
    value = error.get("input")
    shown = f'"{value}"' if isinstance(value, str) else _short(value)
    word = _TYPE_WORDS.get(error["type"])
    detail = f"must be of type {word}" if word else error["msg"]
    return Cause("FieldValueInvalid", f"Invalid value: {shown}: {detail}", field)


def _short(value: Any) -> str:
    if isinstance(value, dict):
        return '"object"'
    if isinstance(value, list):
        return '"array"'
    if value is True or value is False:
        return "true" if value else "false"
    return str(value)


def check_fields(schema_name: str, obj: dict) -> tuple[list[str], list[Cause]]:
    """Unknown field paths (``.spec.containers[0].imagePullPolicyy``) and type errors of ``obj``.

    ``obj`` is a decoded object of definition ``schema_name``. Unknown paths carry a leading dot;
    the Kubernetes message is ``unknown field "<path without the dot>"``. Type errors and missing
    required fields come back as Causes (``FieldValueInvalid`` / ``FieldValueRequired``).
    """
    try:
        model_for(schema_name).model_validate(obj)
    except ValidationError as exc:
        unknown: list[str] = []
        causes: list[Cause] = []
        for error in exc.errors(include_url=False):
            if error["type"] == "extra_forbidden":
                unknown.append("." + _path(schema_name, tuple(error["loc"])))
            else:
                causes.append(_cause(schema_name, error))
        return unknown, causes
    return [], []


_TOKEN = re.compile(r"\.([^.\[\]]+)|\[([^\]]*)\]")


def _tokens(path: str) -> list[str | int]:
    path = path if path.startswith((".", "[")) else "." + path
    out: list[str | int] = []
    for field, index in _TOKEN.findall(path):
        if field:
            out.append(field)
        else:
            out.append(int(index) if index.isdigit() else index)
    return out


def drop_unknown(obj: dict, unknown: list[str]) -> dict:
    """A deep copy of ``obj`` without the fields at ``unknown`` (paths as ``check_fields`` returns)."""
    out = copy.deepcopy(obj)
    for path in unknown:
        tokens = _tokens(path)
        if not tokens:
            continue
        parent: Any = out
        for token in tokens[:-1]:
            try:
                parent = parent[token]
            except (KeyError, IndexError, TypeError):
                parent = None
                break
        if isinstance(parent, dict):
            parent.pop(tokens[-1], None)
    return out
