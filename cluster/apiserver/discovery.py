"""Discovery documents (``/api``, ``/apis``, ``/api/v1``, ``/apis/{g}/{v}``, ``/version``).

Every function here is a pure function of the resource table (``cluster.api.resources``) and
returns a JSON-ready dict; the apiserver only serialises it. Functions taking a group or
version return None when kubeq does not serve it (the caller answers 404).
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import pathlib
import platform
import sys

from cluster.api import resources as table
from cluster.api.openapi import SUBRESOURCE_VERBS, subresource_kind
from cluster.api.resources import Resource
from cluster.api.schema import kubernetes_version

AGGREGATED_MEDIA_TYPE = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
KUBEQ_RELEASE = 1  # the ``-kubeq.N`` suffix of gitVersion
DEFAULT_SERVER_ADDRESS = "127.0.0.1:6443"

_GO_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64", "i686": "386"}


def wants_aggregated(accept: str | None) -> bool:
    """True when an Accept header asks for the apidiscovery.k8s.io/v2 aggregated form.

    The first acceptable entry wins, as in the header's order of preference; an entry with
    ``q=0`` is refused.
    """
    for entry in (accept or "").split(","):
        kind, *params = (part.strip() for part in entry.split(";"))
        values = dict(p.split("=", 1) for p in params if "=" in p)
        if values.get("q", "1").strip() in ("0", "0.0", "0.00", "0.000"):
            continue
        if kind in ("application/json", "*/*", "application/*"):
            return (
                values.get("g") == "apidiscovery.k8s.io"
                and values.get("v") == "v2"
                and values.get("as") == "APIGroupDiscoveryList"
            )
    return False


def api_versions(server_address: str = DEFAULT_SERVER_ADDRESS) -> dict:
    """The ``APIVersions`` document of ``GET /api``: the core group's versions."""
    return {
        "kind": "APIVersions",
        "versions": table.group_versions().get("", []),
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    }


def _group_entry(group: str, versions: list[str]) -> dict:
    listed = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
    return {"name": group, "versions": listed, "preferredVersion": listed[0]}


def api_group_list() -> dict:
    """The ``APIGroupList`` of ``GET /apis``: every served group except core, first version preferred."""
    groups = [_group_entry(g, vs) for g, vs in table.group_versions().items() if g]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_group(group: str) -> dict | None:
    """The ``APIGroup`` of ``GET /apis/{group}``, or None for a group kubeq does not serve."""
    versions = table.group_versions().get(group) if group else None
    if not versions:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group_entry(group, versions)}


def _storage_version_hash(r: Resource) -> str:
    digest = hashlib.sha256(f"{r.group}/{r.version}/{r.kind}".encode()).digest()
    return base64.b64encode(digest[:8]).decode()


def _legacy_entries(r: Resource) -> list[dict]:
    """The resource itself and then each of its subresources as ``APIResource`` entries."""
    main = {
        "name": r.plural,
        "singularName": r.singular,
        "namespaced": r.namespaced,
        "kind": r.kind,
        "verbs": list(r.verbs),
        "storageVersionHash": _storage_version_hash(r),
    }
    if r.short_names:
        main["shortNames"] = list(r.short_names)
    if r.categories:
        main["categories"] = list(r.categories)
    out = [main]
    for sub in r.subresources:
        group, version, kind = subresource_kind(r, sub)
        entry = {"name": f"{r.plural}/{sub}", "singularName": "", "namespaced": r.namespaced}
        if (group, version) != (r.group, r.version):
            entry.update(group=group, version=version)
        entry.update(kind=kind, verbs=list(SUBRESOURCE_VERBS[sub]))
        out.append(entry)
    return out


def api_resource_list(group: str, version: str) -> dict | None:
    """The ``APIResourceList`` of ``GET /api/v1`` or ``/apis/{group}/{version}``, or None if not served."""
    served = table.in_group_version(group, version)
    if not served:
        return None
    entries = [e for r in served for e in _legacy_entries(r)]
    group_version = f"{group}/{version}" if group else version
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": entries,
    }


def _aggregated_resource(r: Resource) -> dict:
    out = {
        "resource": r.plural,
        "responseKind": {"group": r.group, "version": r.version, "kind": r.kind},
        "scope": "Namespaced" if r.namespaced else "Cluster",
        "singularResource": r.singular,
        "verbs": list(r.verbs),
    }
    if r.short_names:
        out["shortNames"] = list(r.short_names)
    if r.categories:
        out["categories"] = list(r.categories)
    subs = []
    for sub in r.subresources:
        group, version, kind = subresource_kind(r, sub)
        subs.append(
            {
                "subresource": sub,
                "responseKind": {"group": group, "version": version, "kind": kind},
                "verbs": list(SUBRESOURCE_VERBS[sub]),
            }
        )
    if subs:
        out["subresources"] = subs
    return out


def aggregated_discovery(core: bool) -> dict:
    """The apidiscovery.k8s.io/v2 ``APIGroupDiscoveryList`` for ``/api`` (core) or ``/apis`` (all others).

    Serve it with Content-Type ``AGGREGATED_MEDIA_TYPE`` when ``wants_aggregated(accept)``.
    """
    items = []
    for group, versions in table.group_versions().items():
        if (group == "") != core:
            continue
        items.append(
            {
                "metadata": {"name": group, "creationTimestamp": None},
                "versions": [
                    {
                        "version": v,
                        "resources": [_aggregated_resource(r) for r in table.in_group_version(group, v)],
                        "freshness": "Current",
                    }
                    for v in versions
                ],
            }
        )
    return {
        "kind": "APIGroupDiscoveryList",
        "apiVersion": "apidiscovery.k8s.io/v2",
        "metadata": {},
        "items": items,
    }


def version_info() -> dict:
    """The ``version.Info`` of ``GET /version``; ``gitVersion`` is semver (``v1.32.0-kubeq.1``)."""
    k8s = kubernetes_version().lstrip("v")
    major, minor, *_ = k8s.split(".")
    schema_file = pathlib.Path(table.__file__).with_name("schema") / "definitions.json"
    built = datetime.datetime.fromtimestamp(schema_file.stat().st_mtime, datetime.UTC)
    machine = platform.machine().lower()
    return {
        "major": major,
        "minor": minor,
        "gitVersion": f"v{k8s}-kubeq.{KUBEQ_RELEASE}",
        "gitCommit": "",
        "gitTreeState": "clean",
        "buildDate": built.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "goVersion": f"python{platform.python_version()}",
        "compiler": sys.implementation.name,
        "platform": f"{sys.platform}/{_GO_ARCH.get(machine, machine)}",
    }
