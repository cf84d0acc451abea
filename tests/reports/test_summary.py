"""The daily summary: figures per queue, top dispositions, rendering and the daily schedule."""

from __future__ import annotations

import dataclasses
import inspect
from datetime import date, datetime, time, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from twisted.internet import task

from callcenter.runtime.clock import Clock
from callcenter.records.reporting import ReportingReader
from callcenter.reports.kpi import KpiRules, ServiceTarget
from callcenter.reports.summary import (
    DailySummarySchedule, SummaryMessage, build_summary, next_send_time, render_summary, send_daily_summary,
)
from callcenter.settings import load_settings
from tests.reports.fakes import FakeReportingReader
from tests.reports.helpers import abandoned, answered

NY = ZoneInfo("America/New_York")
DAY = date(2026, 3, 2)
RULES = KpiRules(5.0, {"support": ServiceTarget(80, 20), "billing": ServiceTarget(80, 30)})
CONFIG = Path(__file__).resolve().parents[2] / "config"

FACTS = [
    answered(0, 10, queue="support", disposition="resolved"),
    answered(60, 40, queue="support", disposition="callback"),
    answered(120, 5, queue="support", disposition="resolved"),
    answered(180, 5, queue="support", disposition="sale"),
    abandoned(240, 60, queue="support"),
    abandoned(300, 2, queue="support"),
    answered(86400, 5, queue="support"),  # the next day in New York: not in this summary
]


def summary_of(facts=FACTS, labels=None):
    """The summary of DAY with support and billing configured."""
    return build_summary(facts, DAY, NY, RULES, labels or {"support": "Support", "billing": "Billing"},
                         {"resolved": "Resolved", "callback": "Call back", "sale": "Sale"})


def test_figures_per_queue_and_in_total():
    """Each configured queue is listed (idle ones too) with its day's figures; totals add them up."""
    s = summary_of()
    assert [q.queue for q in s.queues] == ["support", "billing"]
    support = s.queues[0].figures
    assert (support.offered, support.handled, support.abandoned, support.short_abandoned) == (6, 4, 1, 1)
    assert support.service_level == pytest.approx(3 / 5) and support.abandon_rate == pytest.approx(1 / 5)
    assert s.queues[1].figures.offered == 0 and s.totals.offered == 6


def test_top_dispositions_by_count_then_code():
    """Dispositions are ranked by count, ties by code, with their configured labels."""
    assert summary_of().queues[0].top_dispositions == (("resolved", "Resolved", 2), ("callback", "Call back", 1),
                                                       ("sale", "Sale", 1))


def test_text_and_html_bodies():
    """Both bodies hold the figures; the HTML escapes a queue label that the text keeps as written."""
    s = summary_of(labels={"support": "Support <24/7> & more", "billing": "Billing"})
    message = render_summary(s, ["sup@example.com"])
    assert message.subject == "Contact center summary for 2026-03-02"
    assert "Support <24/7> & more (support)" in message.text
    assert "service level 60.0 %, abandon rate 20.0 %" in message.text
    assert "top dispositions: Resolved 2, Call back 1, Sale 1" in message.text
    assert "0 overflowed out, 0 transferred out, 0 callbacks requested" in message.text
    assert "first-contact resolution 50.0 %" in message.text and "service level: default." in message.text
    assert "Support &lt;24/7&gt; &amp; more" in message.html and "<24/7>" not in message.html
    assert "<td>60.0 %</td>" in message.html


def test_fake_reader_matches_the_real_signature():
    """The fake reader used here takes the same parameters as the real one."""
    for name in ("legs", "spans"):
        assert inspect.signature(getattr(FakeReportingReader, name)) == inspect.signature(getattr(ReportingReader, name))


def _settings(enabled=True):
    settings = load_settings(CONFIG)
    supervision = dataclasses.replace(settings.supervision, summary_enabled=enabled,
                                      summary_recipients=("sup@example.com",), summary_send_at=time(7, 0))
    return dataclasses.replace(settings, supervision=supervision)


def test_send_reads_the_local_day_and_awaits_the_sender(run):
    """The reader is asked for the New York day; the sender gets the rendered message."""
    reader, outbox = FakeReportingReader(FACTS), []

    async def send(message: SummaryMessage) -> None:
        outbox.append(message)

    run(send_daily_summary(reader, _settings(), DAY, send))
    assert reader.ranges == [(datetime(2026, 3, 2, 5, tzinfo=timezone.utc), datetime(2026, 3, 3, 5, tzinfo=timezone.utc))]
    [message] = outbox
    assert message.recipients == ("sup@example.com",) and "Technical support (support)" in message.text


def test_next_send_time_in_local_time():
    """07:00 New York is 12:00 UTC in winter; once past, the next one is tomorrow; DST shifts the UTC hour."""
    assert next_send_time(datetime(2026, 3, 2, 11, 0, tzinfo=timezone.utc), time(7), NY) == datetime(
        2026, 3, 2, 12, 0, tzinfo=timezone.utc)
    assert next_send_time(datetime(2026, 3, 2, 12, 0, tzinfo=timezone.utc), time(7), NY) == datetime(
        2026, 3, 3, 12, 0, tzinfo=timezone.utc)
    assert next_send_time(datetime(2026, 3, 8, 12, 0, tzinfo=timezone.utc), time(7), NY) == datetime(
        2026, 3, 9, 11, 0, tzinfo=timezone.utc)


def _schedule(enabled):
    reactor = task.Clock()
    reactor.advance(datetime(2026, 3, 3, 11, 0, tzinfo=timezone.utc).timestamp())  # 06:00 in New York
    outbox: list[SummaryMessage] = []

    async def send(message: SummaryMessage) -> None:
        outbox.append(message)

    schedule = DailySummarySchedule(Clock(reactor), FakeReportingReader(FACTS), lambda: _settings(enabled), send)
    return reactor, schedule, outbox


def test_schedule_sends_yesterday_at_the_configured_time_every_day():
    """Nothing before 07:00; at 07:00 yesterday's summary goes; the next goes a day later."""
    reactor, schedule, outbox = _schedule(True)
    schedule.start()
    reactor.advance(3599)
    assert outbox == []
    reactor.advance(1)
    assert schedule.sent == [DAY] and len(outbox) == 1
    reactor.advance(86400)
    assert schedule.sent == [DAY, date(2026, 3, 3)]
    schedule.stop()
    reactor.advance(86400)
    assert len(outbox) == 2 and reactor.getDelayedCalls() == []


def test_disabled_summary_sends_nothing_but_stays_scheduled():
    """A disabled summary sends nothing; enabling it by reload takes effect at the next time."""
    reactor, schedule, outbox = _schedule(False)
    schedule.start()
    reactor.advance(3600)
    assert outbox == [] and len(reactor.getDelayedCalls()) == 1
    schedule.stop()
