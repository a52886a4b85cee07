"""BACKUP_SCHEDULE: `off`, `manual`, a daily time (`02:30`) or a cron expression of five fields.

The tasks check the setting with `problem`, the backup service waits with `next_time`, and
`invoke status` counts the times missed with `times_between`. Imports nothing of its own.
"""

from __future__ import annotations

import datetime
import re

OFF, MANUAL = "off", "manual"
FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12), ("day of week", 0, 6))
ALLOWED = ("off, manual (only `invoke backup-now`), a daily time such as 02:30, or a cron expression of five "
           "fields such as '30 2 * * *' (minute hour day-of-month month day-of-week; *, a-b, a,b and */n)")
_DAILY = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
_PART = re.compile(r"^(\*|\d+(?:-\d+)?)(?:/(\d+))?$")


def as_cron(value: str) -> str:
    """A daily time as its cron expression; anything else as it is."""
    daily = _DAILY.match(value.strip())
    return f"{int(daily.group(2))} {int(daily.group(1))} * * *" if daily else " ".join(value.split())


def _values(text: str, low: int, high: int) -> set[int]:
    found: set[int] = set()
    for part in text.split(","):
        match = _PART.match(part)
        if not match:
            raise ValueError(part)
        span, step = match.group(1), int(match.group(2) or 1)
        first, last = (low, high) if span == "*" else (int(span.split("-")[0]), int(span.split("-")[-1]))
        if not (low <= first <= last <= high) or step < 1:
            raise ValueError(part)
        found.update(range(first, last + 1, step))
    return found


def parse(value: str) -> list[set[int]]:
    """The allowed minutes, hours, days, months and weekdays (Sunday is 0, and 7); raises ValueError."""
    fields = as_cron(value).split()
    if len(fields) != len(FIELDS):
        raise ValueError(value)
    weekday = fields[4].replace("7", "0") if fields[4] != "*" else fields[4]
    return [_values(text, low, high) for text, (_, low, high) in zip([*fields[:4], weekday], FIELDS, strict=True)]


def problem(value: str) -> str | None:
    """None when `value` is a schedule, else what is allowed."""
    if value in (OFF, MANUAL):
        return None
    try:
        next_time(value, datetime.datetime(2000, 1, 1))  # also refuses a date that never comes (31 2 ...)
    except ValueError:
        return ALLOWED
    return None


def matches(sets: list[set[int]], when: datetime.datetime) -> bool:
    minutes, hours, days, months, weekdays = sets
    by_date, by_weekday = when.day in days, (when.weekday() + 1) % 7 in weekdays
    # As in cron: when both day fields are restricted, either one may match.
    day = by_date or by_weekday if len(days) < 31 and len(weekdays) < 7 else by_date and by_weekday
    return when.minute in minutes and when.hour in hours and when.month in months and day


def times_between(value: str, start: datetime.datetime, end: datetime.datetime, limit: int = 2) -> int:
    """How many scheduled times fall after `start` up to `end` (counting stops at `limit`)."""
    sets, count = parse(value), 0
    when = start.replace(second=0, microsecond=0) + datetime.timedelta(minutes=1)
    while when <= end and count < limit:
        count += matches(sets, when)
        when += datetime.timedelta(minutes=1)
    return count


def next_time(value: str, after: datetime.datetime) -> datetime.datetime:
    """The first scheduled minute after `after` (within a year; a schedule is checked before it is used)."""
    sets = parse(value)
    when = after.replace(second=0, microsecond=0) + datetime.timedelta(minutes=1)
    for _ in range(366 * 24 * 60):
        if matches(sets, when):
            return when
        when += datetime.timedelta(minutes=1)
    raise ValueError(f"{value!r} names no time within a year")
