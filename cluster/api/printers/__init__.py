"""Server-side printing: ``meta.k8s.io/v1`` Table objects with Kubernetes' own columns per kind.

``table(resource, objects)`` answers ``kubectl get``; ``column_definitions(resource)`` lists the
columns alone (watch streams send them with the first event).
"""

from __future__ import annotations

from .duration import human_duration
from .table import column_definitions, table

__all__ = ["column_definitions", "human_duration", "table"]
