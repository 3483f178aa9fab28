"""The parsed field tables: which JSON field each protobuf field number of a message becomes.

``MESSAGES[name][number] -> Field``; ``message_for(api_version, kind)`` finds a top-level kind.
"""

from __future__ import annotations

from typing import NamedTuple

from cluster.apiserver.protobuf.messages import TABLE

SCALAR_KINDS = frozenset("siubydf")

# proto package prefix (as shortened in the table) -> API group
GROUPS = {
    "core": "",
    "apps": "apps",
    "batch": "batch",
    "autoscaling": "autoscaling",
    "policy": "policy",
    "rbac": "rbac.authorization.k8s.io",
}

# meta.k8s.io kinds that may arrive as bodies under any group version
META_KINDS = frozenset(
    {"DeleteOptions", "CreateOptions", "PatchOptions", "UpdateOptions", "GetOptions", "ListOptions", "Status"}
)


class Field(NamedTuple):
    """One message field. ``kind``: a scalar letter (see messages.py), ``message`` or ``map``.

    ``target`` is the message name (``message``) or the value type of a ``map``. ``presence``:
    ``ptr`` keep whatever is sent, ``always`` keep zero values, ``omit`` drop zero values.
    """

    json: str
    kind: str
    target: str | None
    repeated: bool
    presence: str


def _field(token: str) -> tuple[int, Field]:
    number, json_name, spec = token.split(":", 2)
    repeated = spec.endswith("*")
    presence = {"?": "ptr", "!": "always"}.get(spec[-1:], "omit")
    spec = spec.rstrip("*?!")
    if spec.startswith("{"):
        return int(number), Field(json_name, "map", spec[1:-1], False, "omit")
    if spec in SCALAR_KINDS:
        return int(number), Field(json_name, spec, None, repeated, presence)
    return int(number), Field(json_name, "message", spec, repeated, presence)


def _parse(table: str) -> dict[str, dict[int, Field]]:
    messages: dict[str, dict[int, Field]] = {}
    current: dict[int, Field] = {}
    for line in table.splitlines():
        if not line.strip():
            continue
        if not line.startswith(" "):
            current = messages.setdefault(line.strip(), {})
            continue
        for token in line.split():
            number, field = _field(token)
            current[number] = field
    return messages


MESSAGES: dict[str, dict[int, Field]] = _parse(TABLE)


def _group_version(package: str) -> str:
    """``apps.v1`` -> ``apps/v1``; ``core.v1`` -> ``v1``; ``networking.v1`` -> ``networking.k8s.io/v1``."""
    name, _, version = package.rpartition(".")
    group = GROUPS.get(name, f"{name}.k8s.io")
    return f"{group}/{version}" if group else version


_KINDS: dict[tuple[str, str], str] = {}
_META_KINDS: dict[str, str] = {}
for _name in MESSAGES:
    _package, _, _kind = _name.rpartition(".")
    if _package == "meta.v1":
        if _kind in META_KINDS:
            _META_KINDS[_kind] = _name
    elif _package.count(".") == 1 and _package.split(".")[0] not in ("api", "util", "runtime"):
        if MESSAGES[_name].get(1, Field("", "", None, False, "")).json == "metadata":
            _KINDS[(_group_version(_package), _kind)] = _name


def message_for(api_version: str, kind: str) -> str | None:
    """The table name of a top-level kind, or None. ``meta.k8s.io`` kinds (DeleteOptions, ...) match
    under any apiVersion, as Kubernetes registers them in every group version."""
    return _KINDS.get((api_version, kind)) or _META_KINDS.get(kind)
