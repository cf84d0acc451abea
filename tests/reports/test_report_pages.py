"""The report pages, CSV, SVG charts and Erlang C calculator over real loopback HTTP."""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from pathlib import Path

import pytest
from twisted.internet import reactor, task
from twisted.web.resource import Resource

from callcenter.runtime.clock import Clock
from callcenter.records.reporting import ReportingReader
from callcenter.settings import load_settings
from callcenter.web.reports import ReportsResource
from callcenter.web.site import HttpService
from tests.reports.fakes import FakeReportingReader
from tests.reports.helpers import abandoned, answered
from tests.support.http import http_request

CONFIG = Path(__file__).resolve().parents[2] / "config"
LEGS = [
    answered(0, 10, queue="support", channel="voice"),     # 09:00 New York
    answered(60, 30, queue="support", channel="email"),
    abandoned(120, 40, queue="billing"),
    answered(3700, 5, queue="sales", talk=100, wrap=20),   # 10:01
]


@pytest.fixture
def site(run):
    """The reports resource at /reports on a free port; yields (base URL, reader, permission switch)."""
    settings = load_settings(CONFIG)
    fake = task.Clock()
    fake.advance(datetime(2026, 3, 2, 20, 0, tzinfo=timezone.utc).timestamp())  # 15:00 in New York
    reader, allowed = FakeReportingReader(LEGS), [True]
    resource = ReportsResource(reader, lambda: settings, Clock(fake), lambda request: allowed[0])
    root = Resource()
    root.putChild(b"reports", resource)
    service = HttpService(reactor, root, "127.0.0.1", 0)
    service.startService()
    host, port = service.address
    yield f"http://{host}:{port}/reports", reader, allowed
    run(service.stopService())


def get(run, url):
    """One GET on the reactor."""
    return run(http_request(reactor, "GET", url))


def test_report_page_defaults_to_today_by_hour_and_queue(run, site):
    """Without parameters: today's local day, hourly rows for every configured queue, escaped HTML."""
    base, reader, _ = site
    r = get(run, base + "/")
    assert r.status == 200 and r.headers["content-type"].startswith("text/html")
    assert reader.ranges == [(datetime(2026, 3, 2, 5, tzinfo=timezone.utc), datetime(2026, 3, 3, 5, tzinfo=timezone.utc))]
    html = r.body.decode()
    assert html.count("<tr><td>2026-03-02 09:00</td>") == 3  # billing, sales, support
    assert "chart/volume.svg?from=2026-03-02&amp;to=2026-03-02&amp;interval=hour&amp;by=queue" in html
    assert "default-src 'none'" in r.headers["content-security-policy"]


def test_csv_export_of_quarter_hours_by_channel(run, site):
    """The CSV holds one row per quarter hour and channel with the figures of the day."""
    base, _, _ = site
    r = get(run, base + "/export.csv?from=2026-03-02&interval=15min&by=channel")
    assert r.status == 200 and r.headers["content-type"] == "text/csv; charset=utf-8"
    assert 'filename="report-2026-03-02-2026-03-02-15min.csv"' in r.headers["content-disposition"]
    table = named(r.body.decode())
    assert len(table) == 96 * 2  # email and voice, every quarter hour of the day
    nine = [row for row in table if row["interval_start"] == "2026-03-02T09:00:00-05:00"]
    assert [(row["channel"], row["offered"], row["answered"], row["abandoned"]) for row in nine] == [
        ("email", "1", "1", "0"), ("voice", "2", "1", "1")]
    # The email answered after 30 s is within its channel's 4 h; the call after 10 s within 20 s.
    assert [row["service_level"] for row in nine] == ["1.0000", "0.5000"]


