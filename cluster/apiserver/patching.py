"""PATCH: read the current object, apply the patch, write back with CAS, retry on races."""

from __future__ import annotations

import copy
from typing import Any

from cluster import errors
from cluster.api.resources import SUBRESOURCE_KINDS, Resource
from cluster.apiserver import codecs
from cluster.apiserver.patch import (
    apply_json_patch,
    apply_merge_patch,
    apply_strategic_merge_patch,
    record_update_manager,
    server_side_apply,
)
from cluster.registry import Registry, WriteOptions, meta, subresources

Obj = dict[str, Any]
_RETRIES = 10


def schema_name(resource: Resource, subresource: str) -> str:
    """The schema a patch on this (sub)resource is applied against."""
    if subresource in SUBRESOURCE_KINDS:
        return SUBRESOURCE_KINDS[subresource][3]
    return resource.schema


def _read(registry: Registry, resource: Resource, ns: str | None, name: str, sub: str) -> Obj:
    if sub == "scale":
        return subresources.get_scale(registry, resource, ns, name)
    return registry.get(resource, ns, name)


def write_scale(
    registry: Registry, resource: Resource, ns: str | None, name: str, scale: Obj, opts: WriteOptions
) -> Obj:
    """Apply a Scale to its parent, recording the field manager as Kubernetes does (subresource scale)."""
    old, new = subresources.scaled(registry, resource, ns, name, scale)
    if opts.field_manager:
        record_update_manager(
            old,
            new,
            opts.field_manager,
            "Update",
            meta.now(),
            resource.api_version,
            resource.schema,
            subresource="scale",
        )
    return subresources.to_scale(registry.update(resource, ns, name, new, opts, current=old))


def _write(
    registry: Registry,
    resource: Resource,
    ns: str | None,
    name: str,
    sub: str,
    obj: Obj,
    opts: WriteOptions,
    current: Obj,
) -> Obj:
    """Store the patched ``obj``; ``current`` is what the patch was applied to (a Scale for scale)."""
    if sub == "scale":
        return write_scale(registry, resource, ns, name, obj, opts)
    return registry.update(resource, ns, name, obj, opts, sub, current=current)


def _patched(
    kind: str, current: Obj, patch: Any, schema: str, opts: WriteOptions, api_version: str, sub: str = ""
) -> Obj:
    """``current`` with the patch applied; an apply or update on ``/status`` is recorded as such."""
    if kind == codecs.JSON_PATCH:
        if not isinstance(patch, list):
            raise errors.BadRequest("a json patch must be a list of operations")
        return apply_json_patch(current, patch)
    if not isinstance(patch, dict):
        raise errors.BadRequest("a merge patch must be a JSON object")
    if kind == codecs.MERGE_PATCH:
        return apply_merge_patch(current, patch)
    if kind == codecs.STRATEGIC_PATCH:
        return apply_strategic_merge_patch(current, patch, schema)
    return server_side_apply(
        current, patch, schema, opts.field_manager, opts.force, meta.now(), api_version, subresource=sub
    )


def patch(
    registry: Registry,
    resource: Resource,
    ns: str | None,
    name: str,
    sub: str,
    content_type: str | None,
    body: bytes,
    opts: WriteOptions,
) -> tuple[Obj, bool]:
    """Apply a PATCH request. Returns ``(object, created)``.

    An apply patch (server-side apply) on a missing object creates it. ``Conflict`` when the
    patch pins a stale ``resourceVersion`` or (apply) another manager owns a changed field.
    """
    kind = codecs.media_type(content_type)
    if kind not in codecs.PATCH_TYPES:
        raise errors.UnsupportedMediaType(
            f"the body of the request was in an unknown format - accepted media types include: "
            f"{', '.join(codecs.PATCH_TYPES)}"
        )
    patch_body = codecs.decode(content_type, body, codecs.PATCH_TYPES)
    if kind == codecs.APPLY_PATCH and not opts.field_manager:
        raise errors.BadRequest("PATCH, application/apply-patch+yaml requests require fieldManager to be set")
    schema = schema_name(resource, sub)
    api_version = resource.api_version
    if isinstance(patch_body, dict) and not isinstance(patch_body.get("metadata") or {}, dict):
        raise errors.BadRequest("metadata in the patch must be an object")
    pinned = isinstance(patch_body, dict) and bool((patch_body.get("metadata") or {}).get("resourceVersion"))
    for attempt in range(_RETRIES):
        try:
            current = _read(registry, resource, ns, name, sub)
        except errors.NotFound:
            if kind != codecs.APPLY_PATCH or sub:
                raise
            created = server_side_apply(
                None, patch_body, schema, opts.field_manager, opts.force, meta.now(), api_version
            )
            md = created.setdefault("metadata", {})
            if not isinstance(md, dict):
                raise errors.BadRequest("metadata must be an object") from None
            if md.get("name") and md["name"] != name:
                raise errors.BadRequest(
                    f"the name of the object ({md['name']}) does not match the name on the URL ({name})"
                ) from None
            md["name"] = name
            return registry.create(resource, ns, created, opts), True
        status_sub = "status" if sub == "status" else ""
        new = _patched(kind, current, patch_body, schema, opts, api_version, status_sub)
        if not isinstance(new, dict):
            raise errors.BadRequest("the patched object is not a JSON object")
        codecs.object_shape(new, "the patched object")
        if not pinned:
            new.setdefault("metadata", {})["resourceVersion"] = current["metadata"]["resourceVersion"]
        if kind != codecs.APPLY_PATCH and opts.field_manager and sub != "scale":
            record_update_manager(
                copy.deepcopy(current),
                new,
                opts.field_manager,
                "Update",
                meta.now(),
                api_version,
                schema,
                subresource=status_sub,
            )
        try:
            return _write(registry, resource, ns, name, sub, new, opts, current), False
        except errors.Conflict:
            if pinned or attempt == _RETRIES - 1:
                raise
    raise errors.conflict(resource.qualified, name)
