"""Key figures against hand-computed examples, interval boundaries and time-zone days."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from callcenter.reports.intervals import InvalidGranularity, day_range, interval_of, intervals_between
from callcenter.reports.kpi import (
    AgentStateSpan, InvalidDimension, KpiRules, ServiceTarget, compute_report, total,
)
from tests.reports.helpers import T0, abandoned, answered, at, waiting

NY = ZoneInfo("America/New_York")
RULES = KpiRules(short_abandon=5.0, targets={"support": ServiceTarget(80, 20), "sales": ServiceTarget(90, 15)})


def quarter(legs, **kwargs):
    """The report of the quarter hour starting at T0 (09:00 New York)."""
    return compute_report(legs, T0, at(900), "15min", NY, RULES, **kwargs)


def test_hand_computed_quarter_hour():
    """Offered, answered, short and real abandons, rate, service level, ASA, AHT and max wait match the hand count."""
    legs = [
        answered(0, 10, talk=60, wrap=10),     # within 20 s, handle 70
        answered(30, 30, talk=120, wrap=20),   # after 20 s, handle 140
        answered(60, 20, talk=100, wrap=None),  # exactly 20 s counts as within; wrap-up not over: no AHT
        abandoned(90, 3),                      # short abandon: strictly less than 5 s
        abandoned(120, 5),                     # 5 s is not short: an abandon, within T
        abandoned(150, 12),                    # abandoned before T: in the denominator all the same
        abandoned(200, 45),                    # abandoned after T
        waiting(600),
    ]
    [row] = quarter(legs)
    assert (row.offered, row.answered, row.short_abandoned, row.abandoned) == (8, 3, 1, 3)
    assert row.abandon_rate == pytest.approx(3 / 7)
    assert row.answered_within == 2
    assert row.service_level == pytest.approx(2 / (3 + 3))
    assert row.asa == pytest.approx(20.0)
    assert row.aht == pytest.approx(105.0)
    assert row.max_wait == 45.0
    assert row.interval.label == "2026-03-02 09:00"


def test_leg_counts_in_the_interval_it_entered():
    """A call queued at 09:14:50 and answered at 09:15:20 is offered, answered and timed in the 09:00 quarter."""
    rows = compute_report([answered(890, 30), answered(905, 5)], T0, at(1800), "15min", NY, RULES)
    assert [(r.interval.label, r.offered, r.answered, r.answered_within) for r in rows] == [
        ("2026-03-02 09:00", 1, 1, 0), ("2026-03-02 09:15", 1, 1, 1)]
    assert rows[0].asa == 30.0


def test_empty_intervals_are_listed_with_no_rates():
    """Every interval of the range has a row; an empty one has zero counts and None rates."""
    rows = compute_report([answered(10, 5)], T0, at(3600), "15min", NY, RULES)
    assert [r.offered for r in rows] == [1, 0, 0, 0]
    empty = rows[1]
    assert (empty.service_level, empty.abandon_rate, empty.asa, empty.aht, empty.occupancy) == (None,) * 5


def test_only_short_abandons_give_no_abandon_rate_or_service_level():
    """An interval whose only contacts abandoned before the threshold has neither rate nor service level."""
    [row] = quarter([abandoned(0, 2), abandoned(10, 4)])
    assert (row.offered, row.short_abandoned, row.abandoned) == (2, 2, 0)
    assert row.abandon_rate is None and row.service_level is None


def test_legs_outside_the_range_are_ignored():
    """Legs entered before the start or at the (exclusive) end are not counted."""
    [row] = quarter([answered(-1, 5), answered(900, 5), answered(899, 5)])
    assert row.offered == 1


def test_group_by_queue_uses_each_queue_target_and_lists_given_groups():
    """Grouped by queue, each leg is judged on its own queue's T; listed queues without work get rows."""
    legs = [answered(0, 18, queue="support"), answered(5, 18, queue="sales")]
    rows = quarter(legs, group_by=["queue"], groups=[("billing",)])
    by_queue = {r.queue: r for r in rows}
    assert sorted(by_queue) == ["billing", "sales", "support"]
    assert by_queue["support"].service_level == 1.0  # 18 s <= 20 s
    assert by_queue["sales"].service_level == 0.0    # 18 s > 15 s
    assert by_queue["billing"].offered == 0 and by_queue["support"].channel is None


def test_group_by_channel_and_agent():
    """Rows group by several dimensions; an abandoned call has no agent ("")."""
    legs = [answered(0, 5, channel="voice", agent="alice"), answered(0, 5, channel="email", agent="bob"),
            abandoned(10, 30, channel="voice")]
    rows = quarter(legs, group_by=["channel", "agent"])
    assert [(r.channel, r.agent, r.offered) for r in rows] == [
        ("email", "bob", 1), ("voice", "", 1), ("voice", "alice", 1)]


