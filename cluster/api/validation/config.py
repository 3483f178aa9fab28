"""ConfigMaps and Secrets: key syntax, total size, Secret types; the ``immutable`` update rules."""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from cluster.api.validation.errors import as_dict, duplicate, forbidden, immutable, invalid, required
from cluster.api.validation.meta import canonical
from cluster.errors import Cause

MAX_SIZE = 1024 * 1024
_KEY = re.compile(r"[-._a-zA-Z0-9]+")
KEY_MESSAGE = (
    "a valid config key must consist of alphanumeric characters, '-', '_' or '.' "
    "(e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')"
)
_SECRET_KEYS = {
    "kubernetes.io/dockercfg": (".dockercfg",),
    "kubernetes.io/dockerconfigjson": (".dockerconfigjson",),
    "kubernetes.io/ssh-auth": ("ssh-privatekey",),
    "kubernetes.io/tls": ("tls.crt", "tls.key"),
}


def key_errors(key: str) -> list[str]:
    out = []
    if len(key) > 253:
        out.append("must be no more than 253 characters")
    if not _KEY.fullmatch(key):
        out.append(KEY_MESSAGE)
    if key == ".":
        out.append("must not be '.'")
    elif key == "..":
        out.append("must not be '..'")
    elif key.startswith(".."):
        out.append("must not start with '..'")
    return out


def _keys(data: Any, field: str) -> list[Cause]:
    out: list[Cause] = []
    for key in as_dict(data):
        out += [invalid(field, key, msg) for msg in key_errors(key)]
    return out


def _decoded_size(value: Any) -> int | None:
    if not isinstance(value, str):
        return 0
    try:
        return len(base64.b64decode(value, validate=True))
    except (binascii.Error, ValueError):
        return None


def validate_configmap(obj: dict) -> list[Cause]:
    data, binary = as_dict(obj.get("data")), as_dict(obj.get("binaryData"))
    out = _keys(data, "data") + _keys(binary, "binaryData")
    for key in binary:
        if key in data:
            out.append(duplicate("data", key))
    size = sum(len(k) + len(str(v or "").encode()) for k, v in data.items())
    size += sum(len(k) + (_decoded_size(v) or 0) for k, v in binary.items())
    if size > MAX_SIZE:
        out.append(Cause("FieldValueTooLong", f"Too long: must have at most {MAX_SIZE} bytes", ""))
    return out


def validate_secret(obj: dict) -> list[Cause]:
    data = as_dict(obj.get("data"))
    out = _keys(data, "data") + _keys(obj.get("stringData"), "stringData")
    size = 0
    for key, value in data.items():
        decoded = _decoded_size(value)
        if decoded is None:
            out.append(invalid(f"data[{key}]", "<secret contents redacted>", "illegal base64 data"))
        else:
            size += decoded
    if size > MAX_SIZE:
        out.append(Cause("FieldValueTooLong", f"Too long: must have at most {MAX_SIZE} bytes", "data"))
    kind = obj.get("type")
    present = set(data) | set(as_dict(obj.get("stringData")))
    for key in _SECRET_KEYS.get(kind, ()):
        if key not in present:
            out.append(required(f"data[{key}]"))
    if kind == "kubernetes.io/service-account-token":
        annotations = as_dict(as_dict(obj.get("metadata")).get("annotations"))
        if not annotations.get("kubernetes.io/service-account.name"):
            out.append(required("metadata.annotations[kubernetes.io/service-account.name]"))
    if kind == "kubernetes.io/basic-auth" and not ({"username", "password"} & present):
        out.append(required("data[username]"))
    return out


def validate_immutable_update(obj: dict, old: dict, *, is_secret: bool) -> list[Cause]:
    """With ``immutable: true`` stored, data and the flag itself may not change; a Secret's type never does."""
    out: list[Cause] = []
    if is_secret and (obj.get("type") or "Opaque") != (old.get("type") or "Opaque"):
        out.append(immutable("type", obj.get("type")))
    if old.get("immutable"):
        if not obj.get("immutable"):
            out.append(forbidden("immutable", "field is immutable when `immutable` is set"))
        for key in ("data", "binaryData", "stringData"):
            if key in ("stringData",) and not obj.get(key):
                continue
            if canonical(obj.get(key) or {}) != canonical(old.get(key) or {}):
                out.append(forbidden(key, "field is immutable when `immutable` is set"))
    return out
