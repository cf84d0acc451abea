"""A day of 40 queue legs with known answers, driven through the running server as production
does (intake, switchboard, record), gives the same hand-computed figures on the dashboard,
the report page's CSV, the daily summary and /metrics.

The day (shipped config, New York; support: 80 % of calls within 20 s, billing: within 30 s;
email: 80 % within 4 h; short abandon: under 5 s), one contact after the other so that every
wait is exact. ``(w)`` is the wait in seconds, ``h`` the handle time (talk + wrap-up):

support, voice (18 legs + 1 callback leg)
  answered: 5 (h 120), 15 (h 210), 20 (h 90, exactly T: within), 35 (h 135), 50 (h 90),
            8 (h 60), 22 (h 80), 1 (h 30), 18 (h 50),
            10 (h 110, after overflowing from billing), 15 (h 140, after a transfer from billing)
  abandoned: 5 (exactly the threshold: not short), 12, 45, 25 (after overflowing from billing)
  short abandons: 3, 4
  callback requested after 30 s; the callback leg waits 120 s (h 70), counted apart
  -> offered 18, answered 11 (8 within 20 s), abandoned 4, short 2, callback requested 1
     SL = 8 / (11 + 4) = 0.5333; Asterisk SL = 8 / 11; SL2 = (8 + 4) / (11 + 6)
     abandon rate = 4 / (18 - 2 - 1); ASA = 199 / 11; AHT = (1115 + 70) / 12 = 98.75
support, email (5 legs): answered after 600, 3600, 15000 (after 4 h), 14400 (exactly 4 h), 60
  -> SL = 4 / 5; ASA = 33660 / 5 = 6732; AHT = (300 + 420 + 200 + 100 + 180) / 5 = 240
billing, voice (12 legs)
  answered: 10 (h 120), 25 (h 345), 40 (h 110), 30 (h 240, exactly T), 12 (h 100),
            8 (h 40: transferred to support after 40 s of talk)
  abandoned: 31, 60, 20; short: 2; overflowed to support after 600 s: 2
  -> SL = 5 / (6 + 3 + 2) = 0.4545; ASA = 125 / 6; AHT = 955 / 6; transferred out 1
billing, email (4 legs, each before billing's 10-minute overflow): answered after 120, 300, 480, 590
  -> SL = 4 / 4; ASA = 1490 / 4 = 372.5; AHT = (500 + 260 + 120 + 60) / 4 = 235
per queue: support SL = 12 / 20 = 0.6; billing SL = 9 / 15 = 0.6
first-contact resolution: 25 contacts handled, 22 resolved at once (one transferred, one
  escalated, one with a callback disposition) = 0.88
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
from typing import Any

import pytest
from twisted.internet import reactor as global_reactor

from callcenter.intake.contact import Contact
from callcenter.records.reporting import ReportingReader
from callcenter.reports.kpi import rules_from_settings
from callcenter.reports.summary import build_summary
from tests.support.http import http_request
from tests.support.steppedtime import SteppedTimeReactor
from tests.web.conftest import make_app  # noqa: F401 - the fixture

PASSWORD = "supervise all the things"
# 02:00 in New York (EDT) on 2026-03-10: the whole day, 11 hours of it, stays on one local date.
START = dt.datetime(2026, 3, 10, 6, 0, tzinfo=dt.timezone.utc).timestamp()
DAY = dt.date(2026, 3, 10)


def with_standby(settings: Any) -> Any:
    """The shipped settings plus ``zed``, a billing member offered work only after an hour: while
    zed is logged in and ready, billing always has someone who could take its calls, so a call
    arriving while carol pauses waits in billing (and overflows after its 10 minutes) instead
    of overflowing at once for want of staff."""
    from callcenter.settings.model import QueueMember

    agents = dict(settings.agents)
    agents["zed"] = dataclasses.replace(settings.agents["carol"], login="zed", name="Zed Standby")
    billing = settings.queues["billing"]
    queues = dict(settings.queues)
    queues["billing"] = dataclasses.replace(billing, members=billing.members + (QueueMember("zed", 5, 3600.0),))
    return dataclasses.replace(settings, agents=agents, queues=queues)


class Day:
    """Drives contacts one after the other through the application, with a clock moved by hand."""

    def __init__(self, run: Any, app: Any, time: SteppedTimeReactor) -> None:
        self.run, self.app, self.time, self.board = run, app, time, app.switchboard
        self.n = 0

    def settle(self) -> None:
        """Wait for every record write queued so far."""
        self.run(self.board.settled())

    def admit(self, channel: str, queue: str, **extra: Any) -> int:
        """A new contact to ``queue`` (support or billing) on ``channel``; its interaction id."""
        self.n += 1
        if channel == "voice":
            contact = Contact(channel="voice", contact_kind="phone", contact=f"+1212555{self.n:04d}",
                              digits="1" if queue == "billing" else None, **extra)
        else:
            contact = Contact(channel="email", contact_kind="email", contact=f"customer{self.n}@example.com",
                              to=queue, subject="a question", body="hello", **extra)
        iid = self.run(self.app.intake.admit(contact)).interaction_id
        self.settle()
        return iid

    def wait(self, seconds: float) -> None:
        """Let ``seconds`` pass."""
        self.time.advance(seconds)

    def answer(self, iid: int, agent: str) -> None:
        """``agent`` becomes available, is offered ``iid`` and answers it at once."""
        self.board.set_available(agent)
        self.settle()
        assert self.board.offers[iid]["agent"] == agent
        if self.board.channel_of.get(iid) == "voice":
            self.board.connected(iid, agent)
        else:
            self.board.accept(agent, iid)
        self.settle()

    def finish(self, iid: int, agent: str, talk: float, wrap: float, disposition: str = "resolved") -> None:
        """Talk ``talk`` s, wrap up ``wrap`` s with ``disposition``, then the agent pauses."""
        self.wait(talk)
        self.board.complete(iid, agent)
        self.settle()
        self.wait(wrap)
        self.board.end_wrap_up(agent, iid, disposition=disposition)
        self.settle()
        self.board.set_not_ready(agent, "break")
        self.settle()

    def answered(self, channel: str, queue: str, wait: float, talk: float, wrap: float,
                 disposition: str = "resolved", **extra: Any) -> int:
        """A contact answered after ``wait`` s by the queue's agent, then finished."""
        agent = "bob" if queue == "support" else "carol"
        iid = self.admit(channel, queue, **extra)
        self.wait(wait)
        self.answer(iid, agent)
        self.finish(iid, agent, talk, wrap, disposition)
        return iid

    def abandoned(self, queue: str, wait: float, reason: str = "caller_hung_up") -> int:
        """A call whose caller leaves after ``wait`` s."""
        iid = self.admit("voice", queue)
        self.wait(wait)
        self.board.customer_left(iid, reason)
        self.settle()
        return iid

    def overflowed(self, then: str, wait: float) -> None:
        """A billing call that overflows to support after 600 s, then is answered (or abandoned) there."""
        iid = self.admit("voice", "billing")
        self.wait(600)
        self.board.tick()
        self.settle()
        self.wait(wait)
        if then == "answered":
            self.answer(iid, "bob")
            self.finish(iid, "bob", 100, 10)
        else:
            self.board.customer_left(iid, "caller_hung_up")
            self.settle()

    def transferred(self) -> None:
        """A billing call answered after 8 s, transferred to support after 40 s, answered there after 15 s."""
        iid = self.admit("voice", "billing")
        self.wait(8)
        self.answer(iid, "carol")
        self.wait(40)
        self.board.transfer(iid, "support", "carol")
        self.settle()
        self.board.set_not_ready("carol", "break")
        self.settle()
        self.wait(15)
        self.answer(iid, "bob")
        self.finish(iid, "bob", 120, 20)


