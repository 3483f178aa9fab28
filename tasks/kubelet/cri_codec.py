"""JSON codec for the CRI types (``tasks.kubelet.cri``), shared by the runtime daemon and its client.

Wire format: one JSON object per line. A request is ``{"method": name, "params": {...}}`` (the
method's keyword arguments); a reply is ``{"result": value}`` or ``{"error": {"type", "message"}}``.
Dataclasses travel as plain objects, ``bytes`` as ``{"__b64__": "..."}``. ``METHODS`` names every
call with its parameter types and result type, so both ends decode to the same Python values.
Errors carry a type from ``ERRORS``; anything else comes back as ``RuntimeError``.
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import json
import types
import typing
from typing import Any

from tasks.kubelet import cri

# method -> (parameter name -> type, result type)
METHODS: dict[str, tuple[dict[str, Any], Any]] = {
    "version": ({}, str),
    "run_pod_sandbox": ({"config": cri.SandboxConfig}, str),
    "stop_pod_sandbox": ({"sandbox_id": str}, None),
    "remove_pod_sandbox": ({"sandbox_id": str}, None),
    "pod_sandbox_status": ({"sandbox_id": str}, cri.SandboxStatus),
    "list_pod_sandboxes": ({"namespace": str, "name": str}, list[cri.SandboxStatus]),
    "create_container": ({"sandbox_id": str, "config": cri.ContainerConfig}, str),
    "start_container": ({"container_id": str}, None),
    "stop_container": ({"container_id": str, "timeout": float}, None),
    "remove_container": ({"container_id": str}, None),
    "container_status": ({"container_id": str}, cri.ContainerStatus),
    "list_containers": ({"sandbox_id": str | None}, list[cri.ContainerStatus]),
    "exec_sync": ({"container_id": str, "command": list[str], "timeout": float}, cri.ExecResult),
}

# exception types that cross the wire as themselves
ERRORS: dict[str, type[BaseException]] = {
    cls.__name__: cls
    for cls in (
        FileNotFoundError,
        PermissionError,
        NotADirectoryError,
        KeyError,
        TimeoutError,
        ValueError,
        TypeError,
        ProcessLookupError,
        RuntimeError,
    )
}


def encode(value: Any) -> Any:
    """A JSON-ready form of ``value`` (dataclasses, lists, dicts, bytes, scalars)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, bytes):
        return {"__b64__": base64.b64encode(value).decode("ascii")}
    if isinstance(value, list | tuple):
        return [encode(v) for v in value]
    if isinstance(value, dict):
        return {str(k): encode(v) for k, v in value.items()}
    return value


def decode(tp: Any, value: Any) -> Any:
    """``value`` (as ``encode`` made it) back as type ``tp``."""
    if value is None or tp is None or tp is Any:
        return value
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return decode(args[0], value) if len(args) == 1 else value
    if origin is list:
        (item,) = typing.get_args(tp) or (Any,)
        return [decode(item, v) for v in value]
    if origin is dict:
        _, item = typing.get_args(tp) or (Any, Any)
        return {k: decode(item, v) for k, v in value.items()}
    if tp is bytes:
        return base64.b64decode(value["__b64__"]) if isinstance(value, dict) else bytes(value)
    if dataclasses.is_dataclass(tp):
        hints = _field_types(tp)
        return tp(**{k: decode(hints[k], v) for k, v in value.items() if k in hints})
    if tp is float and isinstance(value, int):
        return float(value)
    return value


@functools.cache
def _field_types(tp: type) -> dict[str, Any]:
    """Field name -> resolved type of dataclass ``tp`` (resolving the hints is costly: once per type)."""
    hints = typing.get_type_hints(tp)
    return {f.name: hints[f.name] for f in dataclasses.fields(tp)}


def dumps(obj: Any) -> bytes:
    return json.dumps(encode(obj), separators=(",", ":")).encode() + b"\n"


def request(method: str, params: dict[str, Any]) -> bytes:
    """A request line for ``method`` (``KeyError`` for an unknown method)."""
    METHODS[method]
    return dumps({"method": method, "params": params})


def decode_params(method: str, params: dict[str, Any]) -> dict[str, Any]:
    types_, _ = METHODS[method]
    return {name: decode(types_[name], params.get(name)) for name in types_ if name in params}


def decode_result(method: str, value: Any) -> Any:
    return decode(METHODS[method][1], value)


def error(exc: BaseException) -> dict[str, Any]:
    """The wire form of ``exc``: its type if it is one of ``ERRORS`` (nearest base), else RuntimeError."""
    name = next((c.__name__ for c in type(exc).__mro__ if c.__name__ in ERRORS), "RuntimeError")
    message = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
    return {"type": name, "message": str(message)}


def raise_error(err: dict[str, Any]) -> typing.NoReturn:
    cls = ERRORS.get(str(err.get("type")), RuntimeError)
    raise cls(err.get("message", ""))
