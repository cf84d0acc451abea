"""Calls reported through the CTI API count on the dashboard and /metrics like any leg (an unanswered
outbound one is no abandon); /metrics can be restricted to a token or to client addresses."""

from __future__ import annotations

import dataclasses
import datetime as dt
from urllib.parse import urlencode

import pytest
from twisted.internet import reactor as global_reactor

from callcenter.reports.metrics import InvalidMetricsAccess, MetricsAccess
from tests.support.http import http_request
from tests.support.steppedtime import SteppedTimeReactor
from tests.web.conftest import make_app  # noqa: F401 - the fixture

TOKEN = "cti-test-token-5f2a"
METRICS_TOKEN = "scrape-me-0123456789abcdef"
NOON = dt.datetime(2026, 3, 10, 16, 0, tzinfo=dt.timezone.utc).timestamp()


def _with(cti: bool = True, **supervision):
    def adjust(s):
        s = dataclasses.replace(s, supervision=dataclasses.replace(s.supervision, **supervision))
        return dataclasses.replace(s, telephony=dataclasses.replace(s.telephony, cti_token=TOKEN)) if cti else s
    return adjust


def post(run, app, params):
    """POST one CTI event, form-encoded."""
    host, port = app.http.address
    r = run(http_request(global_reactor, "POST", f"http://{host}:{port}/api/cti/{TOKEN}",
                         body=urlencode(params).encode(), headers={"content-type": "application/x-www-form-urlencoded"}))
    assert r.status == 200
    run(app.switchboard.settled())
    return r


def test_cti_calls_reach_the_dashboard_and_metrics_and_outbound_is_no_abandon(run, make_app, migrated_database_url):
    """An inbound call answered after 7 s, one hung up after 30 s unanswered, an outbound one never
    answered: support counts 2 offered, 1 answered (7 s), 1 abandoned; the outbound call nothing."""
    time = SteppedTimeReactor(global_reactor, NOON)
    app = make_app(migrated_database_url, reactor=time, adjust=_with())
    post(run, app, {"event": "newCall", "callId": "in-1", "from": "+14155550171", "to": "+18005550100", "direction": "in"})
    time.advance(7)
    post(run, app, {"event": "answer", "callId": "in-1", "user": "bob", "direction": "in"})
    time.advance(60)
    post(run, app, {"event": "hangup", "callId": "in-1", "cause": "normal", "direction": "in"})
    post(run, app, {"event": "newCall", "callId": "in-2", "from": "+14155550172", "to": "+18005550100", "direction": "in"})
    time.advance(30)
    post(run, app, {"event": "hangup", "callId": "in-2", "cause": "normal", "direction": "in"})
    post(run, app, {"event": "newCall", "callId": "out-1", "from": "+18005550100", "to": "+14155550173",
                    "direction": "out", "user": "bob"})
    time.advance(25)
    post(run, app, {"event": "hangup", "callId": "out-1", "cause": "noAnswer", "direction": "out"})
    today = app.switchboard.stats.queue("support", "voice")
    assert (today.offered, today.answered, today.abandoned, today.short_abandoned) == (2, 1, 1, 0)
    assert today.average_speed_of_answer() == 7.0 and today.average_handle_time() == 60.0
    host, port = app.http.address
    text = run(http_request(global_reactor, "GET", f"http://{host}:{port}/metrics")).body.decode()
    assert 'callcenter_legs_offered_total{queue="support",channel="voice"} 2' in text
    assert 'callcenter_legs_abandoned_total{queue="support",channel="voice"} 1' in text


def _scrape(run, app, headers=None):
    host, port = app.http.address
    return run(http_request(global_reactor, "GET", f"http://{host}:{port}/metrics", headers=headers or {}))


def test_metrics_with_a_token_need_it(run, make_app, migrated_database_url):
    """With supervision.metrics.token set, a scrape without the bearer token or with another is 403."""
    app = make_app(migrated_database_url, adjust=_with(cti=False, metrics_token=METRICS_TOKEN))
    assert _scrape(run, app).status == 403
    assert _scrape(run, app, {"authorization": "Bearer nope-nope-nope-nope-nope"}).status == 403
    ok = _scrape(run, app, {"authorization": f"Bearer {METRICS_TOKEN}"})
    assert ok.status == 200 and "callcenter_queue_waiting" in ok.body.decode()


def test_metrics_from_an_address_not_listed_are_refused(run, make_app, migrated_database_url):
    """With an address list that leaves out loopback, a scrape from 127.0.0.1 is 403; listed, 200."""
    app = make_app(migrated_database_url, adjust=_with(cti=False, metrics_allow=("192.0.2.0/24",)))
    assert _scrape(run, app).status == 403
    app = make_app(migrated_database_url, adjust=_with(cti=False, metrics_allow=("127.0.0.0/8", "::1")))
    assert _scrape(run, app).status == 200


def test_metrics_access_rules():
    """Token and list together need both; IPv4-mapped IPv6 addresses match IPv4 networks; bad entries raise."""
    both = MetricsAccess(METRICS_TOKEN, ("10.1.0.0/16",))
    good = f"Bearer {METRICS_TOKEN}"
    assert both.allows("10.1.2.3", good) and both.allows("::ffff:10.1.2.3", good)
    assert not both.allows("10.2.0.1", good) and not both.allows("10.1.2.3", None)
    assert not both.allows(None, good) and MetricsAccess().allows(None, None)
    with pytest.raises(InvalidMetricsAccess) as short:
        MetricsAccess("short")
    assert short.value.field == "token"
    with pytest.raises(InvalidMetricsAccess) as bad:
        MetricsAccess(None, ("localhost",))
    assert bad.value.field == "allow"
