"""A fake of the reporting reader, with the real one's signature (checked by a test)."""

from __future__ import annotations

from datetime import datetime

from callcenter.reports.kpi import InteractionFact


class FakeReportingReader:
    """Serves fixed facts like :class:`callcenter.records.reporting.ReportingReader`; records each range asked."""

    def __init__(self, facts: list[InteractionFact]) -> None:
        self._facts = facts
        self.ranges: list[tuple[datetime, datetime]] = []

    async def facts(self, start: datetime, end: datetime) -> list[InteractionFact]:
        """The facts queued in ``[start, end)``, oldest first."""
        self.ranges.append((start, end))
        return sorted((f for f in self._facts if f.queued_at and start <= f.queued_at < end),
                      key=lambda f: (f.queued_at, f.id))
