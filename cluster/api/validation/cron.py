"""Cron schedule syntax as CronJobs accept it: five fields or a ``@descriptor``."""

from __future__ import annotations

import re

DESCRIPTORS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
_FIELDS = (
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day of month", 1, 31, {}),
    (
        "month",
        1,
        12,
        {m: i + 1 for i, m in enumerate("jan feb mar apr may jun jul aug sep oct nov dec".split())},
    ),
    ("day of week", 0, 7, {d: i for i, d in enumerate("sun mon tue wed thu fri sat".split())}),
)
_DURATION = re.compile(r"(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+")


def _value(text: str, low: int, high: int, aliases: dict[str, int]) -> int:
    if text.lower() in aliases:
        return aliases[text.lower()]
    if not text.isdigit():
        raise ValueError(f"failed to parse int from {text}")
    number = int(text)
    if not low <= number <= high:
        raise ValueError(
            f"end of range ({number}) above maximum ({high}): {text}"
            if number > high
            else f"beginning of range ({number}) below minimum ({low}): {text}"
        )
    return number


def _field(text: str, low: int, high: int, aliases: dict[str, int]) -> None:
    for part in text.split(","):
        span, _, step = part.partition("/")
        if step and (not step.isdigit() or int(step) == 0):
            raise ValueError(f"step of range should be a positive number: {part}")
        if span in ("*", "?"):
            continue
        start, dash, end = span.partition("-")
        first = _value(start, low, high, aliases)
        if dash:
            last = _value(end, low, high, aliases)
            if first > last:
                raise ValueError(f"beginning of range ({first}) beyond end of range ({last}): {part}")


def schedule_error(schedule: str) -> str | None:
    """None when ``schedule`` parses; otherwise the reason it does not."""
    text = schedule.strip()
    if text.startswith("@"):
        if text in DESCRIPTORS:
            return None
        if text.startswith("@every "):
            return None if _DURATION.fullmatch(text[7:].strip()) else f"failed to parse duration {text}"
        return f"unrecognized descriptor: {text}"
    fields = text.split()
    if len(fields) != 5:
        return f"expected exactly 5 fields, found {len(fields)}: {text}"
    try:
        for part, (_, low, high, aliases) in zip(fields, _FIELDS, strict=True):
            _field(part, low, high, aliases)
    except ValueError as exc:
        return str(exc)
    return None