def drive(day: Day) -> None:
    """The day described in the module docstring."""
    board = day.board
    for agent in ("bob", "carol", "zed"):
        board.login(agent)
    board.set_available("zed")
    day.settle()
    v, e = "voice", "email"
    # support, voice
    day.answered(v, "support", 5, 100, 20)
    day.answered(v, "support", 15, 200, 10)
    day.answered(v, "support", 20, 60, 30)
    day.answered(v, "support", 35, 120, 15, disposition="callback")
    day.answered(v, "support", 50, 90, 0)
    day.abandoned("support", 3)
    day.abandoned("support", 5)
    day.abandoned("support", 12)
    day.abandoned("support", 45)
    asked = day.abandoned("support", 30, reason="callback_requested")
    day.answered(v, "support", 120, 60, 10, direction="outbound", payload={"callback_for": asked})
    day.answered(v, "support", 8, 50, 10)
    day.answered(v, "support", 22, 70, 10)
    day.abandoned("support", 4)
    day.answered(v, "support", 1, 30, 0)
    day.answered(v, "support", 18, 45, 5)
    # billing, voice
    day.answered(v, "billing", 10, 100, 20)
    day.answered(v, "billing", 25, 300, 45)
    day.answered(v, "billing", 40, 100, 10)
    day.abandoned("billing", 2)
    day.abandoned("billing", 31)
    day.overflowed("answered", 10)
    day.overflowed("abandoned", 25)
    day.transferred()
    day.answered(v, "billing", 30, 200, 40)
    day.answered(v, "billing", 12, 80, 20)
    day.abandoned("billing", 60)
    day.abandoned("billing", 20)
    # email
    day.answered(e, "support", 600, 300, 0)
    day.answered(e, "support", 3600, 400, 20, disposition="escalated")
    day.answered(e, "support", 15000, 200, 0)
    day.answered(e, "support", 14400, 100, 0)
    day.answered(e, "support", 60, 150, 30)
    day.answered(e, "billing", 120, 500, 0)
    day.answered(e, "billing", 300, 250, 10)
    day.answered(e, "billing", 480, 120, 0)
    day.answered(e, "billing", 590, 60, 0)


