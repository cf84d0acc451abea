"""Read-only queries of the interaction log for reports.

The reports (:mod:`callcenter.reports.kpi`) count an interaction in the interval in which
it was queued, so every report over ``[start, end)`` is one range query on
``interactions.queued_at``, served by the ``ix_interactions_queued_at`` index, returning
only the columns the figures need as :class:`~callcenter.reports.kpi.InteractionFact`.
Nothing here writes; the figures can be recomputed from the log at any time.

:func:`interaction_facts` is a unit of work for ``Database.read``; :class:`ReportingReader`
is the narrow object the web pages and the daily summary are given.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import String, select, type_coerce
from sqlalchemy.engine import Connection

from callcenter.records.errors import InvalidInput
from callcenter.records.schema import interactions
from callcenter.reports.kpi import InteractionFact

MAX_RANGE_DAYS = 366

_TEXT = (interactions.c.id, interactions.c.channel, interactions.c.queue, interactions.c.agent, interactions.c.state)
_INSTANTS = (interactions.c.queued_at, interactions.c.answered_at, interactions.c.ended_at,
             interactions.c.wrap_up_ended_at)


def _check_range(start: datetime, end: datetime) -> None:
    if start.tzinfo is None or end.tzinfo is None:
        raise InvalidInput("start", "range bounds must be timezone-aware")
    if end <= start:
        raise InvalidInput("end", "must be after start")
    if (end - start).days > MAX_RANGE_DAYS:
        raise InvalidInput("end", f"a report covers at most {MAX_RANGE_DAYS} days")


def interaction_facts(conn: Connection, start: datetime, end: datetime) -> list[InteractionFact]:
    """Every interaction queued in ``[start, end)``, oldest queued first.

    Raises :class:`InvalidInput` for naive bounds, an empty or reversed range, or one longer
    than :data:`MAX_RANGE_DAYS`.
    """
    _check_range(start, end)
    sqlite = conn.dialect.name == "sqlite"
    # SQLite keeps instants as fixed-width UTC text (see the schema); reading them as text
    # and parsing with fromisoformat is several times faster than the generic DateTime
    # result processor, which matters at 100,000 rows. PostgreSQL returns datetimes.
    instants = [type_coerce(c, String) for c in _INSTANTS] if sqlite else list(_INSTANTS)
    rows = conn.execute(
        select(*_TEXT, *instants, interactions.c.disposition)
        .where(interactions.c.queued_at >= start, interactions.c.queued_at < end)
        .order_by(interactions.c.queued_at, interactions.c.id)
    ).all()
    if not sqlite:
        return [InteractionFact(*row) for row in rows]
    return [InteractionFact(i, ch, q, a, st, _utc(qa), _utc(aa), _utc(ea), _utc(wa), d)
            for i, ch, q, a, st, qa, aa, ea, wa, d in rows]


def _utc(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text + "+00:00")


class ReportingReader:
    """Report queries on a :class:`~callcenter.records.database.Database` (any object with
    ``async read(fn, *args)``), each one read transaction on a database thread."""

    def __init__(self, database: Any) -> None:
        self._db = database

    async def facts(self, start: datetime, end: datetime) -> list[InteractionFact]:
        """See :func:`interaction_facts`."""
        return await self._db.read(interaction_facts, start, end)
