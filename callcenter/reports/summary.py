"""The daily summary: yesterday's figures per queue, rendered to text and HTML and sent.

:func:`build_summary` (pure) turns a day's queue legs into a :class:`DailySummary`: per
configured queue (and in total) the figures of :mod:`callcenter.reports.kpi` (the same
definitions as the dashboard, the report pages, the CSV and ``/metrics``) and the most
frequent dispositions. :func:`render_summary` renders it with the Jinja2 templates
in ``callcenter/reports/templates`` (``StrictUndefined``; the HTML one autoescaped).
:func:`send_daily_summary` reads, builds, renders and awaits the injected ``send``;
:class:`DailySummarySchedule` does that every day at the configured local time.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, Awaitable, Callable, Iterable, Mapping
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from twisted.internet.defer import Deferred
from twisted.logger import Logger

from callcenter.reports.intervals import Interval, day_range
from callcenter.reports.kpi import KpiRow, KpiRules, compute_report, rules_from_settings, total
from callcenter.reports.legs import Leg

log = Logger(namespace="callcenter.reports.summary")
TOP_DISPOSITIONS = 3


@dataclass(frozen=True)
class QueueSummary:
    """One queue's day: its figures and its ``(code, label, count)`` top dispositions."""

    queue: str
    label: str
    figures: KpiRow
    top_dispositions: tuple[tuple[str, str, int], ...]


@dataclass(frozen=True)
class DailySummary:
    """A local calendar day of the site: totals and one entry per queue, in queue order."""

    day: date
    timezone: str
    totals: KpiRow
    queues: tuple[QueueSummary, ...]


@dataclass(frozen=True)
class SummaryMessage:
    """What to send: recipients, subject, plain text and HTML bodies."""

    recipients: tuple[str, ...]
    subject: str
    text: str
    html: str


Sender = Callable[[SummaryMessage], Awaitable[None]]


def build_summary(legs: Iterable[Leg], day: date, tz: ZoneInfo, rules: KpiRules,
                  queue_labels: Mapping[str, str], disposition_labels: Mapping[str, str],
                  top: int = TOP_DISPOSITIONS) -> DailySummary:
    """The summary of local ``day`` in ``tz`` from ``legs`` (legs entered on other days are ignored).

    Every queue of ``queue_labels`` is listed, idle ones too; a queue met in the legs but
    not configured (renamed since) is listed under its own name after them. Dispositions
    are counted on the answered leg that finished each contact; ties are ordered by code.
    """
    start, end = day_range(day, tz)
    legs = [leg for leg in legs if start <= leg.entered_at < end]
    rows = compute_report(legs, start, end, "day", tz, rules, group_by=["queue"],
                          groups=[(q,) for q in queue_labels])
    counts: dict[str, Counter] = {}
    for leg in legs:
        if leg.answered_at is not None and leg.disposition:
            counts.setdefault(leg.queue or "", Counter())[leg.disposition] += 1
    order = {name: i for i, name in enumerate(queue_labels)}
    queues = []
    for row in sorted(rows, key=lambda r: (order.get(r.queue or "", len(order)), r.queue or "")):
        name = row.queue or ""
        ranked = sorted((counts.get(name) or Counter()).items(), key=lambda kv: (-kv[1], kv[0]))[:top]
        queues.append(QueueSummary(name, queue_labels.get(name, name or "(no queue)"), row,
                                   tuple((code, disposition_labels.get(code, code), n) for code, n in ranked)))
    whole = Interval(start, end, day.isoformat())
    return DailySummary(day, tz.key, total(rows, whole), tuple(queues))


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f} %"


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} s"


def summary_environment() -> Environment:
    """The Jinja2 environment of the summary templates (HTML autoescaped, strict undefined)."""
    env = Environment(loader=PackageLoader("callcenter.reports", "templates"),
                      autoescape=select_autoescape(["html"]), undefined=StrictUndefined,
                      keep_trailing_newline=True)
    env.filters["percent"] = _percent
    env.filters["seconds"] = _seconds
    return env


