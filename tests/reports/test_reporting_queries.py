"""The report range query on SQLite and PostgreSQL: bounds, order, time zones and refusals."""

from __future__ import annotations

from datetime import timedelta, timezone

import pytest
from sqlalchemy import insert

from callcenter.records.errors import InvalidInput
from callcenter.records.reporting import ReportingReader, interaction_facts
from callcenter.records.schema import customers, interactions
from callcenter.reports.kpi import InteractionFact
from tests.reports.helpers import T0, at


def _store(conn, _uow, rows):
    conn.execute(insert(customers).values(id=1, display_name="", tier="basic", attributes={}, external_ids={},
                                          provisional=False, created_at=T0, updated_at=T0))
    for row in rows:
        conn.execute(insert(interactions).values(customer_id=1, direction="inbound", created_at=row["queued_at"] or T0,
                                                 updated_at=T0, payload={}, **row))


def _row(queued, **extra):
    base = dict(channel="voice", queue="support", agent=None, state="queued",
                queued_at=None if queued is None else at(queued))
    return {**base, **extra}


def test_facts_of_a_range_in_queued_order(run, database):
    """Only interactions queued in [start, end) come back, oldest first, with aware UTC instants."""
    rows = [
        _row(100, state="completed", agent="alice", answered_at=at(110), ended_at=at(200),
             wrap_up_ended_at=at(230), disposition="resolved"),
        _row(0, state="abandoned", ended_at=at(40)),
        _row(-1), _row(900), _row(None, state="new"),
    ]
    run(database.write(_store, rows))
    facts = run(ReportingReader(database).facts(T0, at(900)))
    assert [f.queued_at for f in facts] == [at(0), at(100)]
    first, second = facts
    assert first == InteractionFact(first.id, "voice", "support", None, "abandoned", at(0), None, at(40), None, None)
    assert (second.agent, second.answered_at, second.wrap_up_ended_at, second.disposition) == (
        "alice", at(110), at(230), "resolved")
    assert second.queued_at.tzinfo is not None and second.queued_at.utcoffset() == timedelta(0)


def test_bounds_in_another_zone_mean_the_same_instants(run, database):
    """Bounds given with a local offset select by instant, not by wall-clock text."""
    run(database.write(_store, [_row(0), _row(3600)]))
    plus_two = timezone(timedelta(hours=2))
    facts = run(ReportingReader(database).facts(T0.astimezone(plus_two), at(60).astimezone(plus_two)))
    assert [f.queued_at for f in facts] == [at(0)]


@pytest.mark.parametrize("start,end,field", [
    (T0, T0, "end"),
    (at(10), T0, "end"),
    (T0.replace(tzinfo=None), at(10), "start"),
    (T0, T0 + timedelta(days=400), "end"),
])
def test_bad_ranges_are_refused(start, end, field):
    """Empty, reversed, naive or over-long ranges raise InvalidInput naming the field, before any query."""
    with pytest.raises(InvalidInput) as info:
        interaction_facts(None, start, end)
    assert info.value.field == field
