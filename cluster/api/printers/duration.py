"""Timestamps and Kubernetes' human duration format ("5s", "3m12s", "3h4m", "2d3h", "45d", "3y20d").

``since(ts, now)`` is what every AGE-like cell shows; it is ``"<unknown>"`` when the timestamp is
missing or unreadable.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

UNKNOWN = "<unknown>"


def parse_time(value: object) -> datetime | None:
    """An RFC 3339 timestamp (``Time`` or ``MicroTime``) or a datetime, as an aware datetime; else None."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def human_duration(delta: timedelta) -> str:
    """``delta`` with about two significant units, following the thresholds kubectl uses.

    Up to 1 s in the future reads "0s"; further in the future reads "<invalid>".
    """
    seconds = int(delta.total_seconds())  # truncates toward zero, like Go's int(d.Seconds())
    if seconds < -1:
        return "<invalid>"
    if seconds < 0:
        return "0s"
    if seconds < 120:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 10:
        rest = seconds % 60
        return f"{minutes}m{rest}s" if rest else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h{rest}m" if rest else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    days = hours // 24
    if hours < 24 * 8:
        rest = hours % 24
        return f"{days}d{rest}h" if rest else f"{days}d"
    if hours < 24 * 365 * 2:
        return f"{days}d"
    if hours < 24 * 365 * 8:
        return f"{days // 365}y{days % 365}d"
    return f"{days // 365}y"


def since(value: object, now: datetime) -> str:
    """How long ago timestamp ``value`` was, in human form; ``"<unknown>"`` when it is absent."""
    then = parse_time(value)
    return human_duration(now - then) if then else UNKNOWN


def between(start: object, end: object) -> str:
    """Human duration from ``start`` to ``end``; ``""`` when either is absent."""
    first, last = parse_time(start), parse_time(end)
    return human_duration(last - first) if first and last else ""
