"""CSV export of report rows.

RFC 4180 CSV (comma, CRLF, fields quoted when they hold a comma, quote or line break) with
a header row. Intervals are given as their local start with its UTC offset (ISO 8601), so
the two 01:00 hours of a daylight-saving night stay distinct. Rates are fractions (0..1),
durations seconds with one decimal, unknown values empty. A text cell that a spreadsheet
would run as a formula (starting with ``=``, ``+``, ``-``, ``@``, tab or CR) is prefixed
with an apostrophe.
"""

from __future__ import annotations

import csv
import io
from typing import Iterable
from zoneinfo import ZoneInfo

from callcenter.reports.kpi import KpiRow

COLUMNS = ("interval_start", "interval_end", "queue", "channel", "agent", "offered", "handled", "abandoned",
           "short_abandoned", "abandon_rate", "service_level", "asa", "aht", "max_wait", "occupancy")
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(text: str) -> str:
    """``text`` made inert for spreadsheets (see the module docstring)."""
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def _number(value: float | None, digits: int) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def _dimension(value: str | None) -> str:
    return "(all)" if value is None else safe_cell(value)


def rows_to_csv(rows: Iterable[KpiRow], tz: ZoneInfo) -> str:
    """The CSV text of ``rows``, interval bounds in zone ``tz``."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for r in rows:
        writer.writerow([
            r.interval.start.astimezone(tz).isoformat(), r.interval.end.astimezone(tz).isoformat(),
            _dimension(r.queue), _dimension(r.channel), _dimension(r.agent),
            r.offered, r.handled, r.abandoned, r.short_abandoned,
            _number(r.abandon_rate, 4), _number(r.service_level, 4), _number(r.asa, 1), _number(r.aht, 1),
            _number(r.max_wait, 1), _number(r.occupancy, 4),
        ])
    return out.getvalue()
