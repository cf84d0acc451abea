"""SVG charts are well-formed and escaped; the CSV export quotes, neutralizes formulas and keeps offsets."""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET
from zoneinfo import ZoneInfo

import pytest

from callcenter.reports.charts import Series, handle_time_chart, service_level_chart, svg_chart, volume_chart
from callcenter.reports.export import BOM, columns, rows_to_csv, safe_cell
from callcenter.reports.kpi import KpiRules, compute_report
from tests.reports.helpers import T0, abandoned, answered, at

NY = ZoneInfo("America/New_York")
SVG = "{http://www.w3.org/2000/svg}"


def rows():
    """An hour of quarter-hour totals, the third quarter empty."""
    legs = [answered(0, 10), answered(300, 40), abandoned(400, 30), answered(1000, 5), answered(2800, 25)]
    return compute_report(legs, T0, at(3600), "15min", NY, KpiRules())


@pytest.mark.parametrize("render", [volume_chart, lambda r: service_level_chart(r, 0.8), handle_time_chart])
def test_charts_parse_as_svg(render):
    """Each chart is one well-formed SVG document with a title and a label per interval (the
    date, the same for all, said once in the x axis title)."""
    root = ET.fromstring(render(rows()))
    assert root.tag == SVG + "svg"
    assert root.find(SVG + "title").text
    texts = [t.text for t in root.iter(SVG + "text")]
    assert "09:00" in texts and "09:45" in texts and "interval start, 2026-03-02" in texts


def test_volume_bars_and_gaps_in_lines():
    """Bars are drawn for non-zero counts only; a None rate splits the line instead of dropping to 0."""
    volume = ET.fromstring(volume_chart(rows()))
    assert len(list(volume.iter(SVG + "rect"))) - 3 == 3 + 3 + 1  # legend squares aside
    sl = ET.fromstring(service_level_chart(rows(), 0.8))
    [sl_line] = [g for g in sl.iter(SVG + "g") if g.find(SVG + "title").text == "service level"]
    assert len(sl_line.findall(SVG + "polyline")) == 1 and len(sl_line.findall(SVG + "circle")) == 1


def test_labels_are_escaped():
    """Markup in titles, labels or series names is text in the SVG, never elements."""
    doc = svg_chart("<script>alert(1)</script>", ["a&b", "<i>"], [Series("x\"y", (1.0, None), "line")])
    root = ET.fromstring(doc)
    assert root.find(SVG + "title").text == "<script>alert(1)</script>"
    assert not list(root.iter(SVG + "script")) and "<script>" not in doc


def test_series_length_must_match_labels():
    """A series with the wrong number of values is a programming error, raised."""
    with pytest.raises(ValueError):
        svg_chart("t", ["a", "b"], [Series("s", (1.0,))])


def test_csv_has_offsets_rates_and_empty_unknowns():
    """The CSV parses back: local bounds with offsets, fractions, blank for unknown rates."""
    table = list(csv.reader(io.StringIO(rows_to_csv(rows(), NY))))
    header = columns(NY, "default")
    assert table[0] == header and len(table) == 5
    first = dict(zip(header, table[1]))
    assert first["interval_start (America/New_York) [ISO 8601]"] == "2026-03-02T09:00:00-05:00"
    assert first["queue"] == "(all)"
    assert (first["offered [legs]"], first["service_level (default) [0..1]"], first["asa [s]"]) == ("3", "0.3333", "25.0")
    empty = dict(zip(header, table[3]))
    assert empty["offered [legs]"] == "0" and empty["service_level (default) [0..1]"] == "" and empty["aht [s]"] == ""


def test_csv_header_names_units_time_zone_and_definition():
    """Every figure's header names its unit; the bounds name the time zone; the SL its definition."""
    header = next(csv.reader(io.StringIO(rows_to_csv(rows(), NY, "asterisk_sl2"))))
    assert header[:2] == ["interval_start (America/New_York) [ISO 8601]", "interval_end (America/New_York) [ISO 8601]"]
    assert "service_level (asterisk_sl2) [0..1]" in header
    assert all(h.endswith("]") for h in header if h not in ("queue", "channel", "agent"))


def test_csv_with_bom_for_excel_keeps_chinese_queue_names():
    """With bom=True the text starts with U+FEFF and a Chinese queue name round-trips through UTF-8."""
    legs = [answered(0, 5, queue="客服")]
    table = compute_report(legs, T0, at(900), "15min", NY, KpiRules(), group_by=["queue"])
    data = rows_to_csv(table, NY, bom=True).encode("utf-8")
    assert data.startswith(b"\xef\xbb\xbf")
    back = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert back[1][2] == "客服"
    assert not rows_to_csv(table, NY).startswith(BOM)


def test_charts_name_their_axes_with_units():
    """Each chart titles its x axis with the day and time zone and its y axis with the unit."""
    for doc, unit in ((volume_chart(rows(), "America/New_York"), "queue legs"),
                      (service_level_chart(rows(), 0.8, "America/New_York"), "% of legs"),
                      (handle_time_chart(rows(), "America/New_York"), "seconds")):
        texts = [t.text for t in ET.fromstring(doc).iter(SVG + "text")]
        assert "interval start, 2026-03-02 (America/New_York)" in texts and unit in texts


def test_csv_quotes_and_neutralizes_formulas():
    """Commas, quotes and line breaks are quoted; cells starting like a formula get an apostrophe."""
    legs = [answered(0, 5, queue='=HYPERLINK("x")', agent="a,b"), answered(0, 5, queue="q\r\nr", agent='say "hi"')]
    text = rows_to_csv(compute_report(legs, T0, at(900), "15min", NY, KpiRules(), group_by=["queue", "agent"]), NY)
    table = list(csv.reader(io.StringIO(text)))
    cells = {(row[2], row[4]) for row in table[1:]}
    assert cells == {("'=HYPERLINK(\"x\")", "a,b"), ("q\r\nr", 'say "hi"')}
    assert '"a,b"' in text and '"say ""hi"""' in text
    assert [safe_cell(s) for s in ("+1", "-2", "@x", "ok")] == ["'+1", "'-2", "'@x", "ok"]


def test_x_labels_never_overlap():
    """A day of hours at 760 px shows every other hour at most; days of several dates keep the date."""
    from datetime import date

    from callcenter.reports.intervals import day_range

    hours = compute_report([], *day_range(date(2026, 3, 2), NY), "hour", NY, KpiRules())
    texts = [t.text for t in ET.fromstring(volume_chart(hours)).iter(SVG + "text")]
    shown = [t for t in texts if len(t) == 5 and t[2] == ":"]
    assert 6 <= len(shown) <= 12
    days = compute_report([], T0, at(5 * 86400), "day", NY, KpiRules())
    assert "2026-03-03" in [t.text for t in ET.fromstring(volume_chart(days)).iter(SVG + "text")]


@pytest.mark.parametrize("legs", [[], [answered(0, 0.4, talk=1.0, wrap=0.5)]], ids=["no contacts", "one short call"])
def test_the_handle_time_axis_reads_in_distinct_whole_seconds(legs):
    """A day without contacts (or with sub-second figures) still labels its axis 0s 1s 2s 3s 4s,
    never the same second twice."""
    report = compute_report(legs, T0, at(3600), "15min", NY, KpiRules())
    texts = [t.text for t in ET.fromstring(handle_time_chart(report)).iter(SVG + "text")]
    ticks = [t for t in texts if t and t.endswith("s") and t[:-1].isdigit()]
    assert ticks == ["0s", "1s", "2s", "3s", "4s"]
