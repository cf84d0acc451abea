"""Server-rendered SVG charts of report rows: volume, service level, handle time.

The documents are built with :mod:`xml.etree.ElementTree`, so every label is escaped and the
output is always well-formed XML; no script, no external reference. A chart is a plot area
with a y axis from 0 to a rounded maximum, one x position per interval (labels thinned to
stay legible), each axis titled with what it shows and its unit, and series drawn as
grouped bars or as lines. ``None`` values (an interval
without the data for a rate) leave a gap in a line and no bar.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Callable, Sequence

from callcenter.reports.kpi import KpiRow

WIDTH, HEIGHT = 760, 300
LEFT, RIGHT, TOP, BOTTOM = 66, 16, 36, 76
COLOURS = ("#2b6cb0", "#2f855a", "#c53030", "#b7791f")
MAX_X_LABELS = 12
SVG_NS = "http://www.w3.org/2000/svg"


@dataclass(frozen=True)
class Series:
    """One named series of values (None: no value), drawn as ``bar`` or ``line``."""

    name: str
    values: tuple[float | None, ...]
    kind: str = "bar"


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    exponent = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * exponent:
            return step * exponent
    return 10 * exponent


def svg_chart(title: str, labels: Sequence[str], series: Sequence[Series],
              y_format: Callable[[float], str] = lambda v: f"{v:g}", y_max: float | None = None,
              reference: tuple[str, float] | None = None, x_title: str = "", y_title: str = "") -> str:
    """An SVG document (text) plotting ``series`` over the x ``labels``.

    ``x_title`` and ``y_title`` name the axes with their units. ``y_max`` fixes the top of the axis (else the rounded largest value); ``reference`` is a
    named horizontal line such as a service-level target. Raises ``ValueError`` when a
    series has not one value per label or an unknown ``kind``.
    """
    for s in series:
        if len(s.values) != len(labels):
            raise ValueError(f"series {s.name!r} has {len(s.values)} values for {len(labels)} labels")
        if s.kind not in ("bar", "line"):
            raise ValueError(f"series kind must be bar or line, not {s.kind!r}")
    values = [v for s in series for v in s.values if v is not None]
    top = y_max if y_max is not None else _nice_max(max(values + [reference[1] if reference else 0.0], default=0.0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(1, len(labels))

    def y_of(v: float) -> float:
        return TOP + plot_h - (min(v, top) / top) * plot_h

    svg = ET.Element("svg", {"xmlns": SVG_NS, "width": str(WIDTH), "height": str(HEIGHT),
                             "viewBox": f"0 0 {WIDTH} {HEIGHT}", "role": "img", "font-family": "sans-serif",
                             "font-size": "11"})
    ET.SubElement(svg, "title").text = title
    ET.SubElement(svg, "text", {"x": str(LEFT), "y": "20", "font-size": "14", "font-weight": "bold"}).text = title
    for i in range(5):
        v = top * i / 4
        y = f"{y_of(v):.1f}"
        ET.SubElement(svg, "line", {"x1": str(LEFT), "x2": str(WIDTH - RIGHT), "y1": y, "y2": y, "stroke": "#ddd"})
        ET.SubElement(svg, "text", {"x": str(LEFT - 6), "y": y, "text-anchor": "end",
                                    "dominant-baseline": "middle"}).text = y_format(v)
    # Thin the labels so that none overlaps the next (about 6.2 px a character at 11 px).
    widest = max((len(label) for label in labels), default=1) * 6.2 + 8
    every = max(1, math.ceil(len(labels) / MAX_X_LABELS), math.ceil(widest / slot))
    for i, label in enumerate(labels):
        if i % every == 0:
            ET.SubElement(svg, "text", {"x": f"{LEFT + slot * (i + 0.5):.1f}", "y": str(HEIGHT - BOTTOM + 16),
                                        "text-anchor": "middle"}).text = label
    if x_title:
        ET.SubElement(svg, "text", {"x": f"{LEFT + plot_w / 2:.1f}", "y": str(HEIGHT - BOTTOM + 34),
                                    "text-anchor": "middle", "fill": "#444"}).text = x_title
    if y_title:
        middle = f"{TOP + plot_h / 2:.1f}"
        ET.SubElement(svg, "text", {"x": "14", "y": middle, "text-anchor": "middle", "fill": "#444",
                                    "transform": f"rotate(-90 14 {middle})"}).text = y_title
    bars = [s for s in series if s.kind == "bar"]
    bar_w = slot * 0.8 / max(1, len(bars))
    for n, s in enumerate(series):
        colour = COLOURS[n % len(COLOURS)]
        group = ET.SubElement(svg, "g", {"fill" if s.kind == "bar" else "stroke": colour})
        ET.SubElement(group, "title").text = s.name
        if s.kind == "bar":
            k = bars.index(s)
            for i, v in enumerate(s.values):
                if v is None or v <= 0:
                    continue
                x = LEFT + slot * i + slot * 0.1 + bar_w * k
                ET.SubElement(group, "rect", {"x": f"{x:.1f}", "y": f"{y_of(v):.1f}", "width": f"{bar_w:.1f}",
                                              "height": f"{TOP + plot_h - y_of(v):.1f}"})
        else:
            group.set("fill", "none")
            group.set("stroke-width", "2")
            for run in _runs(s.values):
                if len(run) == 1:  # a lone value between gaps: a dot, since a line needs two points
                    i, v = run[0]
                    ET.SubElement(group, "circle", {"cx": f"{LEFT + slot * (i + 0.5):.1f}", "cy": f"{y_of(v):.1f}",
                                                    "r": "2.5", "fill": colour})
                    continue
                points = " ".join(f"{LEFT + slot * (i + 0.5):.1f},{y_of(v):.1f}" for i, v in run)
                ET.SubElement(group, "polyline", {"points": points})
        ET.SubElement(svg, "rect", {"x": str(LEFT + 150 * n), "y": str(HEIGHT - 20), "width": "10", "height": "10",
                                    "fill": colour})
        ET.SubElement(svg, "text", {"x": str(LEFT + 150 * n + 14), "y": str(HEIGHT - 11)}).text = s.name
    if reference is not None:
        name, v = reference
        y = f"{y_of(v):.1f}"
        ET.SubElement(svg, "line", {"x1": str(LEFT), "x2": str(WIDTH - RIGHT), "y1": y, "y2": y,
                                    "stroke": "#555", "stroke-dasharray": "4 3"})
        ET.SubElement(svg, "text", {"x": str(WIDTH - RIGHT), "y": f"{y_of(v) - 4:.1f}", "text-anchor": "end"}).text = name
    return ET.tostring(svg, encoding="unicode")


def _runs(values: Sequence[float | None]) -> list[list[tuple[int, float]]]:
    """Consecutive non-None values with their positions: the pieces of a line with gaps."""
    runs: list[list[tuple[int, float]]] = [[]]
    for i, v in enumerate(values):
        if v is None:
            if runs[-1]:
                runs.append([])
        else:
            runs[-1].append((i, v))
    return [r for r in runs if r]


def _percent(v: float) -> str:
    return f"{v * 100:.0f}%"


def _secs(v: float) -> str:
    return f"{v:.0f}s"


def _x_title(rows: Sequence[KpiRow], timezone: str) -> str:
    days = {r.interval.label[:10] for r in rows}
    on = f", {days.pop()}" if len(days) == 1 and any(len(r.interval.label) > 10 for r in rows) else ""
    return f"interval start{on} ({timezone})" if timezone else f"interval start{on}"


def _labels(rows: Sequence[KpiRow]) -> list[str]:
    """Interval labels, without their date when every interval is within one day (the x title says it)."""
    labels = [r.interval.label for r in rows]
    if len({label[:10] for label in labels}) == 1 and all(len(label) > 10 for label in labels):
        return [label[11:] for label in labels]
    return labels


def volume_chart(rows: Sequence[KpiRow], timezone: str = "") -> str:
    """Offered, answered and abandoned legs per interval (``rows`` one per interval: totals)."""
    labels = _labels(rows)
    return svg_chart("Volume", labels, [
        Series("offered", tuple(float(r.offered) for r in rows)),
        Series("answered", tuple(float(r.answered) for r in rows)),
        Series("abandoned", tuple(float(r.abandoned) for r in rows)),
    ], x_title=_x_title(rows, timezone), y_title="queue legs")


def service_level_chart(rows: Sequence[KpiRow], target: float | None = None, timezone: str = "") -> str:
    """Service level and abandon rate per interval, 0-100 %, with the target line if given."""
    labels = _labels(rows)
    return svg_chart("Service level", labels, [
        Series("service level", tuple(r.service_level for r in rows), "line"),
        Series("abandon rate", tuple(r.abandon_rate for r in rows), "line"),
    ], y_format=_percent, y_max=1.0, reference=(f"target {target:.0%}", target) if target is not None else None,
        x_title=_x_title(rows, timezone), y_title="% of legs")


def handle_time_chart(rows: Sequence[KpiRow], timezone: str = "") -> str:
    """Average handle time and average speed of answer per interval, seconds."""
    labels = _labels(rows)
    series = [Series("AHT", tuple(r.aht for r in rows), "line"), Series("ASA", tuple(r.asa for r in rows), "line")]
    largest = max((v for one in series for v in one.values if v is not None), default=0.0)
    # At least 4 s at the top, so the five ticks are whole seconds (an empty day said 0s 0s 0s 1s 1s).
    return svg_chart("Handle time", labels, series, y_format=_secs, y_max=max(4.0, _nice_max(largest)),
                     x_title=_x_title(rows, timezone), y_title="seconds")
