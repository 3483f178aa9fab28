"""A container's environment and command line, resolved as the kubelet does before it starts it.

``resolve_env(pod, container, lookup)``: ``envFrom`` sources first (in order, with their prefix),
then ``env`` entries (later ones win); ``value`` may refer to variables defined before it as
``$(NAME)`` (``$$`` is a literal ``$``; an unknown reference stays as written). ``lookup(plural,
namespace, name)`` returns a ConfigMap/Secret or None. Missing references that are not optional
raise ``ConfigError`` (the container then waits with reason CreateContainerConfigError).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from typing import Any

from tasks.kubelet.fields import ConfigError, field_value, resource_value

Obj = dict[str, Any]
Lookup = Callable[[str, str, str], Obj | None]
_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")


def expand(text: str, env: dict[str, str]) -> str:
    """``text`` with ``$(NAME)`` replaced from ``env`` and ``$$`` made ``$``; unknown names stay."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "$" and i + 1 < n:
            nxt = text[i + 1]
            if nxt == "$":
                out.append("$")
                i += 2
                continue
            if nxt == "(":
                end = text.find(")", i + 2)
                if end != -1:
                    name = text[i + 2 : end]
                    out.append(env[name] if name in env else text[i : end + 1])
                    i = end + 1
                    continue
        out.append(ch)
        i += 1
    return "".join(out)


def source_data(obj: Obj, secret: bool) -> dict[str, str]:
    """The string data of a ConfigMap or Secret (secret ``data`` base64-decoded, ``stringData`` as is)."""
    data: dict[str, str] = {}
    if secret:
        for key, value in (obj.get("data") or {}).items():
            data[key] = base64.b64decode(value or "").decode("utf-8", "replace")
        data.update(obj.get("stringData") or {})
    else:
        data.update(obj.get("data") or {})
        for key, value in (obj.get("binaryData") or {}).items():
            data.setdefault(key, base64.b64decode(value or "").decode("utf-8", "replace"))
    return data


def _key_ref(ref: Obj, plural: str, namespace: str, lookup: Lookup) -> str | None:
    kind = "configmap" if plural == "configmaps" else "secret"
    obj = lookup(plural, namespace, ref.get("name", ""))
    if obj is None:
        if ref.get("optional"):
            return None
        raise ConfigError(f'{kind} "{ref.get("name", "")}" not found')
    data = source_data(obj, plural == "secrets")
    if ref.get("key") not in data:
        if ref.get("optional"):
            return None
        raise ConfigError(f"couldn't find key {ref.get('key')} in {kind} {namespace}/{ref.get('name')}")
    return data[ref["key"]]


def resolve_env(
    pod: Obj, container: Obj, lookup: Lookup, allocatable: dict[str, str] | None = None
) -> dict[str, str]:
    """The environment ``container`` of ``pod`` runs with (see the module doc)."""
    namespace = pod["metadata"].get("namespace", "default")
    env: dict[str, str] = {}
    for source in container.get("envFrom") or []:
        prefix = source.get("prefix", "")
        for field, plural in (("configMapRef", "configmaps"), ("secretRef", "secrets")):
            ref = source.get(field)
            if not ref:
                continue
            obj = lookup(plural, namespace, ref.get("name", ""))
            if obj is None:
                if ref.get("optional"):
                    continue
                raise ConfigError(f'{plural[:-1]} "{ref.get("name", "")}" not found')
            for key, value in source_data(obj, plural == "secrets").items():
                if _ENV_NAME.match(prefix + key):
                    env[prefix + key] = value
    for var in container.get("env") or []:
        name = var["name"]
        ref = var.get("valueFrom")
        if not ref:
            env[name] = expand(str(var.get("value", "")), env)
            continue
        value: str | None
        if "configMapKeyRef" in ref:
            value = _key_ref(ref["configMapKeyRef"], "configmaps", namespace, lookup)
        elif "secretKeyRef" in ref:
            value = _key_ref(ref["secretKeyRef"], "secrets", namespace, lookup)
        elif "fieldRef" in ref:
            value = field_value(pod, ref["fieldRef"].get("fieldPath", ""))
        elif "resourceFieldRef" in ref:
            value = resource_value(pod, container["name"], ref["resourceFieldRef"], allocatable)
        else:
            raise ConfigError(f"env {name}: unsupported valueFrom")
        if value is not None:
            env[name] = value
    return env


def command_line(container: Obj, env: dict[str, str]) -> list[str]:
    """``command`` + ``args`` with ``$(VAR)`` expanded; empty when the container names no command."""
    command = [expand(str(a), env) for a in container.get("command") or []]
    args = [expand(str(a), env) for a in container.get("args") or []]
    if not command:
        return []  # args alone need the image's entrypoint, which a process runtime does not have
    return command + args
