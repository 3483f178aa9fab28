"""Fast JSON for the hot paths (store, API bodies, watch lines, client), with the standard library
as the fallback for what orjson refuses (integers beyond 64 bits, non-string keys).

Output is compact UTF-8 without ASCII escaping, byte-for-byte what ``json.dumps(obj,
separators=(",", ":"), ensure_ascii=False)`` gives for the objects the API carries.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import orjson


def dumpb(obj: Any) -> bytes:
    """``obj`` as compact UTF-8 JSON bytes."""
    try:
        return orjson.dumps(obj)
    except TypeError:  # orjson.JSONEncodeError: huge ints, non-str keys
        return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def dumps(obj: Any) -> str:
    """``obj`` as compact JSON text."""
    return dumpb(obj).decode("utf-8")


def loads(data: str | bytes | bytearray) -> Any:
    """Parse JSON; ``ValueError`` (``json.JSONDecodeError``) when it is not JSON."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)  # what orjson refuses but JSON allows (e.g. integers past 64 bits)


def fragment(text: str) -> Any:
    """Already-encoded JSON that ``dumpb`` writes out verbatim (a list page built from stored text
    without parsing and re-encoding every object)."""
    return orjson.Fragment(text)


def clone(obj: Any) -> Any:
    """A deep copy of a JSON-shaped value (dicts, lists, strings, numbers, booleans, None), made by
    encoding and parsing it: several times faster than ``copy.deepcopy`` on API objects. Values JSON
    cannot carry (tuples come back as lists) fall back to ``copy.deepcopy``."""
    try:
        return orjson.loads(orjson.dumps(obj))
    except (TypeError, orjson.JSONDecodeError):
        return copy.deepcopy(obj)
