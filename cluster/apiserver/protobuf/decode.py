"""Decode ``application/vnd.kubernetes.protobuf`` bodies into JSON-shaped dicts.

``decode(body)`` -> the object as a JSON client would send it: camelCase field names, ``apiVersion``
and ``kind`` set, and the zero values Go's JSON encoder would omit left out. Any malformed input
raises ``cluster.errors.BadRequest``.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from cluster.apiserver.protobuf import wire
from cluster.apiserver.protobuf.schema import MESSAGES, SCALAR_KINDS, Field, message_for
from cluster.errors import BadRequest

MAGIC = b"k8s\x00"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_GO_ZERO_SECONDS = -62135596800  # 0001-01-01T00:00:00Z, Go's zero time
_WIRE_OF = {"s": wire.LEN, "y": wire.LEN, "i": wire.VARINT, "u": wire.VARINT, "b": wire.VARINT}
_WIRE_OF |= {"d": wire.I64, "f": wire.I32, "message": wire.LEN, "map": wire.LEN}


def decode(body: bytes) -> dict[str, Any]:
    """Decode one ``k8s\\0`` + ``runtime.Unknown`` body into the object it wraps."""
    if not isinstance(body, bytes | bytearray | memoryview):
        raise BadRequest("protobuf: body must be bytes")
    body = bytes(body)
    if not body.startswith(MAGIC):
        raise BadRequest("protobuf: body does not start with the k8s\\x00 magic prefix")
    api_version, kind, raw, encoding, content_type = _unknown(body[len(MAGIC) :])
    if encoding:
        raise BadRequest(f"protobuf: unsupported contentEncoding {encoding!r}")
    if content_type and "protobuf" not in content_type:
        obj = _json(raw)
        if not isinstance(obj, dict):
            raise BadRequest("protobuf: the wrapped JSON is not an object")
        return {"apiVersion": api_version, "kind": kind, **obj} if api_version or kind else obj
    if not kind:
        raise BadRequest("protobuf: the body names no kind")
    name = message_for(api_version, kind)
    if name is None:
        raise BadRequest(f"protobuf: unsupported kind {kind!r} in {api_version!r}")
    return {"apiVersion": api_version, "kind": kind, **_message(raw, name)}


def _unknown(buf: bytes) -> tuple[str, str, bytes, str, str]:
    """``runtime.Unknown``: (apiVersion, kind, raw, contentEncoding, contentType)."""
    strings = {"apiVersion": "", "kind": "", "contentEncoding": "", "contentType": ""}
    raw = b""
    names = {3: "contentEncoding", 4: "contentType"}
    for number, wire_type, value in wire.records(buf):
        if wire_type != wire.LEN:
            raise BadRequest(f"protobuf: runtime.Unknown field {number} has wire type {wire_type}")
        if number == 1:
            for inner, inner_wire, text in wire.records(value):
                if inner in (1, 2):
                    field = Field("apiVersion" if inner == 1 else "kind", "s", None, False, "")
                    strings[field.json] = _value(field, "TypeMeta", inner_wire, text)
        elif number == 2:
            raw = value
        elif number in names:
            strings[names[number]] = _scalar("s", value)
    return strings["apiVersion"], strings["kind"], raw, strings["contentEncoding"], strings["contentType"]


def _message(buf: bytes, name: str) -> Any:
    """Decode the message ``name``; special messages become strings, numbers or lists."""
    special = _SPECIAL.get(name) or _SPECIAL.get(name.rpartition(".")[2])
    if special is not None:
        return special(buf)
    fields = MESSAGES.get(name)
    if fields is None:
        raise BadRequest(f"protobuf: no field table for message {name}")
    out: dict[str, Any] = {}
    seen: dict[str, Field] = {}
    for number, wire_type, value in wire.records(buf):
        field = fields.get(number)
        if field is None:
            continue  # unknown field: skipped, as Go's unmarshaller does
        key = field.json or f"\0inline{number}"
        seen[key] = field
        if field.kind == "map":
            entry = _map_entry(_check(field, name, wire_type, value), field.target or "s", name)
            out.setdefault(key, {}).update([entry])
        elif field.repeated and field.kind in "iubdf" and wire_type == wire.LEN:
            out.setdefault(key, []).extend(_packed(field, value))
        elif field.repeated:
            out.setdefault(key, []).append(_value(field, name, wire_type, value))
        else:
            out[key] = _value(field, name, wire_type, value)
    result: dict[str, Any] = {}
    for key, value in out.items():
        field = seen[key]
        if value is None or (_is_zero(value) and not _keeps_zero(field)):
            continue
        if not field.json:
            if isinstance(value, dict):
                result.update(value)
            continue
        result[key] = value
    return result


def _is_zero(value: Any) -> bool:
    """What Go's ``omitempty`` drops (plus empty objects, which the contract drops too)."""
    return value in ("", 0, {}, [])  # False == 0 and 0.0 == 0 here, as intended


def _keeps_zero(field: Field) -> bool:
    """A pointer was set on purpose (``replicas: 0``, ``emptyDir: {}``); a field without omitempty
    is always written by Go's JSON encoder."""
    if field.repeated or field.kind == "map":
        return False
    return field.presence == "ptr" or (field.presence == "always" and field.kind != "message")


def _check(field: Field, owner: str, wire_type: int, value: int | bytes) -> Any:
    if wire_type != _WIRE_OF[field.kind]:
        raise BadRequest(f"protobuf: {owner}.{field.json or 'inline'} has wire type {wire_type}")
    return value


