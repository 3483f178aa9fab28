"""Build ``meta.k8s.io/v1`` Table objects, the reply to ``Accept: application/json;as=Table;...``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ..resources import Resource
from . import pods
from .columns import columns_for

TABLE_API_VERSION = "meta.k8s.io/v1"
INCLUDE_OBJECT_MODES = ("None", "Metadata", "Object")


def column_definitions(resource: Resource) -> list[dict[str, Any]]:
    """The ``columnDefinitions`` of ``resource``'s Table, wide (priority 1) columns included."""
    return [column.definition() for column in columns_for(resource.group, resource.plural)]


def _row_object(resource: Resource, obj: dict[str, Any], include_object: str) -> dict[str, Any] | None:
    if include_object == "None":
        return None
    if include_object == "Object":
        return {"apiVersion": resource.api_version, "kind": resource.kind, **obj}
    return {
        "kind": "PartialObjectMetadata",
        "apiVersion": TABLE_API_VERSION,
        "metadata": obj.get("metadata") or {},
    }


def table(
    resource: Resource,
    objects: list[dict[str, Any]],
    *,
    include_object: str = "Metadata",
    now: datetime | None = None,
    list_meta: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A Table of ``objects`` (all of kind ``resource``), one row each, every column filled.

    ``include_object`` is the ``includeObject`` query parameter: ``"None"`` leaves rows without
    ``object``, ``"Metadata"`` (the default) attaches a PartialObjectMetadata, ``"Object"`` the full
    object. ``now`` fixes the clock for ages (default: current UTC time). ValueError on an unknown mode.
    """
    if include_object not in INCLUDE_OBJECT_MODES:
        raise ValueError(f"includeObject must be one of {', '.join(INCLUDE_OBJECT_MODES)}")
    now = now or datetime.now(UTC)
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    columns = columns_for(resource.group, resource.plural)
    rows = []
    for obj in objects:
        row: dict[str, Any] = {"cells": [column.cell(obj, now) for column in columns]}
        if resource.group == "" and resource.plural == "pods" and (conditions := pods.row_conditions(obj)):
            row["conditions"] = conditions
        row_object = _row_object(resource, obj, include_object)
        if row_object is not None:
            row["object"] = row_object
        rows.append(row)
    return {
        "kind": "Table",
        "apiVersion": TABLE_API_VERSION,
        "metadata": list_meta or {},
        "columnDefinitions": column_definitions(resource),
        "rows": rows,
    }
