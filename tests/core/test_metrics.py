"""Prometheus exposition of counters and gauges."""

from __future__ import annotations

import pytest

from callcenter.metrics import MetricsRegistry


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
