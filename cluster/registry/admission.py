"""Admission: schema check (unknown fields), size limit, defaulting and validation of a write."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cluster import errors, jsoncodec
from cluster.api.defaults import apply_defaults
from cluster.api.models import check_fields, drop_unknown
from cluster.api.resources import Resource
from cluster.api.validation import validate

MAX_OBJECT_BYTES = 1536 * 1024  # 1.5 MiB, etcd's default request limit


@dataclass
class WriteOptions:
    """How a client asked for a write (query parameters of create/update/patch)."""

    dry_run: bool = False
    field_manager: str = ""
    field_validation: str = "Warn"  # Strict | Warn | Ignore
    force: bool = False
    warnings: list[str] = field(default_factory=list)  # filled by admission
    # an admission step that needs the caller (RBAC escalation checks): called with the object about
    # to be stored, after defaulting and validation; raises a StatusError to refuse the write
    admit: Callable[[dict[str, Any]], None] | None = None


def check_schema(
    resource: Resource,
    obj: dict[str, Any],
    opts: WriteOptions,
    schema: str | None = None,
    required: bool = True,
) -> dict[str, Any]:
    """The object with unknown fields handled per ``fieldValidation``; type errors -> 400.

    Strict: unknown fields are a ``BadRequest`` naming them. Warn: they are dropped and reported
    in ``opts.warnings``. Ignore: dropped silently. Missing required fields are a 422 unless
    ``required`` is False (bodies whose answer defaults them, such as a TokenRequest's audiences).
    """
    schema = schema or resource.schema
    unknown, causes = check_fields(schema, obj)
    kind = obj.get("kind") or resource.kind
    type_errors = [c for c in causes if c.reason != "FieldValueRequired"]
    if type_errors:  # the body does not decode into the kind: 400, as Kubernetes' decoder answers
        detail = "; ".join(f"{c.field}: {c.message}" if c.field else c.message for c in type_errors)
        raise errors.BadRequest(
            f'{kind} in version "{resource.version}" cannot be handled as a {kind}: {detail}', causes=causes
        )
    if causes and required:  # missing required fields: a validation failure (422)
        name = obj.get("metadata", {}).get("name", "") if isinstance(obj.get("metadata"), dict) else ""
        raise errors.invalid(resource.kind, resource.group, name, causes)
    if not unknown:
        return obj
    if opts.field_validation == "Strict":
        listed = ", ".join(f'unknown field "{u.lstrip(".")}"' for u in unknown)
        raise errors.BadRequest(
            f'{kind} in version "{resource.version}" cannot be handled as a {kind}: strict decoding error: {listed}'
        )
    if opts.field_validation != "Ignore":
        opts.warnings.extend(f'unknown field "{u.lstrip(".")}"' for u in unknown)
    return drop_unknown(obj, unknown)


def check_size(resource: Resource, obj: dict[str, Any]) -> None:
    """Objects over 1.5 MiB are refused with 422, as the store could not take them."""
    size = len(jsoncodec.dumpb(obj))
    if size > MAX_OBJECT_BYTES:
        name = obj.get("metadata", {}).get("name", "")
        raise errors.invalid(
            resource.kind,
            resource.group,
            name,
            [
                errors.Cause(
                    "FieldValueTooLong",
                    f"Too long: object is {size} bytes, may not exceed {MAX_OBJECT_BYTES} bytes",
                    "",
                )
            ],
        )


# DefaultTolerationSeconds: how long a new pod stays on a not-ready or unreachable node.
DEFAULT_TOLERATION_SECONDS = 300
NODE_NOT_READY_TAINT = "node.kubernetes.io/not-ready"
NODE_UNREACHABLE_TAINT = "node.kubernetes.io/unreachable"


def add_default_tolerations(pod: dict[str, Any]) -> None:
    """Give ``pod`` (in place) NoExecute tolerations of the not-ready and unreachable taints for 300 s.

    A toleration the pod already has for that taint (same key or an empty key, effect NoExecute or
    empty) is left alone, as Kubernetes' DefaultTolerationSeconds admission plugin does.
    """
    spec = pod.get("spec")
    if not isinstance(spec, dict):
        return
    tolerations = spec.get("tolerations")
    if tolerations is None:
        tolerations = []
    if not isinstance(tolerations, list):
        return
    for key in (NODE_NOT_READY_TAINT, NODE_UNREACHABLE_TAINT):
        covered = any(
            isinstance(t, dict) and t.get("key", "") in (key, "") and t.get("effect", "") in ("NoExecute", "")
            for t in tolerations
        )
        if not covered:
            tolerations.append(
                {
                    "key": key,
                    "operator": "Exists",
                    "effect": "NoExecute",
                    "tolerationSeconds": DEFAULT_TOLERATION_SECONDS,
                }
            )
    if tolerations:
        spec["tolerations"] = tolerations


def default_and_validate(resource: Resource, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
    """Apply Kubernetes' defaults (in place), then validate; ``Invalid`` (422) on any error.

    New pods also get the default not-ready/unreachable tolerations (``add_default_tolerations``).
    """
    if old is None and resource.group == "" and resource.plural == "pods":
        add_default_tolerations(obj)
    apply_defaults(resource, obj)
    causes = validate(resource, obj, old)
    if causes:
        name = obj.get("metadata", {}).get("name", "") or obj.get("metadata", {}).get("generateName", "")
        raise errors.invalid(resource.kind, resource.group, name, causes)
    check_size(resource, obj)