def test_csv_for_excel_has_a_bom_and_a_pair_grouping(run, site):
    """bom=1 leads the CSV with a UTF-8 byte-order mark; by=queue,channel groups by the pair."""
    base, _, _ = site
    r = get(run, base + "/export.csv?from=2026-03-02&interval=day&by=queue,channel&bom=1")
    assert r.status == 200 and r.body.startswith(b"\xef\xbb\xbf")
    table = named(r.body.decode("utf-8-sig"))
    assert [(row["queue"], row["channel"], row["offered"]) for row in table] == [
        ("billing", "voice", "1"), ("sales", "voice", "1"), ("support", "email", "1"), ("support", "voice", "1")]
    assert get(run, base + "/export.csv?bom=yes").status == 400


def named(text):
    """The CSV's rows keyed by column name without its unit and zone (``offered [legs]`` -> ``offered``)."""
    return [{k.split(" ")[0]: v for k, v in row.items()} for row in csv.DictReader(io.StringIO(text))]


@pytest.mark.parametrize("name", ["volume", "service-level", "handle-time"])
def test_charts_are_svg(run, site, name):
    """Each chart is served as well-formed SVG."""
    base, _, _ = site
    r = get(run, f"{base}/chart/{name}.svg?from=2026-03-02&interval=hour&queue=support")
    assert r.status == 200 and r.headers["content-type"].startswith("image/svg+xml")
    assert ET.fromstring(r.body).tag == "{http://www.w3.org/2000/svg}svg"


@pytest.mark.parametrize("query,field", [
    ("from=2026-02-30", "from"), ("from=2026-03-02&to=2026-03-01", "to"), ("interval=week", "interval"),
    ("by=tier", "by"), ("queue=nope", "queue"), ("from=2026-01-01&to=2026-12-31", "to"),
])
def test_bad_parameters_are_400_naming_them(run, site, query, field):
    """A wrong parameter is a 400 whose text names it, and nothing is read."""
    base, reader, _ = site
    r = get(run, f"{base}/?{query}")
    assert r.status == 400 and r.body.decode().startswith(f"{field}: ")
    assert reader.ranges == []


def test_unauthorized_requests_are_refused_before_reading(run, site):
    """When authorize says no, every route answers 403 and reads nothing."""
    base, reader, allowed = site
    allowed[0] = False
    for path in ("/", "/export.csv", "/chart/volume.svg", "/erlang.json"):
        assert get(run, base + path).status == 403
    assert reader.ranges == []


def test_unknown_paths_are_404(run, site):
    """Paths that are not a report route are 404."""
    base, _, _ = site
    assert get(run, base + "/nothing").status == 404
    assert get(run, base + "/chart/pie.svg").status == 404


def test_erlang_from_observed_traffic(run, site):
    """The calculator takes the offered contacts and AHT of the chosen interval and the queue's target."""
    base, reader, _ = site
    r = get(run, base + "/erlang.json?date=2026-03-02&interval=hour&start=10:00&queue=sales")
    assert r.status == 200
    body = r.json()
    assert reader.ranges == [(datetime(2026, 3, 2, 15, tzinfo=timezone.utc), datetime(2026, 3, 2, 16, tzinfo=timezone.utc))]
    inputs = body["inputs"]
    assert (inputs["contacts"], inputs["period"], inputs["aht"], inputs["target"], inputs["within"]) == (
        1, 3600.0, 120.0, 90.0, 15.0)
    assert body["result"]["agents"] == 1 and body["result"]["load"] == pytest.approx(1 / 30, abs=1e-4)


def test_erlang_with_given_figures_and_page(run, site):
    """Given figures replace observed ones (100 calls in 30 min at 180 s, 80/20 needs 14); the page shows it."""
    base, _, _ = site
    query = "contacts=100&period=1800&aht=180&target=80&within=20&date=2026-03-02&start=09:00"
    body = get(run, f"{base}/erlang.json?{query}").json()
    assert body["result"]["agents"] == 14 and body["inputs"]["given"] == ["aht", "contacts", "period", "target", "within"]
    assert [row["agents"] for row in body["table"]] == list(range(12, 18))
    page = get(run, f"{base}/erlang?{query}")
    assert page.status == 200 and "<strong>14 agents</strong>" in page.body.decode()


