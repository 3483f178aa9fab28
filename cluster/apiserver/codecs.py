"""Request bodies in (JSON, YAML, protobuf, patch types) and responses out (JSON, YAML)."""

from __future__ import annotations

from typing import Any

import yaml

from cluster import errors, jsoncodec

MAX_BODY_BYTES = 3 * 1024 * 1024  # kube-apiserver's request body limit
BODY_STALL_SECONDS = 30  # longest pause inside a request body before it is refused
MAX_DEPTH = 100  # nesting of maps and lists in a body; real objects stay far below
JSON = "application/json"
YAML = "application/yaml"
PROTOBUF = "application/vnd.kubernetes.protobuf"
JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
PATCH_TYPES = (JSON_PATCH, MERGE_PATCH, STRATEGIC_PATCH, APPLY_PATCH)
BODY_TYPES = (JSON, YAML, PROTOBUF)


class _Loader(yaml.SafeLoader):
    """YAML as Kubernetes reads it: timestamps stay strings."""


_Loader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:timestamp"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def media_type(content_type: str | None) -> str:
    """``application/json; charset=utf-8`` -> ``application/json``."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def read_body(environ: dict[str, Any]) -> bytes:
    """The request body; ``TooLarge`` (413) past 3 MiB, ``BadRequest`` (400) when the client stops
    sending it for ``BODY_STALL_SECONDS`` (gunicorn bounds the wait for headers, not for bodies)."""
    length = environ.get("CONTENT_LENGTH") or ""
    stream = environ["wsgi.input"]
    if length.isdigit():
        size = int(length)
        if size > MAX_BODY_BYTES:
            raise errors.TooLarge(
                f"the request body is {size} bytes, larger than the limit of {MAX_BODY_BYTES} bytes"
            )
        return _read_with_stall_limit(environ, stream, size) if size else b""
    data = _read_with_stall_limit(environ, stream, MAX_BODY_BYTES + 1)
    if len(data) > MAX_BODY_BYTES:
        raise errors.TooLarge(f"the request body is larger than the limit of {MAX_BODY_BYTES} bytes")
    return data


def _read_with_stall_limit(environ: dict[str, Any], stream: Any, size: int) -> bytes:
    sock = environ.get("gunicorn.socket")
    if sock is None or not hasattr(sock, "settimeout"):
        return stream.read(size)
    previous = sock.gettimeout()
    sock.settimeout(BODY_STALL_SECONDS)
    try:
        return stream.read(size)
    except TimeoutError:
        raise errors.BadRequest(
            f"the request body stopped arriving (nothing for {BODY_STALL_SECONDS} seconds)"
        ) from None
    finally:
        sock.settimeout(previous)


def _loads_json(body: bytes) -> Any:
    try:
        # JSON travels as UTF-8; given bytes, the fallback parser would guess UTF-16 or UTF-32
        return jsoncodec.loads(body.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise errors.BadRequest(f"the request body is not valid JSON: {exc}") from None
    except RecursionError:
        raise errors.BadRequest(f"the request body nests deeper than {MAX_DEPTH} levels") from None


def _loads_yaml(body: bytes) -> Any:
    try:
        docs = list(yaml.load_all(body.decode("utf-8"), Loader=_Loader))  # noqa: S506 - safe loader subclass
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise errors.BadRequest(f"the request body is not valid YAML: {exc}") from None
    except RecursionError:
        raise errors.BadRequest(f"the request body nests deeper than {MAX_DEPTH} levels") from None
    docs = [d for d in docs if d is not None]
    if len(docs) != 1:
        raise errors.BadRequest("the request body must hold exactly one YAML document")
    return docs[0]


def decode(content_type: str | None, body: bytes, allowed: tuple[str, ...] = BODY_TYPES) -> Any:
    """Parse a body of one of the ``allowed`` media types.

    ``UnsupportedMediaType`` (415) for any other type, ``BadRequest`` (400) for malformed bodies.
    """
    kind = media_type(content_type) or JSON
    if kind not in allowed:
        raise errors.UnsupportedMediaType(
            f"the body of the request was in an unknown format - accepted media types include: "
            f"{', '.join(allowed)}"
        )
    if not body.strip():
        raise errors.BadRequest("the request body is empty")
    if kind == PROTOBUF:
        from cluster.apiserver.protobuf import decode as decode_protobuf

        return _shallow(decode_protobuf(body), len(body))
    if kind in (YAML, APPLY_PATCH):
        return _shallow(_loads_yaml(body), len(body))
    return _shallow(_loads_json(body), len(body))


def _shallow(doc: Any, size: int) -> Any:
    """``doc`` if it nests at most ``MAX_DEPTH`` levels (later steps recurse) and holds no more maps
    and lists than a ``size``-byte body can spell out (YAML aliases can expand without bound);
    ``BadRequest`` otherwise."""
    level, depth, budget = [doc], 0, size + 100
    while level:
        depth += 1
        budget -= len(level)
        if depth > MAX_DEPTH:
            raise errors.BadRequest(f"the request body nests deeper than {MAX_DEPTH} levels")
        if budget < 0:
            raise errors.BadRequest("the request body expands to too many objects (YAML aliases?)")
        nxt: list[Any] = []
        for node in level:
            values = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
            nxt.extend(v for v in values if isinstance(v, dict | list))
        level = nxt
    return doc


def decode_object(content_type: str | None, body: bytes) -> dict[str, Any]:
    """A request body that must be an object (create, update); ``BadRequest`` otherwise."""
    obj = decode(content_type, body)
    if not isinstance(obj, dict):
        raise errors.BadRequest("the request body must be an object, not " + type(obj).__name__)
    return object_shape(obj)


def object_shape(obj: dict[str, Any], what: str = "") -> dict[str, Any]:
    """``obj`` once its envelope is sound: ``metadata`` an object (null becomes ``{}``), ``apiVersion``
    and ``kind`` strings. ``BadRequest`` (naming ``what``, e.g. "the patched object") otherwise."""
    prefix = f"{what}: " if what else ""
    meta = obj.get("metadata")
    if meta is None and "metadata" in obj:
        obj["metadata"] = {}
    elif meta is not None and not isinstance(meta, dict):  # later steps read metadata as a map
        raise errors.BadRequest(f"{prefix}metadata must be an object, not {json_type(meta)}")
    for key in ("apiVersion", "kind"):
        if obj.get(key) is not None and not isinstance(obj[key], str):
            raise errors.BadRequest(f"{prefix}{key} must be a string, not {json_type(obj[key])}")
    return obj


def json_type(value: Any) -> str:
    """The JSON name of ``value``'s type: object, array, string, number, boolean or null."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    return "string" if isinstance(value, str) else "number"


def encode_json(obj: Any) -> bytes:
    return jsoncodec.dumpb(obj)


def encode_yaml(obj: Any) -> bytes:
    return yaml.safe_dump(obj, default_flow_style=False, sort_keys=False).encode("utf-8")


def wants_yaml(accept: str) -> bool:
    """True when the client accepts YAML but not JSON."""
    kinds = [media_type(part) for part in accept.split(",")]
    return YAML in kinds and JSON not in kinds and "*/*" not in kinds and "application/*" not in kinds


def table_request(accept: str) -> bool:
    """True when the client asked for a ``meta.k8s.io Table`` (``as=Table``) before plain JSON."""
    for part in accept.split(","):
        params = {p.split("=", 1)[0].strip(): p.split("=", 1)[-1].strip() for p in part.split(";")[1:]}
        if params.get("as") == "Table" and params.get("g", "meta.k8s.io") == "meta.k8s.io":
            return True
        if media_type(part) in (JSON, YAML, "*/*"):
            return False
    return False
