"""CSV export of report rows.

RFC 4180 CSV (comma, CRLF, fields quoted when they hold a comma, quote or line break) with
one header row, UTF-8, optionally with a byte-order mark (``bom=True``) so that Excel reads
the text as UTF-8 (queue names in Chinese, accents) instead of the local code page. Each
header names its unit in brackets: ``[legs]``, ``[contacts]``, ``[s]`` (seconds, one
decimal), ``[0..1]`` (fractions, four places); the interval bounds name the site's time zone
and are ISO 8601 local times with their UTC offset, so the two 01:00 hours of a
daylight-saving night stay distinct; the service level names the definition in force. An
unknown value is an empty cell. A text cell that a spreadsheet would run as a formula
(starting with ``=``, ``+``, ``-``, ``@``, tab or CR) is prefixed with an apostrophe.
"""

from __future__ import annotations

import csv
import io
from typing import Any, Callable, Iterable
from zoneinfo import ZoneInfo

from callcenter.reports.kpi import KpiRow

BOM = "\ufeff"
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _number(value: float | None, digits: int) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def safe_cell(text: str) -> str:
    """``text`` made inert for spreadsheets (see the module docstring)."""
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def _dimension(value: str | None) -> str:
    return "(all)" if value is None else safe_cell(value)


def _fraction(name: str) -> Callable[[KpiRow], str]:
    return lambda r: _number(getattr(r, name), 4)


def _seconds(name: str) -> Callable[[KpiRow], str]:
    return lambda r: _number(getattr(r, name), 1)


def _count(name: str) -> Callable[[KpiRow], Any]:
    return lambda r: getattr(r, name)


# (header, unit, cell) after the interval and dimension columns; the service level's header
# carries the definition's name, filled in by :func:`columns`.
_FIGURES: tuple[tuple[str, str, Callable[[KpiRow], Any]], ...] = (
    ("offered", "legs", _count("offered")),
    ("answered", "legs", _count("answered")),
    ("answered_within_target", "legs", _count("answered_within")),
    ("abandoned", "legs", _count("abandoned")),
    ("short_abandoned", "legs", _count("short_abandoned")),
    ("overflowed_out", "legs", _count("overflowed_out")),
    ("transferred_out", "legs", _count("transferred_out")),
    ("callbacks_requested", "legs", _count("callbacks_requested")),
    ("callbacks_offered", "legs", _count("callbacks_offered")),
    ("callbacks_answered", "legs", _count("callbacks_answered")),
    ("abandon_rate", "0..1", _fraction("abandon_rate")),
    ("service_level", "0..1", _fraction("service_level")),
    ("asa", "s", _seconds("asa")),
    ("callback_asa", "s", _seconds("callback_asa")),
    ("aht", "s", _seconds("aht")),
    ("handled_legs", "legs", _count("handle_count")),
    ("max_wait", "s", _seconds("max_wait")),
    ("contacts", "contacts", _count("contacts")),
    ("first_contact_resolution", "0..1", _fraction("fcr")),
    ("occupancy", "0..1", _fraction("occupancy")),
)


def columns(tz: ZoneInfo, definition: str) -> list[str]:
    """The header row: every column with its unit, the time zone and the service-level definition."""
    head = [f"interval_start ({tz.key}) [ISO 8601]", f"interval_end ({tz.key}) [ISO 8601]", "queue", "channel", "agent"]
    return head + [f"service_level ({definition}) [{unit}]" if name == "service_level" else f"{name} [{unit}]"
                   for name, unit, _ in _FIGURES]


def rows_to_csv(rows: Iterable[KpiRow], tz: ZoneInfo, definition: str = "default", bom: bool = False) -> str:
    """The CSV text of ``rows``, interval bounds in zone ``tz``, led by a BOM when ``bom``."""
    out = io.StringIO()
    if bom:
        out.write(BOM)
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns(tz, definition))
    for r in rows:
        writer.writerow([r.interval.start.astimezone(tz).isoformat(), r.interval.end.astimezone(tz).isoformat(),
                         _dimension(r.queue), _dimension(r.channel), _dimension(r.agent)]
                        + [cell(r) for _, _, cell in _FIGURES])
    return out.getvalue()
