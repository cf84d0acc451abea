"""Read-only queries of the record for reports: contacts' leg-shaping log and agents' states.

The reports (:mod:`callcenter.reports.kpi`) count a queue leg in the interval it **entered**.
A leg can enter long after its interaction was created (an overflow after ten minutes, a
transfer, a customer's reply reopening an email the next day), but never after the
interaction's last change, so every leg entered in ``[start, end)`` belongs to an
interaction created before ``end`` and changed at or after ``start`` (index
``ix_interactions_updated_at``). :func:`contact_histories` reads those interactions and the
entries of their logs that shape legs (offers and their returns, the bulky part of a log,
are left out) as :class:`~callcenter.reports.legs.ContactHistory`;
:func:`callcenter.reports.legs.legs_of` turns each into legs, exactly as today's live
figures do from the committed writes.

Agents' states are stored as the routing core decided them (:class:`AgentStateLog` writes
them, one row per change); :func:`agent_state_spans` reads the spans overlapping a range,
each agent's state at ``start`` included, for occupancy over any past interval.

Nothing here changes what exists; the figures can be recomputed from the record at any time.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import String, func, insert, select, type_coerce
from sqlalchemy.engine import Connection
from twisted.internet.defer import Deferred
from twisted.logger import Logger

from callcenter.records.errors import InvalidInput
from callcenter.records.schema import agent_states, interaction_events, interactions
from callcenter.reports.kpi import AgentStateSpan, all_legs, spans_from_changes
from callcenter.reports.legs import ContactHeader, ContactHistory, Leg, LogEntry

log = Logger(namespace="callcenter.records.reporting")
MAX_RANGE_DAYS = 366
# Log entries that never open, close or time a leg: left out of the read.
_SKIPPED_STEPS = ("offer", "return", "accept")
_LEG_KINDS = ("created", "routed", "overflowed", "moved", "state")
# The keys of a log entry's details that legs read (callcenter.reports.legs).
_DETAIL_KEYS = ("step", "from", "state", "queue", "target", "reason", "agent")


def _check_range(start: datetime, end: datetime) -> None:
    if start.tzinfo is None or end.tzinfo is None:
        raise InvalidInput("start", "range bounds must be timezone-aware")
    if end <= start:
        raise InvalidInput("end", "must be after start")
    if (end - start).days > MAX_RANGE_DAYS:
        raise InvalidInput("end", f"a report covers at most {MAX_RANGE_DAYS} days")


def contact_histories(conn: Connection, start: datetime, end: datetime) -> list[ContactHistory]:
    """The histories of every interaction that may have a leg entered in ``[start, end)``,
    by id. Raises :class:`InvalidInput` for naive bounds, an empty or reversed range, or one
    longer than :data:`MAX_RANGE_DAYS`."""
    _check_range(start, end)
    candidates = (select(interactions.c.id)
                  .where(interactions.c.updated_at >= start, interactions.c.created_at < end))
    headers = {
        row.id: ContactHeader(row.id, row.channel, row.direction, row.queue, row.disposition,
                              row.callback_for)
        for row in conn.execute(
            select(interactions.c.id, interactions.c.channel, interactions.c.direction, interactions.c.queue,
                   interactions.c.disposition, interactions.c.payload["callback_for"].as_integer().label("callback_for"))
            .where(interactions.c.id.in_(candidates)))
    }
    details = interaction_events.c.details
    step = details["step"].as_string()
    # Only the keys that shape legs, extracted by the database: decoding whole JSON documents
    # row by row is most of the time of a day's report.
    keys = [details[key].as_string() for key in _DETAIL_KEYS]
    sqlite = conn.dialect.name == "sqlite"
    # SQLite keeps instants as fixed-width UTC text (see the schema): read as text and parsed
    # with fromisoformat, they cost a fraction of the generic DateTime result processor.
    at = type_coerce(interaction_events.c.at, String) if sqlite else interaction_events.c.at
    rows = conn.execute(
        select(interaction_events.c.interaction_id, interaction_events.c.id, at, interaction_events.c.kind, *keys)
        .where(interaction_events.c.interaction_id.in_(candidates),
               interaction_events.c.kind.in_(_LEG_KINDS),
               (interaction_events.c.kind != "state") | step.is_(None) | step.notin_(_SKIPPED_STEPS))
        .order_by(interaction_events.c.interaction_id, interaction_events.c.id)
    ).all()
    entries: dict[int, list[LogEntry]] = {}
    for iid, eid, when, kind, *values in rows:
        if sqlite:
            when = datetime.fromisoformat(when + "+00:00")
        entries.setdefault(iid, []).append(
            LogEntry(when, kind, {k: v for k, v in zip(_DETAIL_KEYS, values) if v is not None}, eid))
    return [ContactHistory(h, tuple(entries.get(i, ()))) for i, h in sorted(headers.items())]


def agent_state_spans(conn: Connection, start: datetime, end: datetime) -> list[AgentStateSpan]:
    """Every agent's states over ``[start, end)``, clipped to it: the last change before
    ``start`` gives the state at ``start``. Raises like :func:`contact_histories`."""
    _check_range(start, end)
    last_before = select(func.max(agent_states.c.id)).where(agent_states.c.at < start).group_by(agent_states.c.agent)
    rows = conn.execute(
        select(agent_states.c.agent, agent_states.c.state, agent_states.c.at)
        .where((agent_states.c.id.in_(last_before)) | ((agent_states.c.at >= start) & (agent_states.c.at < end)))
        .order_by(agent_states.c.id)
    ).all()
    changes = [(agent, state, max(at, start)) for agent, state, at in rows]
    return spans_from_changes(changes, end)


_INSERT_AGENT_STATES = insert(agent_states)  # built once: the hottest reporting write


def record_agent_states(conn: Connection, _uow: Any, changes: list[tuple[str, str, str | None, datetime]]) -> int:
    """Append agents' state changes ``(agent, state, reason, at)``; returns how many."""
    if changes:
        conn.execute(_INSERT_AGENT_STATES, [{"agent": a, "state": s, "reason": r, "at": at} for a, s, r, at in changes])
    return len(changes)


