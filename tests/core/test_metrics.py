"""Prometheus exposition of counters and gauges."""

from __future__ import annotations

import pytest

from callcenter.reports.metrics import MetricsRegistry


def test_render_counters_and_gauges():
    """Families render sorted, with HELP/TYPE, _total on counters and escaped labels."""
    reg = MetricsRegistry()
    offers = reg.family("callcenter_offers", "counter", "Offers made", ("queue",))
    offers.inc(queue="billing")
    offers.inc(2, queue='sup"port')
    depth = reg.family("callcenter_queue_depth", "gauge", "Waiting now", ("queue",))
    depth.collect_with(lambda: [({"queue": "billing"}, 3), ({"queue": "a"}, 0.5)])
    assert reg.render() == (
        "# HELP callcenter_offers Offers made\n"
        "# TYPE callcenter_offers counter\n"
        'callcenter_offers_total{queue="billing"} 1\n'
        'callcenter_offers_total{queue="sup\\"port"} 2\n'
        "# HELP callcenter_queue_depth Waiting now\n"
        "# TYPE callcenter_queue_depth gauge\n"
        'callcenter_queue_depth{queue="a"} 0.5\n'
        'callcenter_queue_depth{queue="billing"} 3\n'
    )


def test_misuse_is_refused():
    """Wrong labels, a falling counter, setting a counter and conflicting families raise."""
    reg = MetricsRegistry()
    c = reg.family("x", "counter", "x", ("a",))
    with pytest.raises(ValueError):
        c.inc(b="1")
    with pytest.raises(ValueError):
        c.inc(-1, a="1")
    with pytest.raises(ValueError):
        c.set(1, a="1")
    assert reg.family("x", "counter", "x", ("a",)) is c
    with pytest.raises(ValueError):
        reg.family("x", "gauge", "x", ("a",))
    with pytest.raises(ValueError):
        reg.family("bad-name", "gauge", "x")


def test_a_collected_counter_never_shows_less_than_before():
    """A counter read from a callback that falls (a recount after a reload) keeps its highest value."""
    reg = MetricsRegistry()
    values = iter([3.0, 2.0, 5.0])
    reg.family("x", "counter", "x", ("q",)).collect_with(lambda: [({"q": "a"}, next(values))])
    shown = [reg.render().splitlines()[-1] for _ in range(3)]
    assert shown == ['x_total{q="a"} 3', 'x_total{q="a"} 3', 'x_total{q="a"} 5']


def test_kpi_counters_grow_across_midnight():
    """The leg counters of /metrics keep counting when the live day rolls over at midnight."""
    import datetime as dt

    from twisted.internet import task

    from callcenter.runtime.clock import Clock
    from callcenter.reports.livestats import LiveStats
    from callcenter.reports.metrics import register_kpi_metrics
    from callcenter.reports.kpi import KpiRules
    from callcenter.reports.legs import ContactHeader, ContactHistory, LogEntry

    noon = dt.datetime(2026, 11, 23, 17, 0, tzinfo=dt.timezone.utc)
    reactor = task.Clock()
    reactor.advance(noon.timestamp())
    stats = LiveStats("America/New_York", KpiRules(), clock=Clock(reactor))
    stats.start()
    reg = MetricsRegistry()
    register_kpi_metrics(reg, stats, lambda: ["q"])

    def call(iid: int, at: dt.datetime) -> ContactHistory:
        return ContactHistory(ContactHeader(iid, "voice", "inbound", "q"), (LogEntry(at, "created", {"state": "queued"}),))

    stats.load(call(1, noon))
    assert 'callcenter_legs_offered_total{queue="q",channel="voice"} 1' in reg.render()
    reactor.advance(12 * 3600)  # local midnight
    stats.load(call(2, noon + dt.timedelta(hours=12, seconds=1)))
    assert stats.queue("q").offered == 1
    assert 'callcenter_legs_offered_total{queue="q",channel="voice"} 2' in reg.render()
    stats.stop()