def _value(field: Field, owner: str, wire_type: int, value: int | bytes) -> Any:
    value = _check(field, owner, wire_type, value)
    if field.kind == "message":
        return _message(value, field.target or "")
    return _scalar(field.kind, value)


def _scalar(kind: str, value: Any) -> Any:
    if kind == "s":
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BadRequest("protobuf: a string field is not valid UTF-8") from exc
    if kind == "y":
        return base64.b64encode(value).decode("ascii")
    if kind == "i":
        return wire.signed(value)
    if kind == "u":
        return value
    if kind == "b":
        return bool(value)
    if kind == "d":
        return wire.double(value)
    return wire.single(value)


def _packed(field: Field, buf: bytes) -> list[Any]:
    if field.kind in "df":
        width = 8 if field.kind == "d" else 4
        if len(buf) % width:
            raise BadRequest(f"protobuf: packed field {field.json} has a partial element")
        chunks = (buf[i : i + width] for i in range(0, len(buf), width))
        return [_scalar(field.kind, int.from_bytes(chunk, "little")) for chunk in chunks]
    values, pos = [], 0
    while pos < len(buf):
        value, pos = wire.read_varint(buf, pos)
        values.append(_scalar(field.kind, value))
    return values


def _map_entry(buf: bytes, value_type: str, owner: str) -> tuple[str, Any]:
    key, value = "", None
    value_kind = value_type if value_type in SCALAR_KINDS else "message"
    value_field = Field("value", value_kind, value_type, False, "")
    for number, wire_type, raw in wire.records(buf):
        if number == 1:
            key = _value(Field("key", "s", None, False, ""), owner, wire_type, raw)
        elif number == 2:
            value = _value(value_field, owner, wire_type, raw)
    if value is None:
        value = "" if value_kind in "sy" else {} if value_kind == "message" else 0
    return key, value


# --- special messages -------------------------------------------------------------------------


def _first(buf: bytes, kind: str, default: Any) -> Any:
    value = default
    for number, wire_type, raw in wire.records(buf):
        if number == 1:
            value = _value(Field("value", kind, None, False, ""), "message", wire_type, raw)
    return value


def _time(buf: bytes, micro: bool = False) -> str | None:
    seconds = nanos = 0
    for number, wire_type, raw in wire.records(buf):
        if wire_type != wire.VARINT:
            raise BadRequest("protobuf: a Time field has the wrong wire type")
        if number == 1:
            seconds = wire.signed(raw)
        elif number == 2:
            nanos = wire.signed(raw)
    if (seconds == 0 and nanos == 0) or seconds == _GO_ZERO_SECONDS:
        return None
    try:
        moment = _EPOCH + timedelta(seconds=seconds, microseconds=nanos // 1000)
    except OverflowError as exc:
        raise BadRequest("protobuf: a Time is out of range") from exc
    if micro:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _int_or_string(buf: bytes) -> int | str:
    """``type`` (1: 0 int, 1 string), ``intVal`` (2), ``strVal`` (3) -> the int or the string."""
    parts: dict[int, Any] = {1: 0, 2: 0, 3: ""}
    for number, wire_type, raw in wire.records(buf):
        if number in parts:
            field = Field("intOrString", "s" if number == 3 else "i", None, False, "")
            parts[number] = _value(field, "IntOrString", wire_type, raw)
    return parts[3] if parts[1] == 1 else parts[2]


def _json(raw: bytes) -> Any:
    if raw.startswith(MAGIC):
        return decode(raw)
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest("protobuf: an embedded object is neither protobuf nor JSON") from exc


def _raw(buf: bytes) -> Any:
    raw = _first(buf, "y", "")
    return _json(base64.b64decode(raw)) if raw else None


def _duration(buf: bytes) -> str:
    nanos = _first(buf, "i", 0)
    return format_duration(nanos)


def format_duration(nanos: int) -> str:
    """Go's ``time.Duration.String``: ``1h2m3.5s``, ``150ms``, ``0s``."""
    if nanos == 0:
        return "0s"
    sign, n = ("-", -nanos) if nanos < 0 else ("", nanos)
    if n < 1_000_000_000:
        for unit, size in (("ms", 1_000_000), ("µs", 1_000), ("ns", 1)):
            if n >= size:
                return sign + _trim(n / size) + unit
    hours, rest = divmod(n, 3_600_000_000_000)
    minutes, rest = divmod(rest, 60_000_000_000)
    text = _trim(rest / 1e9) + "s"
    if hours:
        return f"{sign}{hours}h{minutes}m{text}"
    return f"{sign}{minutes}m{text}" if minutes else sign + text


def _trim(value: float) -> str:
    return f"{value:.9f}".rstrip("0").rstrip(".")


_SPECIAL = {
    "api.resource.Quantity": lambda buf: _first(buf, "s", ""),
    "util.intstr.IntOrString": _int_or_string,
    "meta.v1.Time": _time,
    "meta.v1.MicroTime": lambda buf: _time(buf, micro=True),
    "meta.v1.Duration": _duration,
    "meta.v1.FieldsV1": _raw,
    "runtime.RawExtension": _raw,
    "meta.v1.Verbs": lambda buf: _repeated_strings(buf),
    "ExtraValue": lambda buf: _repeated_strings(buf),
}


def _repeated_strings(buf: bytes) -> list[str]:
    field = Field("items", "s", None, True, "")
    return [_value(field, "list", kind, raw) for number, kind, raw in wire.records(buf) if number == 1]
