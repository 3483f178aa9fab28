"""A pod's volumes made real under its directory, and the mounts a container gets from them.

``materialize(pod, pod_dir, lookup)`` returns ``{volume name: host path}``: ``emptyDir`` is an empty
directory, ``configMap``/``secret``/``downwardAPI``/``projected`` are directories of files written
from their sources (``items`` choose keys and paths, ``mode``/``defaultMode`` set permissions, secret
data is base64-decoded), ``hostPath`` is the host's path as is (created for ``DirectoryOrCreate``).
Calling it again brings the files up to date (changed keys rewritten, dropped keys removed). A
missing source that is not optional raises ``ConfigError``.

A projected ``serviceAccountToken`` source is written from ``tokens(pod, source)`` (the kubelet's
``satoken.ServiceAccountTokens``); ConfigMaps named in ``empty_if_missing`` that do not exist yield
empty files for their items instead of an error (``kube-root-ca.crt`` on an insecure cluster).
"""

from __future__ import annotations

import base64
import os
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

from tasks.kubelet.cri import Mount
from tasks.kubelet.env import Lookup
from tasks.kubelet.fields import ConfigError, field_value, resource_value

Obj = dict[str, Any]
DEFAULT_MODE = 0o644
Files = dict[str, tuple[bytes, int]]  # relative path -> (content, mode)
TokenSource = Callable[[Obj, Obj], bytes]  # (pod, serviceAccountToken projection) -> token


def _source_bytes(obj: Obj, secret: bool) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    if secret:
        for key, value in (obj.get("data") or {}).items():
            out[key] = base64.b64decode(value or "")
        for key, value in (obj.get("stringData") or {}).items():
            out[key] = str(value).encode()
    else:
        for key, value in (obj.get("data") or {}).items():
            out[key] = str(value).encode()
        for key, value in (obj.get("binaryData") or {}).items():
            out[key] = base64.b64decode(value or "")
    return out


def _keyed_files(
    src: Obj,
    plural: str,
    namespace: str,
    lookup: Lookup,
    default_mode: int,
    empty_if_missing: Collection[str] = (),
) -> Files:
    """Files of a configMap/secret volume source (or projection)."""
    name = src.get("name") or src.get("secretName") or ""
    obj = lookup(plural, namespace, name)
    if obj is None:
        if name in empty_if_missing:
            return {item["path"]: (b"", item.get("mode", default_mode)) for item in src.get("items") or []}
        if src.get("optional"):
            return {}
        raise ConfigError(f'{plural[:-1]} "{name}" not found')
    data = _source_bytes(obj, plural == "secrets")
    files: Files = {}
    items = src.get("items")
    if not items:
        return {key: (value, default_mode) for key, value in data.items()}
    for item in items:
        if item["key"] not in data:
            if src.get("optional"):
                continue
            raise ConfigError(f"configuration key {item['key']!r} not found in {plural[:-1]} {name!r}")
        files[item["path"]] = (data[item["key"]], item.get("mode", default_mode))
    return files


def _downward_files(src: Obj, pod: Obj, default_mode: int, allocatable: dict[str, str] | None) -> Files:
    files: Files = {}
    for item in src.get("items") or []:
        if item.get("fieldRef"):
            text = field_value(pod, item["fieldRef"].get("fieldPath", ""))
        elif item.get("resourceFieldRef"):
            text = resource_value(pod, "", item["resourceFieldRef"], allocatable)
        else:
            continue
        files[item["path"]] = (text.encode(), item.get("mode", default_mode))
    return files


