"""The report page as people read it: the same page from ``/reports`` and ``/reports/`` with
absolute links, empty intervals folded away, totals per group, and the shared page header."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace

import pytest
from twisted.internet import reactor, task
from twisted.web.resource import Resource

from callcenter.runtime.clock import Clock
from callcenter.settings import load_settings
from callcenter.web.reports import ReportsResource
from callcenter.web.site import HttpService
from tests.reports.fakes import FakeReportingReader
from tests.reports.helpers import abandoned, answered
from tests.support.http import http_request

CONFIG = Path(__file__).resolve().parents[2] / "config"
FACTS = [answered(0, 10, queue="support"), abandoned(120, 40, queue="billing"),   # 09:00 New York
         answered(3700, 5, queue="sales", talk=100, wrap=20)]                        # 10:01
SAM = SimpleNamespace(login="sam", role="supervisor", agent=None)


@pytest.fixture
def url(run):
    """The reports mounted at /reports with a header (CSRF token ``tok``, signed in as sam); its base URL."""
    settings = load_settings(CONFIG)
    fake = task.Clock()
    fake.advance(datetime(2026, 3, 2, 20, 0, tzinfo=timezone.utc).timestamp())
    root = Resource()
    root.putChild(b"reports", ReportsResource(FakeReportingReader(FACTS), lambda: settings, Clock(fake),
                                              lambda request: True, lambda request: "tok", lambda request: SAM))
    service = HttpService(reactor, root, "127.0.0.1", 0)
    service.startService()
    host, port = service.address
    yield f"http://{host}:{port}"
    run(service.stopService())


def page(run, url: str) -> str:
    """The HTML of a GET that must answer 200."""
    r = run(http_request(reactor, "GET", url))
    assert r.status == 200, r.body
    return r.body.decode()


def test_both_urls_give_one_page_with_absolute_links_and_the_header(run, url):
    """``/reports`` and ``/reports/`` are the same page; every link and image is an absolute path;
    the header links the staff pages and signs out with the session's CSRF token."""
    html = page(run, url + "/reports")
    assert html == page(run, url + "/reports/")
    assert not re.findall(r'(?:href|src|action)="(?!/)', html)
    assert 'action="/logout"' in html and 'name="csrf_token" value="tok"' in html
    assert re.findall(r'<nav[^>]*data-testid="page-links">(.*?)</nav>', html, re.S)[0].count("<a ") == 3
    assert 'aria-current="page">Reports' in html


def test_empty_intervals_fold_away_and_each_group_has_a_total(run, url):
    """Of the day's 24 hours only 09:00 and 10:00 are shown (3 queues each), a line counts the 22
    folded ones, and each queue has its own total row before the overall total."""
    html = page(run, url + "/reports/?from=2026-03-02")
    shown = re.findall(r"<tr><td>(2026-03-02 \d\d:\d\d)</td>", html)
    assert shown == ["2026-03-02 09:00"] * 3 + ["2026-03-02 10:00"] * 3
    assert "22 intervals with no contacts not shown" in html
    subtotals = re.findall(r'<tr class="subtotal"><th>Total</th><td class="dim">(\w+)</td><td class="num">(\d+)</td>', html)
    assert subtotals == [("billing", "1"), ("sales", "1"), ("support", "1")]
    assert re.search(r'<tr><th>Total</th><td>all</td><td class="num">3</td>', html)
