"""Kubernetes resource quantities (``100m``, ``1Gi``, ``1e3``) as exact decimals."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

QUANTITY_PATTERN = "^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$"
QUANTITY_MESSAGE = f"quantities must match the regular expression '{QUANTITY_PATTERN}'"

_NUMBER = re.compile(r"([+-]?)([0-9]*\.?[0-9]*)(.*)", re.S)
_EXPONENT = re.compile(r"[eE]([+-]?[0-9]+)")
_SUFFIXES: dict[str, Decimal] = {
    "": Decimal(1),
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
    "Ki": Decimal(2**10),
    "Mi": Decimal(2**20),
    "Gi": Decimal(2**30),
    "Ti": Decimal(2**40),
    "Pi": Decimal(2**50),
    "Ei": Decimal(2**60),
}


def parse_quantity(s: str | int | float) -> Decimal:
    """The value of a Kubernetes quantity; ValueError (with Kubernetes' message) when malformed.

    Accepts a number, a decimal or binary SI suffix (``m``, ``k``, ``Mi``, ``Gi``, ...) or a
    decimal exponent (``1e3``, ``5E-2``). JSON numbers are read as their text form, as Kubernetes does.
    """
    if isinstance(s, bool):
        raise ValueError(QUANTITY_MESSAGE)
    if isinstance(s, int | float):
        text = repr(s) if isinstance(s, float) else str(s)
    elif isinstance(s, str):
        text = s
    else:
        raise ValueError(QUANTITY_MESSAGE)
    match = _NUMBER.fullmatch(text)
    if not match:
        raise ValueError(QUANTITY_MESSAGE)
    sign, digits, suffix = match.groups()
    if not any(c.isdigit() for c in digits):
        raise ValueError(QUANTITY_MESSAGE)
    if suffix in _SUFFIXES:
        scale = _SUFFIXES[suffix]
    else:
        exponent = _EXPONENT.fullmatch(suffix)
        if not exponent:
            raise ValueError(QUANTITY_MESSAGE)
        scale = Decimal(10) ** int(exponent.group(1))
    try:
        value = Decimal(digits) * scale
    except InvalidOperation as exc:
        raise ValueError(QUANTITY_MESSAGE) from exc
    return -value if sign == "-" else value