def volume_files(
    volume: Obj,
    pod: Obj,
    lookup: Lookup,
    allocatable: dict[str, str] | None = None,
    tokens: TokenSource | None = None,
    empty_if_missing: Collection[str] = (),
) -> Files:
    """The files a file-backed volume holds (configMap, secret, downwardAPI, projected)."""
    namespace = pod["metadata"].get("namespace", "default")
    if volume.get("configMap") is not None:
        src = volume["configMap"]
        return _keyed_files(src, "configmaps", namespace, lookup, src.get("defaultMode", DEFAULT_MODE))
    if volume.get("secret") is not None:
        src = volume["secret"]
        return _keyed_files(src, "secrets", namespace, lookup, src.get("defaultMode", DEFAULT_MODE))
    if volume.get("downwardAPI") is not None:
        src = volume["downwardAPI"]
        return _downward_files(src, pod, src.get("defaultMode", DEFAULT_MODE), allocatable)
    files: Files = {}
    projected = volume.get("projected") or {}
    mode = projected.get("defaultMode", DEFAULT_MODE)
    for source in projected.get("sources") or []:
        if source.get("configMap") is not None:
            src = source["configMap"]
            files.update(_keyed_files(src, "configmaps", namespace, lookup, mode, empty_if_missing))
        elif source.get("secret") is not None:
            files.update(_keyed_files(source["secret"], "secrets", namespace, lookup, mode))
        elif source.get("downwardAPI") is not None:
            files.update(_downward_files(source["downwardAPI"], pod, mode, allocatable))
        elif source.get("serviceAccountToken") is not None:
            src = source["serviceAccountToken"]
            if tokens is None:
                raise ConfigError("this node cannot fetch ServiceAccount tokens")
            files[src.get("path") or "token"] = (tokens(pod, src), mode)
    return files


def write_files(root: Path, files: Files) -> None:
    """Make ``root`` hold exactly ``files`` (unchanged files are left alone)."""
    root.mkdir(parents=True, exist_ok=True)
    for rel, (content, mode) in files.items():
        target = (root / rel).resolve()
        if root.resolve() not in target.parents:
            raise ConfigError(f"volume path {rel!r} escapes its volume")
        target.parent.mkdir(parents=True, exist_ok=True)
        if not (target.is_file() and target.read_bytes() == content):
            tmp = target.with_name(f".{target.name}.tmp")
            tmp.write_bytes(content)
            os.replace(tmp, target)
        os.chmod(target, mode & 0o7777)
    wanted = {(root / rel).resolve() for rel in files}
    for path in sorted(root.rglob("*"), reverse=True):
        if path.is_file() and path.resolve() not in wanted:
            path.unlink()
        elif path.is_dir() and not any(path.iterdir()):
            path.rmdir()


def materialize(
    pod: Obj,
    pod_dir: str,
    lookup: Lookup,
    allocatable: dict[str, str] | None = None,
    tokens: TokenSource | None = None,
    empty_if_missing: Collection[str] = (),
) -> dict[str, str]:
    """Create or refresh every volume of ``pod`` under ``<pod_dir>/volumes``; name -> host path."""
    paths: dict[str, str] = {}
    base = Path(pod_dir) / "volumes"
    for volume in (pod.get("spec") or {}).get("volumes") or []:
        name = volume["name"]
        if volume.get("hostPath") is not None:
            path = volume["hostPath"].get("path", "")
            if volume["hostPath"].get("type") == "DirectoryOrCreate":
                Path(path).mkdir(parents=True, exist_ok=True)
            paths[name] = path
            continue
        target = base / name
        if volume.get("emptyDir") is not None:
            target.mkdir(parents=True, exist_ok=True)
        elif any(volume.get(k) is not None for k in ("configMap", "secret", "downwardAPI", "projected")):
            write_files(target, volume_files(volume, pod, lookup, allocatable, tokens, empty_if_missing))
        else:
            target.mkdir(parents=True, exist_ok=True)  # an unsupported kind: an empty directory
        paths[name] = str(target)
    return paths


def mounts(container: Obj, paths: dict[str, str]) -> list[Mount]:
    """The container's ``volumeMounts`` as runtime mounts (``subPath`` joined to the volume's path)."""
    out: list[Mount] = []
    for vm in container.get("volumeMounts") or []:
        host = paths.get(vm["name"])
        if host is None:
            raise ConfigError(f"volumeMount {vm['name']!r} names no volume of the pod")
        if vm.get("subPath"):
            host = os.path.join(host, vm["subPath"])
        out.append(Mount(host, vm.get("mountPath", ""), bool(vm.get("readOnly"))))
    return out