class ReportingReader:
    """Report queries on a :class:`~callcenter.records.database.Database` (any object with
    ``async read(fn, *args)``), each one read transaction on a database thread."""

    def __init__(self, database: Any) -> None:
        self._db = database

    async def histories(self, start: datetime, end: datetime) -> list[ContactHistory]:
        """See :func:`contact_histories`."""
        return await self._db.read(contact_histories, start, end)

    async def legs(self, start: datetime, end: datetime) -> list[Leg]:
        """Every leg entered in ``[start, end)``, ordered by entry."""
        legs = [leg for leg in all_legs(await self.histories(start, end)) if start <= leg.entered_at < end]
        return sorted(legs, key=lambda leg: (leg.entered_at, leg.contact, leg.index))

    async def spans(self, start: datetime, end: datetime) -> list[AgentStateSpan]:
        """See :func:`agent_state_spans`."""
        return await self._db.read(agent_state_spans, start, end)


def log_out_everyone(conn: Connection, _uow: Any, at: datetime) -> int:
    """Append a ``logged_out`` change at ``at`` for every agent whose last stored state is
    another (the process that stored it stopped: nobody is logged in to a new one); returns
    how many."""
    last = select(func.max(agent_states.c.id)).group_by(agent_states.c.agent)
    rows = conn.execute(select(agent_states.c.agent, agent_states.c.state, agent_states.c.at)
                        .where(agent_states.c.id.in_(last))).all()
    stale = [(agent, "logged_out", "restart", max(at, since)) for agent, state, since in rows if state != "logged_out"]
    return record_agent_states(conn, _uow, stale)


def _write_states(conn: Connection, uow: Any, restart: datetime | None,
                  changes: list[tuple[str, str, str | None, datetime]]) -> int:
    if restart is not None:
        log_out_everyone(conn, uow, restart)
    return record_agent_states(conn, uow, changes)


class AgentStateLog:
    """Stores agents' state changes in the order they happened, off the reactor.

    :meth:`record` is synchronous (the switchboard calls it while carrying out the routing
    core's decisions); changes are written in batches, one write at a time, so their ids
    keep their order. ``started_at`` (the process's start) closes, in the first write and
    before any change of this process, the states a previous process left open
    (:func:`log_out_everyone`): the routing core starts with every agent logged out.
    :meth:`kick` makes that first write happen even before any change. A failed write is
    logged and its changes are dropped (the live day's figures do not depend on them).
    :meth:`flushed` waits until everything recorded so far is written.
    """

    def __init__(self, database: Any, started_at: datetime | None = None) -> None:
        self._db = database
        self._restart = started_at
        self._pending: list[tuple[str, str, str | None, datetime]] = []
        self._writing: Deferred | None = None

    def record(self, agent: str, state: str, reason: str | None, at: datetime) -> None:
        """Queue one change for writing."""
        self._pending.append((agent, state, reason, at))
        self.kick()

    def kick(self) -> None:
        """Start writing what is queued (and the restart's closing) unless a write is under way."""
        if self._writing is None and (self._pending or self._restart is not None):
            d = Deferred.fromCoroutine(self._drain())
            self._writing = None if d.called else d

    async def _drain(self) -> None:
        try:
            while self._pending or self._restart is not None:
                batch, self._pending = self._pending, []
                restart, self._restart = self._restart, None
                try:
                    await self._db.write(_write_states, restart, batch)
                except Exception:  # noqa: BLE001 - logged, the next batch goes on
                    log.failure("storing {n} agent state changes failed", n=len(batch))
        finally:
            self._writing = None

    async def flushed(self) -> None:
        """Return once every change recorded so far is written (or failed)."""
        while self._writing is not None:
            await self._writing
