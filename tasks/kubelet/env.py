"""A container's environment and command line, resolved as the kubelet does before it starts it.

``resolve_env(pod, container, lookup)``: ``envFrom`` sources first (in order, with their prefix),
then ``env`` entries (later ones win); ``value`` may refer to variables defined before it as
``$(NAME)`` (``$$`` is a literal ``$``; an unknown reference stays as written). ``lookup(plural,
namespace, name)`` returns a ConfigMap/Secret or None. Missing references that are not optional
raise ``ConfigError`` (the container then waits with reason CreateContainerConfigError).

``service_env(pod, services)``: Kubernetes' service links, the variables every container starts
with (``resolve_env`` puts them first, so ``envFrom``/``env`` win and ``$(VAR)`` may use them): for
the ``kubernetes`` Service of ``default`` always, and for every Service of the pod's namespace unless
``enableServiceLinks`` is false, ``{NAME}_SERVICE_HOST``/``_SERVICE_PORT``/``_SERVICE_PORT_{PORT}``
and the docker-link style ``{NAME}_PORT`` and ``{NAME}_PORT_{port}_{PROTO}[_PROTO|_PORT|_ADDR]``
(NAME upper case, ``-`` made ``_``). Headless and ExternalName Services have none.
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


def _env_name(name: str) -> str:
    return name.upper().replace("-", "_")


def _has_cluster_ip(svc: Obj) -> bool:
    spec = svc.get("spec") or {}
    ip = spec.get("clusterIP") or ""
    return spec.get("type") != "ExternalName" and ip not in ("", "None")


def linked_services(pod: Obj, services: list[Obj]) -> list[Obj]:
    """The Services of ``services`` that ``pod`` gets variables for, later ones winning a name."""
    namespace = pod["metadata"].get("namespace", "default")
    links = (pod.get("spec") or {}).get("enableServiceLinks") is not False
    chosen: dict[str, Obj] = {}
    for svc in services:
        md = svc.get("metadata") or {}
        if md.get("namespace") == "default" and md.get("name") == "kubernetes":
            chosen.setdefault(md["name"], svc)
    for svc in services:
        md = svc.get("metadata") or {}
        if links and md.get("namespace", "default") == namespace:
            chosen[md.get("name", "")] = svc
    return [svc for svc in chosen.values() if _has_cluster_ip(svc)]


def service_env(pod: Obj, services: list[Obj]) -> dict[str, str]:
    """The service-link variables of ``pod`` (see the module doc); ``services`` may hold any
    namespaces' Services: only the pod's own and ``default/kubernetes`` count."""
    env: dict[str, str] = {}
    for svc in sorted(linked_services(pod, services), key=lambda s: s["metadata"].get("name", "")):
        name = _env_name(svc["metadata"]["name"])
        spec = svc["spec"]
        ip = spec["clusterIP"]
        ports = spec.get("ports") or []
        env[f"{name}_SERVICE_HOST"] = ip
        if not ports:
            continue
        env[f"{name}_SERVICE_PORT"] = str(ports[0]["port"])
        for port in ports:
            if port.get("name"):
                env[f"{name}_SERVICE_PORT_{_env_name(port['name'])}"] = str(port["port"])
        host = f"[{ip}]" if ":" in ip else ip
        first = ports[0]
        env[f"{name}_PORT"] = f"{str(first.get('protocol') or 'TCP').lower()}://{host}:{first['port']}"
        for port in ports:
            proto = str(port.get("protocol") or "TCP")
            prefix = f"{name}_PORT_{port['port']}_{proto.upper()}"
            env[prefix] = f"{proto.lower()}://{host}:{port['port']}"
            env[f"{prefix}_PROTO"] = proto.lower()
            env[f"{prefix}_PORT"] = str(port["port"])
            env[f"{prefix}_ADDR"] = ip
    return env


def resolve_env(
    pod: Obj,
    container: Obj,
    lookup: Lookup,
    allocatable: dict[str, str] | None = None,
    services: list[Obj] | None = None,
) -> dict[str, str]:
    """The environment ``container`` of ``pod`` runs with (see the module doc); ``services``: the
    Services to link (the pod's namespace's and ``default/kubernetes``), None for no links."""
    namespace = pod["metadata"].get("namespace", "default")
    env: dict[str, str] = service_env(pod, services) if services else {}
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
