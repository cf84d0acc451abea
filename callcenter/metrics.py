"""Prometheus text exposition (format 0.0.4) of counters and gauges, without a client library.

Components register metric families once; counters are incremented as things happen, gauges
are either set or read from a callback at scrape time (queue depth, agents by state), so a
scrape always shows the live value.
"""

from __future__ import annotations

import math
import re
from typing import Callable, Iterable, Mapping

_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")

Labels = tuple[tuple[str, str], ...]


def _escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _escape_help(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n")


def _format_value(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if float(value).is_integer() and abs(value) < 2 ** 53:
        return str(int(value))
    return repr(float(value))


class MetricFamily:
    """One named metric (counter or gauge) with label names and per-label-set values."""

    def __init__(self, name: str, kind: str, help_text: str, label_names: tuple[str, ...] = ()) -> None:
        if not _NAME.match(name):
            raise ValueError(f"invalid metric name {name!r}")
        if kind not in ("counter", "gauge"):
            raise ValueError(f"unsupported metric type {kind!r}")
        for label in label_names:
            if not _LABEL.match(label) or label.startswith("__"):
                raise ValueError(f"invalid label name {label!r}")
        self.name, self.kind, self.help, self.label_names = name, kind, help_text, label_names
        self._values: dict[Labels, float] = {}
        self._collector: Callable[[], Iterable[tuple[Mapping[str, str], float]]] | None = None

    def _key(self, labels: Mapping[str, str]) -> Labels:
        if set(labels) != set(self.label_names):
            raise ValueError(f"{self.name} needs labels {self.label_names}, got {tuple(labels)}")
        return tuple((name, str(labels[name])) for name in self.label_names)

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        """Add ``amount`` (>= 0 for counters) to the value for ``labels``."""
        if self.kind == "counter" and amount < 0:
            raise ValueError("a counter only goes up")
        key = self._key(labels)
        self._values[key] = self._values.get(key, 0.0) + amount

    def set(self, value: float, **labels: str) -> None:
        """Set a gauge's value for ``labels``."""
        if self.kind != "gauge":
            raise ValueError("only a gauge can be set")
        self._values[self._key(labels)] = value

    def collect_with(self, collector: Callable[[], Iterable[tuple[Mapping[str, str], float]]]) -> None:
        """Read (labels, value) pairs from ``collector`` at every scrape instead of stored values."""
        self._collector = collector

    def samples(self) -> list[tuple[Labels, float]]:
        """The current (labels, value) pairs, sorted by labels."""
        if self._collector is not None:
            return sorted((self._key(labels), float(value)) for labels, value in self._collector())
        return sorted(self._values.items())


class MetricsRegistry:
    """All metric families of the process, rendered together."""

    def __init__(self) -> None:
        self._families: dict[str, MetricFamily] = {}

    def family(self, name: str, kind: str, help_text: str, label_names: tuple[str, ...] = ()) -> MetricFamily:
        """Register (or return the identical existing) family; ValueError on a conflicting re-registration."""
        existing = self._families.get(name)
        if existing is not None:
            if (existing.kind, existing.label_names) != (kind, label_names):
                raise ValueError(f"metric {name} already registered differently")
            return existing
        fam = MetricFamily(name, kind, help_text, label_names)
        self._families[name] = fam
        return fam

    def render(self) -> str:
        """The exposition text of every family, families sorted by name."""
        lines: list[str] = []
        for name in sorted(self._families):
            fam = self._families[name]
            lines.append(f"# HELP {name} {_escape_help(fam.help)}")
            lines.append(f"# TYPE {name} {fam.kind}")
            sample_name = name + "_total" if fam.kind == "counter" and not name.endswith("_total") else name
            for labels, value in fam.samples():
                label_text = ",".join(f'{k}="{_escape_label(v)}"' for k, v in labels)
                lines.append(f"{sample_name}{{{label_text}}} {_format_value(value)}" if label_text else f"{sample_name} {_format_value(value)}")
        return "\n".join(lines) + "\n"
