"""JSON patch (RFC 6902): a list of ``add/remove/replace/move/copy/test`` operations.

``apply_json_patch(obj, ops)`` returns a new document; ``obj`` is never mutated. A patch that
is not a well-formed list of operations raises ``BadRequest`` (400); an operation that cannot
be carried out on this document (missing path, failed ``test``) raises ``Invalid`` (422), as
the Kubernetes API server does.
"""

from __future__ import annotations

import copy
from typing import Any

from cluster.errors import BadRequest, Cause, Invalid

_OPS = ("add", "remove", "replace", "move", "copy", "test")


def json_equal(a: Any, b: Any) -> bool:
    """Equality of JSON values: numbers compare by value, but booleans are not numbers."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a is b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def _unprocessable(message: str) -> Invalid:
    return Invalid(message, causes=[Cause("UnexpectedServerResponse", message)])


def parse_pointer(pointer: Any) -> list[str]:
    """The reference tokens of a JSON pointer (RFC 6901); ``BadRequest`` if malformed."""
    if not isinstance(pointer, str):
        raise BadRequest(f"json patch: path must be a string, got {pointer!r}")
    if pointer == "":
        return []
    if not pointer.startswith("/"):
        raise BadRequest(f'json patch: path "{pointer}" must be empty or start with "/"')
    tokens = []
    for raw in pointer[1:].split("/"):
        rest = raw.replace("~0", "").replace("~1", "")
        if "~" in rest:
            raise BadRequest(f'json patch: invalid escape in path "{pointer}"')
        tokens.append(raw.replace("~1", "/").replace("~0", "~"))
    return tokens


def _index(token: str, length: int, pointer: str, allow_end: bool) -> int:
    """A list index token; ``allow_end`` admits ``-`` and ``length`` (insert positions)."""
    if token == "-" and allow_end:
        return length
    if not token.isdigit() or (len(token) > 1 and token.startswith("0")):
        raise _unprocessable(f'json patch: invalid array index "{token}" in path "{pointer}"')
    index = int(token)
    if index > length or (index == length and not allow_end):
        raise _unprocessable(f'json patch: array index {index} out of bounds in path "{pointer}"')
    return index


def _parent(doc: Any, tokens: list[str], pointer: str) -> Any:
    """The container that holds the last token of ``tokens``."""
    node = doc
    for token in tokens[:-1]:
        if isinstance(node, dict):
            if token not in node:
                raise _unprocessable(f'json patch: path "{pointer}" does not exist')
            node = node[token]
        elif isinstance(node, list):
            node = node[_index(token, len(node), pointer, allow_end=False)]
        else:
            raise _unprocessable(f'json patch: path "{pointer}" does not exist')
    if not isinstance(node, dict | list):
        raise _unprocessable(f'json patch: path "{pointer}" does not exist')
    return node


def _get(doc: Any, pointer: str) -> Any:
    tokens = parse_pointer(pointer)
    if not tokens:
        return doc
    parent = _parent(doc, tokens, pointer)
    last = tokens[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise _unprocessable(f'json patch: path "{pointer}" does not exist')
        return parent[last]
    return parent[_index(last, len(parent), pointer, allow_end=False)]


def _add(doc: Any, pointer: str, value: Any) -> Any:
    tokens = parse_pointer(pointer)
    if not tokens:
        return value
    parent = _parent(doc, tokens, pointer)
    if isinstance(parent, dict):
        parent[tokens[-1]] = value
    else:
        parent.insert(_index(tokens[-1], len(parent), pointer, allow_end=True), value)
    return doc


def _remove(doc: Any, pointer: str) -> tuple[Any, Any]:
    """Remove the value at ``pointer``; returns ``(doc, removed value)``."""
    tokens = parse_pointer(pointer)
    if not tokens:
        raise _unprocessable("json patch: cannot remove the whole document")
    parent = _parent(doc, tokens, pointer)
    last = tokens[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise _unprocessable(f'json patch: cannot remove "{pointer}": path does not exist')
        return doc, parent.pop(last)
    return doc, parent.pop(_index(last, len(parent), pointer, allow_end=False))


def _field(op: dict, name: str, number: int) -> Any:
    if name not in op:
        raise BadRequest(f'json patch: operation {number} ("{op.get("op")}") is missing "{name}"')
    return op[name]


def apply_json_patch(obj: Any, patch: Any) -> Any:
    """Apply the RFC 6902 operations in ``patch`` to a copy of ``obj`` and return it."""
    if not isinstance(patch, list):
        raise BadRequest("json patch: the patch must be a JSON array of operations")
    for number, op in enumerate(patch):
        if not isinstance(op, dict):
            raise BadRequest(f"json patch: operation {number} is not a JSON object")
        if op.get("op") not in _OPS:
            raise BadRequest(f"json patch: operation {number} has unknown op {op.get('op')!r}")
        parse_pointer(_field(op, "path", number))
        if op["op"] in ("add", "replace", "test"):
            _field(op, "value", number)
        if op["op"] in ("move", "copy"):
            parse_pointer(_field(op, "from", number))
    doc = copy.deepcopy(obj)
    for op in patch:
        doc = _apply_one(doc, op)
    return doc


def _apply_one(doc: Any, op: dict) -> Any:
    kind, path = op["op"], op["path"]
    if kind == "add":
        return _add(doc, path, copy.deepcopy(op["value"]))
    if kind == "remove":
        return _remove(doc, path)[0]
    if kind == "replace":
        if path == "":
            return copy.deepcopy(op["value"])
        _get(doc, path)
        doc, _ = _remove(doc, path)
        return _add(doc, path, copy.deepcopy(op["value"]))
    if kind == "test":
        if not json_equal(_get(doc, path), op["value"]):
            raise _unprocessable(f'json patch: test failed: the value at "{path}" is not {op["value"]!r}')
        return doc
    source = op["from"]
    if kind == "copy":
        return _add(doc, path, copy.deepcopy(_get(doc, source)))
    if source == path:
        _get(doc, source)
        return doc
    if path.startswith(source + "/") or source == "":
        raise _unprocessable(f'json patch: cannot move "{source}" into its own child "{path}"')
    doc, value = _remove(doc, source)
    return _add(doc, path, value)