def test_total_recomputes_rates_from_sums():
    """A total's service level comes from summed counts, not from an average of the rows' rates."""
    rows = quarter([answered(0, 5, queue="support"), answered(1, 5, queue="support"), answered(2, 5, queue="support"),
                    answered(3, 50, queue="sales")], group_by=["queue"])
    assert [r.service_level for r in rows] == [0.0, 1.0]
    combined = total(rows, rows[0].interval)
    assert combined.offered == 4 and combined.service_level == pytest.approx(0.75)
    assert combined.max_wait == 50.0 and combined.queue is None


def test_agent_occupancy_from_state_spans():
    """Occupancy is busy and wrap-up time over staffed time, not-ready excluded, clipped to each interval."""
    spans = [
        AgentStateSpan("alice", "available", at(0), at(300)),
        AgentStateSpan("alice", "busy", at(300), at(720)),
        AgentStateSpan("alice", "wrap_up", at(720), at(1020)),
        AgentStateSpan("alice", "not_ready", at(1020), at(1800)),
    ]
    rows = compute_report([answered(0, 5)], T0, at(1800), "15min", NY, RULES, group_by=["agent"], spans=spans)
    assert [(r.agent, r.occupancy) for r in rows] == [("alice", pytest.approx(600 / 900)), ("alice", 1.0)]
    everyone = compute_report([], T0, at(900), "15min", NY, RULES, spans=spans)
    assert everyone[0].occupancy == pytest.approx(600 / 900)


def test_occupancy_is_not_split_over_queues():
    """Grouped by queue, rows carry no occupancy: it belongs to agents, not to queues."""
    spans = [AgentStateSpan("alice", "busy", at(0), at(900))]
    [row] = quarter([answered(0, 5)], group_by=["queue"], spans=spans)
    assert row.occupancy is None


def test_days_follow_the_site_time_zone():
    """A call at 04:30 UTC on March 3 is on March 2 in New York; the day runs from local midnight."""
    start, end = day_range(date(2026, 3, 2), NY)
    assert (start, end) == (datetime(2026, 3, 2, 5, tzinfo=timezone.utc), datetime(2026, 3, 3, 5, tzinfo=timezone.utc))
    late = answered((datetime(2026, 3, 3, 4, 30, tzinfo=timezone.utc) - T0).total_seconds(), 5)
    rows = compute_report([late], start - timedelta(days=1), end + timedelta(days=1), "day", NY, RULES)
    assert [(r.interval.label, r.offered) for r in rows] == [("2026-03-01", 0), ("2026-03-02", 1), ("2026-03-03", 0)]


def test_daylight_saving_days_have_23_and_25_hours():
    """On the spring-forward day there are 23 hour intervals; on the fall-back day 25, the repeated hour twice."""
    spring = list(intervals_between(*day_range(date(2026, 3, 8), NY), "hour", NY))
    fall = list(intervals_between(*day_range(date(2026, 11, 1), NY), "hour", NY))
    assert len(spring) == 23 and "2026-03-08 02:00" not in [i.label for i in spring]
    assert len(fall) == 25 and [i.label for i in fall].count("2026-11-01 01:00") == 2
    assert all(a.end == b.start for a, b in zip(fall, fall[1:]))
    [day] = intervals_between(*day_range(date(2026, 11, 1), NY), "day", NY)
    assert day.end - day.start == timedelta(hours=25)


def test_quarter_hours_in_a_half_hour_zone():
    """Quarter hours follow local time in a zone offset by 5:30 (Asia/Kolkata)."""
    kolkata = ZoneInfo("Asia/Kolkata")
    slot = interval_of(datetime(2026, 3, 2, 4, 20, tzinfo=timezone.utc), "15min", kolkata)
    assert slot.label == "2026-03-02 09:45" and slot.start == datetime(2026, 3, 2, 4, 15, tzinfo=timezone.utc)


def test_bad_granularity_and_dimension_are_refused():
    """An unknown granularity or dimension raises a named error rather than a wrong report."""
    with pytest.raises(InvalidGranularity):
        compute_report([], T0, at(900), "week", NY, RULES)
    with pytest.raises(InvalidDimension):
        compute_report([], T0, at(900), "hour", NY, RULES, group_by=["tier"])
    with pytest.raises(InvalidDimension):
        compute_report([], T0, at(900), "hour", NY, RULES, group_by=["queue", "queue"])
