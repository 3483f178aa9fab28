"""PodDisruptionBudget cells: MIN AVAILABLE and MAX UNAVAILABLE show the value set, or ``N/A``."""

from __future__ import annotations

from typing import Any

from .format import dig

NOT_SET = "N/A"


def budget_value(pdb: dict[str, Any], field: str) -> str:
    """``spec.<field>`` as text (``2``, ``50%``), ``N/A`` when the budget does not use it."""
    value = dig(pdb, "spec", field)
    return NOT_SET if value is None else str(value)
