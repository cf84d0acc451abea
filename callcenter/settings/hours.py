"""Business hours: reading ``hours.yaml`` schedules and deciding whether one is open at an instant.

A schedule has a time zone, weekly open intervals and holidays::

    schedules:
      office:
        timezone: America/New_York
        weekly:
          mon-fri: ["09:00-17:00"]
          sat: ["10:00-14:00"]
        holidays:
          - 2026-12-25
          - {date: 2026-12-24, name: Christmas Eve, hours: ["09:00-12:00"]}

Days not listed are closed; ``24:00`` ends an interval at midnight. Intervals are local
wall-clock times, so opening hours follow daylight-saving changes.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from callcenter.settings.model import Holiday, ScheduleSettings
from callcenter.settings.sections import check_id, check_timezone, frozen_map
from callcenter.settings.source import Checker, Node

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_INTERVAL = re.compile(r"^(\d\d):(\d\d)-(\d\d):(\d\d)$")
Interval = tuple[dt.time, dt.time]


def _days(text: str) -> tuple[int, ...] | None:
    if text in DAYS:
        return (DAYS.index(text),)
    first, sep, last = text.partition("-")
    if sep and first in DAYS and last in DAYS and DAYS.index(first) <= DAYS.index(last):
        return tuple(range(DAYS.index(first), DAYS.index(last) + 1))
    return None


def _intervals(node: Node, checker: Checker) -> tuple[Interval, ...]:
    """A list of ``HH:MM-HH:MM`` intervals (or ``closed``), sorted, without overlaps."""
    if node.is_null or (node.yaml.tag.endswith(":str") and getattr(node.yaml, "value", None) == "closed"):
        return ()
    out: list[Interval] = []
    for item in checker.sequence(node, allow_scalar=True):
        text = checker.string(item, "00:00-00:00")
        m = _INTERVAL.match(text)
        hours = [int(g) for g in m.groups()] if m else []
        if not m or hours[0] > 23 or hours[2] > 24 or hours[1] > 59 or hours[3] > 59 or (hours[2] == 24 and hours[3]):
            checker.error(item, "must be opening hours like 09:00-17:00")
            continue
        start = dt.time(hours[0], hours[1])
        end = dt.time.max if hours[2] == 24 else dt.time(hours[2], hours[3])
        if end <= start:
            checker.error(item, "must end after it starts (split hours past midnight over two days)")
            continue
        out.append((start, end))
    out.sort()
    for (_, end), (start, _) in zip(out, out[1:]):
        if start < end:
            checker.error(node, "opening hours overlap")
            break
    return tuple(out)


def read_schedules(root: Node | None, checker: Checker) -> dict[str, ScheduleSettings]:
    """``hours.yaml``: ``schedules: {name: {timezone, weekly, holidays}}``; absent file: none."""
    if root is None:
        return {}
    top = checker.mapping(root, required=("schedules",))
    schedules: dict[str, ScheduleSettings] = {}
    for name, node in checker.entries(top["schedules"]) if "schedules" in top else ():
        check_id(checker, node)
        e = checker.mapping(node, required=("timezone", "weekly"), optional=("holidays",))
        timezone = check_timezone(checker, e["timezone"]) if "timezone" in e else "UTC"
        weekly: dict[int, tuple[Interval, ...]] = {}
        given_by: dict[int, str] = {}
        for days_text, day_node in checker.entries(e["weekly"]) if "weekly" in e else ():
            days = _days(days_text)
            if days is None:
                checker.error(day_node, "must be a day (mon..sun) or a range of days like mon-fri")
                continue
            intervals = _intervals(day_node, checker)
            for day in days:
                if day in given_by:
                    checker.error(day_node, f"{DAYS[day]} is already given by {given_by[day]}")
                given_by[day] = days_text
                weekly[day] = intervals
        holidays: dict[dt.date, Holiday] = {}
        for item in checker.sequence(e["holidays"]) if "holidays" in e else ():
            holiday = _holiday(item, checker)
            if holiday is None:
                continue
            if holiday.date in holidays:
                checker.error(item, f"{holiday.date.isoformat()} is listed twice")
            holidays[holiday.date] = holiday
        schedules[name] = ScheduleSettings(name, timezone, frozen_map(weekly), frozen_map(holidays))
    return schedules


def _holiday(item: Node, checker: Checker) -> Holiday | None:
    if item.yaml.tag.endswith(":map"):
        h = checker.mapping(item, required=("date",), optional=("name", "hours"))
        if "date" not in h:
            return None
        day = checker.date(h["date"])
        name = checker.string(h["name"]) if "name" in h else ""
        hours = _intervals(h["hours"], checker) if "hours" in h else ()
        return Holiday(day, name, hours) if day else None
    day = checker.date(item)
    return Holiday(day, "", ()) if day else None


def open_intervals(schedule: ScheduleSettings, day: dt.date) -> tuple[Interval, ...]:
    """The open intervals of local date ``day``: a holiday's hours, else the weekday's."""
    holiday = schedule.holidays.get(day)
    if holiday is not None:
        return holiday.hours
    return schedule.weekly.get(day.weekday(), ())


def schedule_open(schedule: ScheduleSettings, at: dt.datetime) -> bool:
    """True if ``schedule`` is open at the aware instant ``at``.

    Raises ``ValueError`` for a naive datetime: a wall time without a zone is ambiguous.
    """
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("schedule_open needs a timezone-aware datetime")
    local = at.astimezone(zoneinfo.ZoneInfo(schedule.timezone))
    now = local.time().replace(tzinfo=None)
    return any(start <= now and (now < end or end == dt.time.max)
               for start, end in open_intervals(schedule, local.date()))