def render_summary(summary: DailySummary, recipients: Iterable[str], env: Environment | None = None) -> SummaryMessage:
    """The message of ``summary`` for ``recipients``; Jinja2 errors propagate (a template bug)."""
    env = env or summary_environment()
    subject = f"Contact center summary for {summary.day.isoformat()}"
    context = {"summary": summary, "subject": subject}
    return SummaryMessage(tuple(recipients), subject,
                          env.get_template("daily_summary.txt").render(context),
                          env.get_template("daily_summary.html").render(context))


async def send_daily_summary(reader: Any, settings: Any, day: date, send: Sender) -> SummaryMessage:
    """Read ``day``'s legs through ``reader`` (a ReportingReader), build, render and send.

    ``settings`` are the validated settings (queues, dispositions, server time zone,
    supervision recipients). Errors of the reader or of ``send`` propagate.
    """
    tz = ZoneInfo(settings.server.timezone)
    start, end = day_range(day, tz)
    legs = await reader.legs(start, end)
    rules = rules_from_settings(settings)
    summary = build_summary(legs, day, tz, rules, {n: q.label for n, q in settings.queues.items()},
                            {c: d.label for c, d in settings.dispositions.items()})
    message = render_summary(summary, settings.supervision.summary_recipients)
    await send(message)
    return message


def next_send_time(now: datetime, send_at: time, tz: ZoneInfo) -> datetime:
    """The first instant strictly after ``now`` whose local time in ``tz`` is ``send_at`` (UTC).

    On a day where ``send_at`` does not exist (skipped by a daylight-saving change) the
    summary goes at the same wall-clock time shifted by the gap, as zoneinfo resolves it.
    """
    local = now.astimezone(tz)
    candidate = datetime.combine(local.date(), send_at, tzinfo=tz)
    if candidate.astimezone(timezone.utc) <= now:
        candidate = datetime.combine(local.date() + timedelta(days=1), send_at, tzinfo=tz)
    return candidate.astimezone(timezone.utc)


class DailySummarySchedule:
    """Sends the previous local day's summary every day at ``summary_send_at``.

    ``clock`` is a :class:`callcenter.runtime.clock.Clock`; ``settings()`` returns the settings in
    force (read at each sending, so a reload applies from the next one); ``send`` is the
    injected async sender. Nothing is sent while the summary is disabled. A failed sending
    is logged and the next day's goes as usual. :attr:`sent` lists the days sent so far.
    """

    def __init__(self, clock: Any, reader: Any, settings: Callable[[], Any], send: Sender) -> None:
        self._clock = clock
        self._reader = reader
        self._settings = settings
        self._send = send
        self._call: Any = None
        self.sent: list[date] = []

    def start(self) -> None:
        """Schedule the next sending."""
        settings = self._settings()
        tz = ZoneInfo(settings.server.timezone)
        due = next_send_time(self._clock.utcnow(), settings.supervision.summary_send_at, tz)
        self._call = self._clock.call_later((due - self._clock.utcnow()).total_seconds(), self._fire)

    def stop(self) -> None:
        """Cancel the next sending (one under way finishes)."""
        if self._call is not None and self._call.active():
            self._call.cancel()
        self._call = None

    def _fire(self) -> Deferred:
        d = Deferred.fromCoroutine(self._send_yesterday())
        d.addErrback(lambda f: log.failure("daily summary failed", f))
        d.addBoth(lambda _: self.start())
        return d

    async def _send_yesterday(self) -> None:
        settings = self._settings()
        if not settings.supervision.summary_enabled:
            return
        tz = ZoneInfo(settings.server.timezone)
        yesterday = self._clock.utcnow().astimezone(tz).date() - timedelta(days=1)
        await send_daily_summary(self._reader, settings, yesterday, self._send)
        self.sent.append(yesterday)