EXPECTED = {  # (queue, channel): offered, answered, within T, abandoned, short, overflowed out, transferred out,
    #                            callbacks requested, callbacks answered, SL, ASA, AHT
    ("support", "voice"): (18, 11, 8, 4, 2, 0, 0, 1, 1, 8 / 15, 199 / 11, 1185 / 12),
    ("support", "email"): (5, 5, 4, 0, 0, 0, 0, 0, 0, 4 / 5, 6732.0, 240.0),
    ("billing", "voice"): (12, 6, 5, 3, 1, 2, 1, 0, 0, 5 / 11, 125 / 6, 955 / 6),
    ("billing", "email"): (4, 4, 4, 0, 0, 0, 0, 0, 0, 1.0, 372.5, 235.0),
}
PER_QUEUE_SL = {"support": 12 / 20, "billing": 9 / 15}


def _csv(run: Any, base: str, headers: dict, by: str) -> list[dict[str, str]]:
    r = run(http_request(global_reactor, "GET", f"{base}/reports/export.csv?from={DAY}&interval=day&by={by}",
                         headers=headers))
    assert r.status == 200
    return [{k.split(" ")[0]: v for k, v in row.items()} for row in csv.DictReader(io.StringIO(r.body.decode()))]


def _metrics(text: str) -> dict[tuple[str, str, str], float]:
    out = {}
    for line in text.splitlines():
        if line.startswith("callcenter_") and "channel=" in line and "queue=" in line:
            name, _, value = line.rpartition(" ")
            family, _, labels = name.partition("{")
            pairs = dict(p.split("=") for p in labels.rstrip("}").split(","))
            out[(family, pairs["queue"].strip('"'), pairs["channel"].strip('"'))] = float(value)
    return out


