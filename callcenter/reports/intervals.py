"""Report intervals in the site time zone: 15 minutes, an hour, a day.

An interval is ``[start, end)`` between two aware UTC instants. Its boundaries are local
wall-clock boundaries of the site's zone: a day runs from local midnight to the next local
midnight (23 or 25 hours on a daylight-saving change day), an hour from ``hh:00`` local. On
the night clocks go back, the repeated local hour is two distinct hour intervals (the
``fold`` of the local time keeps them apart); on the night they go forward the skipped hour
simply has no interval.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Iterator
from zoneinfo import ZoneInfo

GRANULARITIES = ("15min", "hour", "day")
_STEP = {"15min": timedelta(minutes=15), "hour": timedelta(hours=1)}


class InvalidGranularity(ValueError):
    """The granularity is not one of :data:`GRANULARITIES`."""


@dataclass(frozen=True, order=True)
class Interval:
    """``[start, end)`` as aware UTC datetimes; ``label`` is the local start, e.g. ``2026-03-01 09:15``."""

    start: datetime
    end: datetime
    label: str

    def contains(self, instant: datetime) -> bool:
        """Whether ``instant`` (aware) falls in ``[start, end)``."""
        return self.start <= instant < self.end


def _check(granularity: str) -> None:
    if granularity not in GRANULARITIES:
        raise InvalidGranularity(f"granularity must be one of {', '.join(GRANULARITIES)}, not {granularity!r}")


def _aware(instant: datetime) -> datetime:
    if instant.tzinfo is None:
        raise ValueError(f"instants must be timezone-aware, got {instant!r}")
    return instant


def local_midnight(day: date, tz: ZoneInfo) -> datetime:
    """The UTC instant at which local ``day`` begins in ``tz``."""
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(timezone.utc)


def interval_of(instant: datetime, granularity: str, tz: ZoneInfo) -> Interval:
    """The interval of ``granularity`` in zone ``tz`` that holds ``instant``.

    Raises :class:`InvalidGranularity` for an unknown granularity and ``ValueError`` for a
    naive ``instant``.
    """
    _check(granularity)
    local = _aware(instant).astimezone(tz)
    if granularity == "day":
        start = local_midnight(local.date(), tz)
        end = local_midnight(local.date() + timedelta(days=1), tz)
        return Interval(start, end, local.date().isoformat())
    minute = local.minute - local.minute % 15 if granularity == "15min" else 0
    # replace() keeps the fold: the two 01:xx hours of a fall-back night stay distinct.
    floored = local.replace(minute=minute, second=0, microsecond=0)
    start = floored.astimezone(timezone.utc)
    return Interval(start, start + _STEP[granularity], floored.strftime("%Y-%m-%d %H:%M"))


def intervals_between(start: datetime, end: datetime, granularity: str, tz: ZoneInfo) -> Iterator[Interval]:
    """Every interval overlapping ``[start, end)``, in order, with none skipped (empty ones too).

    The first interval is the one holding ``start`` (it may begin before it). Raises like
    :func:`interval_of`.
    """
    _check(granularity)
    current = interval_of(start, granularity, tz)
    while current.start < _aware(end):
        yield current
        current = interval_of(current.end, granularity, tz)


def day_range(day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """``[start, end)`` in UTC of the local calendar ``day`` in ``tz``."""
    return local_midnight(day, tz), local_midnight(day + timedelta(days=1), tz)
