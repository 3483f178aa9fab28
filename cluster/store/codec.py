"""How objects, stream entries and continue tokens look in Redis and on the wire.

Objects are stored as ``"<revision>\\n<json template>"``; the template carries
``RV_PLACEHOLDER`` as ``metadata.resourceVersion`` so Lua can put the revision in without
re-encoding JSON.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from cluster import errors, jsoncodec

RV_PLACEHOLDER = "@@kubeq-resource-version-9f2c41@@"


def text(value: Any) -> str:
    """Redis replies as ``str`` whether or not the client decodes responses."""
    if isinstance(value, bytes):
        return value.decode("utf-8")
    return str(value)


def template(obj: dict[str, Any]) -> str:
    """``obj`` as JSON with the placeholder as its resourceVersion (``obj`` is not changed).

    Raises ``BadRequest`` if the object itself contains the placeholder text.
    """
    metadata = dict(obj.get("metadata") or {})
    metadata["resourceVersion"] = RV_PLACEHOLDER
    encoded = jsoncodec.dumps({**obj, "metadata": metadata})
    if encoded.count(RV_PLACEHOLDER) != 1:
        raise errors.BadRequest("object contains a reserved string")
    return encoded


def decode_stored(value: Any) -> tuple[int, dict[str, Any]]:
    """A stored ``"<revision>\\n<template>"`` value -> (revision, object)."""
    rev, _, body = text(value).partition("\n")
    return int(rev), jsoncodec.loads(body.replace(RV_PLACEHOLDER, rev, 1))


def stored_json(value: Any) -> str:
    """A stored ``"<revision>\\n<template>"`` value -> the object's JSON text, revision filled in."""
    rev, _, body = text(value).partition("\n")
    return body.replace(RV_PLACEHOLDER, rev, 1)


def name_of(key: str) -> str:
    """``ns/name`` -> ``name``."""
    return key.rpartition("/")[2]


@dataclass(frozen=True)
class Change:
    """One stream entry: a write at ``revision`` to ``key``."""

    revision: int
    type: str
    key: str
    obj: str
    prev: str | None

    def object(self) -> dict[str, Any]:
        return jsoncodec.loads(self.obj)

    def previous(self) -> dict[str, Any] | None:
        return jsoncodec.loads(self.prev) if self.prev is not None else None


def decode_changes(entries: list[Any]) -> list[Change]:
    """XRANGE entries (``[id, [field, value, ...]]`` from Lua or ``(id, {field: value})`` from
    redis-py) -> ``Change`` values."""
    out = []
    for entry_id, raw in entries:
        pairs = raw.items() if isinstance(raw, dict) else zip(raw[0::2], raw[1::2], strict=True)
        fields = {text(k): text(v) for k, v in pairs}
        out.append(
            Change(
                revision=int(text(entry_id).partition("-")[0]),
                type=fields["type"],
                key=fields["key"],
                obj=fields["obj"],
                prev=fields.get("prev"),
            )
        )
    return out


def encode_continue(revision: int, start_after: str) -> str:
    """An opaque token: list at ``revision`` from just after key ``start_after``."""
    raw = json.dumps({"v": "kubeq/v1", "rv": revision, "start": start_after}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_continue(token: str) -> tuple[int, str]:
    """(revision, start_after) of a token. Raises ``BadRequest`` for anything not made by us."""
    try:
        padded = token + "=" * (-len(token) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if data.get("v") != "kubeq/v1":
            raise ValueError("unknown version")
        revision, start = int(data["rv"]), str(data["start"])
        if revision <= 0:
            raise ValueError("bad revision")
        return revision, start
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error) as err:
        raise errors.BadRequest(f"continue key is not valid: {err}") from err