def test_erlang_without_handled_work_asks_for_an_aht(run, site):
    """An interval with nothing handled has no AHT: the answer says so instead of guessing."""
    base, _, _ = site
    body = get(run, base + "/erlang.json?date=2026-03-02&start=03:00").json()
    assert body["result"] is None and "give aht" in body["problem"]


def test_erlang_bad_parameter_is_a_json_400(run, site):
    """A wrong calculator parameter is a JSON 400 naming it."""
    base, _, _ = site
    r = get(run, base + "/erlang.json?aht=-3")
    assert r.status == 400 and r.json()["error"]["field"] == "aht"
    assert get(run, base + "/erlang.json?start=25:99").json()["error"]["field"] == "start"


def test_report_from_a_real_database(run, database):
    """The page reads through the real ReportingReader on SQLite and PostgreSQL."""
    from tests.reports.test_reporting_queries import _day

    run(database.write(_day))
    settings = load_settings(CONFIG)
    fake = task.Clock()
    fake.advance(datetime(2026, 3, 2, 20, tzinfo=timezone.utc).timestamp())
    root = Resource()
    root.putChild(b"reports", ReportsResource(ReportingReader(database), lambda: settings, Clock(fake), lambda r: True))
    service = HttpService(reactor, root, "127.0.0.1", 0)
    service.startService()
    try:
        host, port = service.address
        r = get(run, f"http://{host}:{port}/reports/export.csv?by=none&interval=day")
        [row] = named(r.body.decode())
        # Four legs (sales overflowed to support, support abandoned after 30 s, support answered
        # after 8 s and transferred to billing, answered after 30 s): SL 2 / (2 + 1 + 1);
        # handles of 52 s and 80 s.
        assert (row["offered"], row["answered"], row["service_level"], row["aht"]) == ("4", "2", "0.5000", "66.0")
        assert (row["transferred_out"], row["abandoned"], row["overflowed_out"]) == ("1", "1", "1")
    finally:
        run(service.stopService())


def test_a_page_and_its_charts_read_the_record_once(run, site):
    """The table, its three charts and its CSV asked together are one read of the range."""
    from twisted.internet.defer import ensureDeferred, gatherResults

    base, reader, _ = site
    paths = ["/?from=2026-03-02", "/chart/volume.svg?from=2026-03-02", "/chart/service-level.svg?from=2026-03-02",
             "/chart/handle-time.svg?from=2026-03-02", "/export.csv?from=2026-03-02"]
    responses = run(gatherResults([ensureDeferred(http_request(reactor, "GET", base + p)) for p in paths]))
    assert [r.status for r in responses] == [200] * 5
    assert len(reader.ranges) == 1


def test_reads_under_way_are_shared_and_a_failed_one_is_not_kept():
    """Requests asking for a range being read wait for that read; a failure reaches all, and the next asks again."""
    from twisted.internet.defer import Deferred, ensureDeferred

    gates: list[Deferred] = []

    class GatedReader(FakeReportingReader):
        """Each read waits for a gate the test opens."""

        async def legs(self, start, end):
            """As the fake's, once the gate opens (or fails)."""
            gates.append(Deferred())
            await gates[-1]
            return await super().legs(start, end)

    fake = task.Clock()
    resource = ReportsResource(GatedReader(LEGS), lambda: load_settings(CONFIG), Clock(fake), lambda r: True)
    start, end = datetime(2026, 3, 2, 5, tzinfo=timezone.utc), datetime(2026, 3, 3, 5, tzinfo=timezone.utc)
    first, second = (ensureDeferred(resource._read("legs", start, end)) for _ in range(2))  # noqa: SLF001
    assert len(gates) == 1 and not first.called and not second.called
    gates[0].errback(RuntimeError("database away"))
    for d in (first, second):
        failures = []
        d.addErrback(failures.append)
        assert failures and failures[0].check(RuntimeError)
    third = ensureDeferred(resource._read("legs", start, end))  # noqa: SLF001
    assert len(gates) == 2
    gates[1].callback(None)
    assert len(third.result) == len(LEGS)
