"""Cron schedules as CronJobs write them, and the times they fire at.

``parse(text)`` accepts the five standard fields (minute, hour, day of month, month, day of week)
with ``*``, ``?``, lists, ranges, steps and month/weekday names, the ``@yearly``/``@monthly``/
``@weekly``/``@daily``/``@hourly`` macros (``@annually``, ``@midnight`` too) and ``@every <duration>``.
``Schedule.next_after(t)`` is the first firing time strictly after ``t``, evaluated on the wall clock
of ``t``'s time zone. As in Vixie cron, when both day fields are restricted a day matches either.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_MONTHS = {m: i + 1 for i, m in enumerate("jan feb mar apr may jun jul aug sep oct nov dec".split())}
_DAYS = {d: i for i, d in enumerate("sun mon tue wed thu fri sat".split())}
_BOUNDS = ((0, 59, {}), (0, 23, {}), (1, 31, {}), (1, 12, _MONTHS), (0, 7, _DAYS))
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_SEARCH_YEARS = 5  # a schedule that never fires within this many years (e.g. Feb 30) has no next time


class ScheduleError(ValueError):
    """The schedule text does not parse."""


@dataclass(frozen=True)
class Schedule:
    """A parsed schedule: the allowed values of each field, or a fixed interval for ``@every``."""

    minutes: frozenset[int] = frozenset()
    hours: frozenset[int] = frozenset()
    days: frozenset[int] = frozenset()
    months: frozenset[int] = frozenset()
    weekdays: frozenset[int] = frozenset()
    any_day: bool = True  # the day-of-month field was ``*``/``?``
    any_weekday: bool = True  # the day-of-week field was ``*``/``?``
    every: timedelta | None = None

    def _day_matches(self, when: datetime) -> bool:
        day_ok = when.day in self.days
        weekday_ok = (when.weekday() + 1) % 7 in self.weekdays
        if self.any_day or self.any_weekday:
            return day_ok and weekday_ok
        return day_ok or weekday_ok

    def next_after(self, when: datetime) -> datetime | None:
        """The first firing time strictly after ``when`` (aware), in ``when``'s zone; None if never."""
        if self.every is not None:
            return when.replace(microsecond=0) + self.every
        zone = when.tzinfo
        t = when.replace(tzinfo=None, second=0, microsecond=0) + timedelta(minutes=1)
        limit = t + timedelta(days=366 * _SEARCH_YEARS)
        while t < limit:
            if t.month not in self.months:
                t = (t.replace(day=1) + timedelta(days=32)).replace(day=1, hour=0, minute=0)
            elif not self._day_matches(t):
                t = (t + timedelta(days=1)).replace(hour=0, minute=0)
            elif t.hour not in self.hours:
                t = (t + timedelta(hours=1)).replace(minute=0)
            elif t.minute not in self.minutes:
                t += timedelta(minutes=1)
            else:
                return t.replace(tzinfo=zone)
        return None


def _value(text: str, low: int, high: int, names: dict[str, int]) -> int:
    if text.lower() in names:
        return names[text.lower()]
    if not text.isdigit() or not low <= int(text) <= high:
        raise ScheduleError(f"{text!r} is not a value in {low}-{high}")
    return int(text)


def _field(text: str, low: int, high: int, names: dict[str, int]) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        span, slash, step_text = part.partition("/")
        if slash and (not step_text.isdigit() or int(step_text) == 0):
            raise ScheduleError(f"step of {part!r} should be a positive number")
        step = int(step_text) if slash else 1
        if span in ("*", "?"):
            first, last = low, high
        else:
            start, dash, end = span.partition("-")
            first = _value(start, low, high, names)
            last = _value(end, low, high, names) if dash else (high if slash else first)
            if first > last:
                raise ScheduleError(f"range {part!r} runs backwards")
        values.update(range(first, last + 1, step))
    return frozenset(values)


def _duration(text: str) -> timedelta:
    parts = _DURATION_PART.findall(text)
    if not text or "".join(n + u for n, u in parts) != text:
        raise ScheduleError(f"failed to parse duration {text!r}")
    seconds = sum(float(n) * _UNITS[u] for n, u in parts)
    if seconds < 1:
        raise ScheduleError(f"@every needs at least one second: {text!r}")
    return timedelta(seconds=int(seconds))


def parse(text: str) -> Schedule:
    """The schedule ``text`` describes; ``ScheduleError`` when it does not parse."""
    text = text.strip()
    if text.startswith("@every "):
        return Schedule(every=_duration(text[len("@every ") :].strip()))
    if text.startswith("@"):
        if text not in MACROS:
            raise ScheduleError(f"unrecognized descriptor: {text}")
        text = MACROS[text]
    fields = text.split()
    if len(fields) != 5:
        raise ScheduleError(f"expected exactly 5 fields, found {len(fields)}: {text}")
    minutes, hours, days, months, weekdays = (
        _field(f, low, high, names) for f, (low, high, names) in zip(fields, _BOUNDS, strict=True)
    )
    return Schedule(
        minutes=minutes,
        hours=hours,
        days=days,
        months=months,
        weekdays=frozenset(d % 7 for d in weekdays),
        any_day=fields[2] in ("*", "?") or fields[2].startswith("*/"),
        any_weekday=fields[4] in ("*", "?") or fields[4].startswith("*/"),
    )


def zone(name: str | None) -> ZoneInfo:
    """The IANA time zone ``name`` (UTC when unset); ``ScheduleError`` for an unknown zone."""
    try:
        return ZoneInfo(name or "UTC")
    except (ValueError, KeyError) as exc:  # ZoneInfoNotFoundError is a KeyError
        raise ScheduleError(f"unknown time zone {name}") from exc