def test_a_day_of_forty_legs_has_the_same_known_figures_everywhere(run, make_app, migrated_database_url):
    """Dashboard, report CSV (queue x channel and by queue), daily summary and /metrics agree with
    the hand-computed figures of the module docstring."""
    time = SteppedTimeReactor(global_reactor, START)
    app = make_app(migrated_database_url, reactor=time, adjust=with_standby)
    run(app.users.create("sam", "supervisor", "Sam", password=PASSWORD))
    drive(Day(run, app, time))
    assert time.now - START < 20 * 3600

    host, port = app.http.address
    base = f"http://{host}:{port}"
    login = run(http_request(global_reactor, "POST", base + "/login", json_body={"login": "sam", "password": PASSWORD}))
    headers = {"cookie": login.headers["set-cookie"].split(";")[0]}
    snap = run(http_request(global_reactor, "GET", base + "/api/supervisor/snapshot", headers=headers)).json()
    metrics = _metrics(run(http_request(global_reactor, "GET", base + "/metrics")).body.decode())
    pairs = {(row["queue"], row["channel"]): row for row in _csv(run, base, headers, "queue,channel")}
    by_queue = {row["queue"]: row for row in _csv(run, base, headers, "queue")}
    legs = run(ReportingReader(app.database).legs(*_day_range(app)))
    assert len(legs) == 40

    stats = app.switchboard.stats
    total_offered = 0
    for (queue, channel), want in EXPECTED.items():
        offered, answered, within, abandoned, short, overflowed, transferred, callbacks, cb_answered, sl, asa, aht = want
        total_offered += offered + cb_answered
        live = stats.queue(queue, channel)
        got_live = (live.offered, live.answered, live.answered_within, live.abandoned, live.short_abandoned,
                    live.overflowed_out, live.transferred_out, live.callbacks_requested, live.callbacks_answered)
        assert got_live == want[:9], (queue, channel)
        assert live.service_level() == round(sl, 4)
        assert live.average_speed_of_answer() == round(asa, 1) and live.average_handle_time() == round(aht, 1)
        row = pairs[(queue, channel)]
        got_csv = tuple(int(row[k]) for k in ("offered", "answered", "answered_within_target", "abandoned",
                                              "short_abandoned", "overflowed_out", "transferred_out",
                                              "callbacks_requested", "callbacks_answered"))
        assert got_csv == want[:9], (queue, channel)
        assert (row["service_level"], row["asa"], row["aht"]) == (f"{sl:.4f}", f"{asa:.1f}", f"{aht:.1f}")
        for family, value in (("callcenter_legs_offered_total", offered), ("callcenter_legs_answered_total", answered),
                              ("callcenter_legs_answered_within_target_total", within),
                              ("callcenter_legs_abandoned_total", abandoned),
                              ("callcenter_legs_short_abandoned_total", short),
                              ("callcenter_legs_overflowed_out_total", overflowed),
                              ("callcenter_legs_transferred_out_total", transferred),
                              ("callcenter_callbacks_requested_total", callbacks)):
            assert metrics[(family, queue, channel)] == value, (family, queue, channel)
        assert metrics[("callcenter_answer_wait_seconds_total", queue, channel)] == pytest.approx(asa * answered)
    assert total_offered == 40

    summary = build_summary(legs, DAY, stats.timezone, rules_from_settings(app.settings),
                            {n: q.label for n, q in app.settings.queues.items()},
                            {c: d.label for c, d in app.settings.dispositions.items()})
    figures = {q.queue: q.figures for q in summary.queues}
    for queue, sl in PER_QUEUE_SL.items():
        today = snap["queues"][queue]["today"]
        assert today["service_level"] == round(sl, 4) == round(figures[queue].service_level, 4)
        assert by_queue[queue]["service_level"] == f"{sl:.4f}"
        assert today["offered"] == figures[queue].offered == int(by_queue[queue]["offered"])
        assert today["answered"] == figures[queue].answered == int(by_queue[queue]["answered"])
        assert today["aht"] == round(figures[queue].aht, 1) == float(by_queue[queue]["aht"])
    assert summary.totals.fcr == pytest.approx(22 / 25)
    voice = stats.queue("support", "voice")
    from callcenter.reports import kpi

    assert kpi.service_level(voice, "asterisk_sl") == pytest.approx(8 / 11)
    assert kpi.service_level(voice, "asterisk_sl2") == pytest.approx(12 / 17)
    assert kpi.abandon_rate(voice) == pytest.approx(4 / 15)
    assert kpi.callback_asa(voice) == 120.0

    # Occupancy from the stored agent states: bob and carol were available only for the instant
    # before each offer (so 100 %), zed was available all day and never worked (0 %).
    run(app.switchboard.stats._state_log.flushed())  # noqa: SLF001 - the writes of this day
    spans = run(ReportingReader(app.database).spans(*_day_range(app)))
    assert {s.agent for s in spans} == {"bob", "carol", "zed"}
    assert {s.state for s in spans} >= {"busy", "wrap_up", "not_ready"}
    agents = {row["agent"]: row["occupancy"] for row in _csv(run, base, headers, "agent")}
    assert (agents["bob"], agents["carol"], agents["zed"]) == ("1.0000", "1.0000", "0.0000")


def _day_range(app: Any) -> tuple[dt.datetime, dt.datetime]:
    from callcenter.reports.intervals import day_range

    return day_range(DAY, app.switchboard.stats.timezone)
