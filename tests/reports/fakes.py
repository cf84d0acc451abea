"""A fake of the reporting reader, with the real one's signature (checked by a test)."""

from __future__ import annotations

from datetime import datetime

from callcenter.reports.kpi import AgentStateSpan
from callcenter.reports.legs import Leg


class FakeReportingReader:
    """Serves fixed legs and spans like :class:`callcenter.records.reporting.ReportingReader`;
    records each range asked."""

    def __init__(self, legs: list[Leg], spans: list[AgentStateSpan] | None = None) -> None:
        self._legs = legs
        self._spans = spans or []
        self.ranges: list[tuple[datetime, datetime]] = []

    async def legs(self, start: datetime, end: datetime) -> list[Leg]:
        """The legs entered in ``[start, end)``, by entry."""
        self.ranges.append((start, end))
        return sorted((leg for leg in self._legs if start <= leg.entered_at < end),
                      key=lambda leg: (leg.entered_at, leg.contact, leg.index))

    async def spans(self, start: datetime, end: datetime) -> list[AgentStateSpan]:
        """The spans overlapping ``[start, end)``, clipped to it."""
        return [AgentStateSpan(s.agent, s.state, max(s.start, start), min(s.end, end))
                for s in self._spans if s.start < end and s.end > start]
