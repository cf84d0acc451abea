"""Units of work on interactions: create, change state, append to the event log, timeline.

Same rules as :mod:`callcenter.records.customers`: called on a database thread inside the
transaction the database opened, validated inputs, time passed in, frozen dataclasses out.

The timeline is one query on the ``ix_interactions_timeline`` index
``(customer_id, created_at, id)``, newest first, keyset-paged: the cursor is the position
``(created_at, id)`` of the last item returned, so pages stay stable while new interactions
arrive.
"""

from __future__ import annotations

import base64
import dataclasses
import json
from datetime import datetime, timezone
from typing import Any, Sequence

from sqlalchemy import and_, bindparam, insert, or_, select, update
from sqlalchemy.engine import Connection

from callcenter.runtime.events import InteractionCreated, InteractionEventAppended, InteractionStateChanged
from callcenter.records.customers import resolve_id
from callcenter.records.batching import together_else_each
from callcenter.records.database import UnitOfWork
from callcenter.records.errors import InvalidInput, NotFound
from callcenter.records.model import Interaction, InteractionEvent, TimelinePage
from callcenter.records.schema import interaction_events, interactions

# One appended event: (interaction_id, at, kind, actor, details[, details as JSON text]). The
# text, when given, is what is stored (the store validated it); else the details are encoded here.
EventRequest = tuple[int, datetime, str, "str | None", dict] | tuple[int, datetime, str, "str | None", dict, str]


def create_interaction(
    conn: Connection, uow: UnitOfWork, customer_id: int, fields: dict[str, Any], actor: str | None, now: datetime
) -> Interaction:
    """Log a new interaction for the customer ``customer_id`` resolves to.

    ``fields`` holds ``channel``, ``direction``, ``state`` and optionally ``queue``,
    ``agent``, ``subject``, ``payload``, lifecycle timestamps and a reserved ``id``. A ``created`` entry is
    appended to its event log. Raises :class:`NotFound` for an unknown customer.
    """
    owner = resolve_id(conn, customer_id)
    values = {"payload": {}, **fields}
    if values.get("id") is None:
        values.pop("id", None)
        explicit = uow.new_id(conn, "interactions")
        if explicit is not None:
            values["id"] = explicit
    interaction_id = conn.execute(
        insert(interactions)
        .values(customer_id=owner, created_at=now, updated_at=now, **values)
        .returning(interactions.c.id)
    ).scalar_one()
    _log(conn, uow, [(interaction_id, now, "created", actor, {"state": values["state"]})])
    created = get_interaction(conn, interaction_id)
    uow.emit(
        InteractionCreated(
            at=now.timestamp(),
            interaction_id=interaction_id,
            customer_id=owner,
            channel=values["channel"],
            direction=values["direction"],
            state=values["state"],
            interaction=created,
        )
    )
    return created


def update_interaction_state(
    conn: Connection,
    uow: UnitOfWork,
    interaction_id: int,
    state: str,
    at: datetime,
    actor: str | None,
    details: dict[str, Any],
    fields: dict[str, Any],
) -> Interaction:
    """Set the state (and ``fields``: timestamps, queue, agent, disposition, ...) at time ``at``.

    Appends a ``state`` entry ``{"from", "to", **details}`` to the log in the same
    transaction. Which transitions are legal is the caller's state machine, not this
    function's. Raises :class:`NotFound` for an unknown interaction.
    """
    before = get_interaction(conn, interaction_id)
    conn.execute(
        update(interactions).where(interactions.c.id == interaction_id).values(state=state, updated_at=at, **fields)
    )
    _log(conn, uow, [(interaction_id, at, "state", actor, {**details, "from": before.state, "to": state})])
    after = get_interaction(conn, interaction_id)
    uow.emit(
        InteractionStateChanged(
            at=at.timestamp(),
            interaction_id=interaction_id,
            customer_id=before.customer_id,
            previous_state=before.state,
            state=state,
            actor=actor,
            interaction=after,
        )
    )
    return after


# One state change: (interaction_id, state, at, actor, details, fields), as update_interaction_state takes them.
StateRequest = tuple[int, str, datetime, "str | None", dict, dict]


def update_states(conn: Connection, uow: UnitOfWork, requests: Sequence[StateRequest]) -> list[Interaction | Exception]:
    """:func:`update_interaction_state` for many interactions at once; one outcome per request.

    The rows are read in one statement, changed with one statement per set of changed
    columns, and logged with one insert. If that fails (an unknown interaction, a constraint),
    or the batch changes one interaction twice (order matters then), each request runs alone
    in its own savepoint: only the bad one gets its error.
    """
    ids = [r[0] for r in requests]
    # Changing one interaction twice in a batch depends on order: then one at a time.
    return together_else_each(conn, uow, _update_all, requests, together=len(set(ids)) == len(ids))


def _update_all(conn: Connection, uow: UnitOfWork, requests: Sequence[StateRequest]) -> list[Interaction]:
    rows = {r.id: r for r in conn.execute(_BY_IDS, {"ids": [q[0] for q in requests]})}
    for q in requests:
        if q[0] not in rows:
            raise NotFound("interaction", q[0])
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for iid, state, at, _, _, fields in requests:
        values = {"state": state, "updated_at": at, **fields}
        groups.setdefault(tuple(sorted(values)), []).append({"row_id": iid, **values})
    for columns, params in groups.items():
        conn.execute(_update_of(columns), params)
    _log(conn, uow, [(iid, at, "state", actor, {**details, "from": rows[iid].state, "to": state})
                     for iid, state, at, actor, details, _ in requests])
    out = []
    for iid, state, at, actor, _, fields in requests:
        before = _interaction(rows[iid])
        after = dataclasses.replace(before, state=state, updated_at=at, **fields)
        uow.emit(InteractionStateChanged(at=at.timestamp(), interaction_id=iid, customer_id=before.customer_id,
                                         previous_state=before.state, state=state, actor=actor, interaction=after))
        out.append(after)
    return out


def append_events(conn: Connection, uow: UnitOfWork, requests: Sequence[EventRequest]) -> list[InteractionEvent]:
    """Append every request to the event log in one statement; results in request order.

    An unknown interaction id fails the whole call (foreign key), rolling it back.
    """
    return _log(conn, uow, requests)


def append_events_each(conn: Connection, uow: UnitOfWork, requests: Sequence[EventRequest]) -> list[InteractionEvent | NotFound]:
    """Append the requests naming an existing interaction, in one statement; each request naming
    an unknown one has :class:`NotFound` as its outcome instead (nothing of it is written).
    Results in request order."""
    wanted = {r[0] for r in requests}
    known = existing_interactions(conn, wanted)
    if len(known) == len(wanted):
        return _log(conn, uow, requests)
    logged = iter(_log(conn, uow, [r for r in requests if r[0] in known]))
    return [next(logged) if r[0] in known else NotFound("interaction", r[0]) for r in requests]


def existing_interactions(conn: Connection, ids: set[int]) -> set[int]:
    """Which of ``ids`` are interactions, in one statement of constant text (the ids travel as
    one parameter, so the driver's statement cache serves every call)."""
    if not ids:
        return set()
    if conn.dialect.name == "sqlite":
        rows = conn.exec_driver_sql(_SQLITE_EXISTING, (json.dumps(sorted(ids)),))
    else:
        rows = conn.exec_driver_sql(_PG_EXISTING, (sorted(ids),))
    return {r[0] for r in rows}


_SQLITE_EXISTING = "SELECT id FROM interactions WHERE id IN (SELECT value FROM json_each(?))"
_PG_EXISTING = "SELECT id FROM interactions WHERE id = ANY(%s::bigint[])"


def get_interaction(conn: Connection, interaction_id: int) -> Interaction:
    """One interaction; :class:`NotFound` if it does not exist."""
    row = conn.execute(_BY_ID, {"iid": interaction_id}).first()
    if row is None:
        raise NotFound("interaction", interaction_id)
    return _interaction(row)


def interaction_log(conn: Connection, interaction_id: int) -> list[InteractionEvent]:
    """The event log of one interaction, oldest first; :class:`NotFound` if it does not exist."""
    get_interaction(conn, interaction_id)
    rows = conn.execute(
        select(interaction_events)
        .where(interaction_events.c.interaction_id == interaction_id)
        .order_by(interaction_events.c.id)
    ).all()
    return [_event(r) for r in rows]


def timeline(conn: Connection, customer_id: int, limit: int, cursor: str | None) -> TimelinePage:
    """Up to ``limit`` interactions of the resolved customer, on every channel, newest first.

    ``cursor`` is a previous page's ``next_cursor``. Raises :class:`NotFound` for an unknown
    customer and :class:`InvalidInput` (field ``cursor``) for a malformed cursor.
    """
    owner = resolve_id(conn, customer_id)
    if cursor is None:
        rows = conn.execute(_TIMELINE, {"owner": owner, "limit": limit + 1}).all()
    else:
        at, last_id = decode_cursor(cursor)
        rows = conn.execute(_TIMELINE_AFTER, {"owner": owner, "limit": limit + 1, "at": at, "last_id": last_id}).all()
    items = tuple(_interaction(r) for r in rows[:limit])
    next_cursor = encode_cursor(items[-1].created_at, items[-1].id) if len(rows) > limit else None
    return TimelinePage(customer_id=owner, items=items, next_cursor=next_cursor)


# The record's hot reads and writes as statements built once: building a select anew costs more
# than running it (65 us against 22 us for one interaction by id, SQLite).
_BY_ID = select(interactions).where(interactions.c.id == bindparam("iid"))
_BY_IDS = select(interactions).where(interactions.c.id.in_(bindparam("ids", expanding=True)))
_NEWEST_FIRST = (interactions.c.created_at.desc(), interactions.c.id.desc())
_TIMELINE = (select(interactions).where(interactions.c.customer_id == bindparam("owner"))
             .order_by(*_NEWEST_FIRST).limit(bindparam("limit")))
_TIMELINE_AFTER = (
    select(interactions)
    .where(interactions.c.customer_id == bindparam("owner"),
           or_(interactions.c.created_at < bindparam("at"),
               and_(interactions.c.created_at == bindparam("at"), interactions.c.id < bindparam("last_id"))))
    .order_by(*_NEWEST_FIRST).limit(bindparam("limit"))
)
_UPDATES: dict[tuple[str, ...], Any] = {}


def _update_of(columns: tuple[str, ...]) -> Any:
    """The statement setting ``columns`` (bound by name) of the interaction ``row_id``, built once per set."""
    statement = _UPDATES.get(columns)
    if statement is None:
        statement = (update(interactions).where(interactions.c.id == bindparam("row_id"))
                     .values({c: bindparam(c) for c in columns}))
        if len(_UPDATES) < 256:  # the sets come from code, not from callers: a handful exist
            _UPDATES[columns] = statement
    return statement


def encode_cursor(at: datetime, interaction_id: int) -> str:
    """The opaque cursor for the timeline position ``(at, interaction_id)``."""
    return base64.urlsafe_b64encode(f"{at.isoformat()}|{interaction_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    """Inverse of :func:`encode_cursor`; :class:`InvalidInput` (field ``cursor``) if malformed."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at_text, id_text = raw.split("|")
        at = datetime.fromisoformat(at_text)
        if at.tzinfo is None:
            raise ValueError("naive")
        return at, int(id_text)
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput("cursor", "is not a cursor returned by this API") from None


def _log(conn: Connection, uow: UnitOfWork, requests: Sequence[EventRequest]) -> list[InteractionEvent]:
    if not requests:
        return []
    # The hottest write of the record: the statement is written once as the driver's own SQL
    # and its rows are plain tuples, so none of SQLAlchemy's per-row work (bind processors, JSON
    # and datetime types, parameter dictionaries) is done. The values are what those types
    # would store: JSON text, and on SQLite the timestamp as fixed-width naive UTC text.
    # Entries logged together often share their instant: each distinct one is converted once.
    sqlite = conn.dialect.name == "sqlite"
    instants: dict[datetime, tuple[datetime, Any, float]] = {}
    times = []
    for r in requests:
        converted = instants.get(r[1])
        if converted is None:
            utc = r[1].astimezone(timezone.utc)
            converted = instants[r[1]] = (
                utc, utc.replace(tzinfo=None).isoformat(" ", "microseconds") if sqlite else utc, utc.timestamp())
        times.append(converted)
    encoded = [r[5] if len(r) > 5 else _dumps(r[4]) for r in requests]
    if sqlite:
        # Its writes hold the database lock (BEGIN IMMEDIATE, one writer), so numbering the rows
        # here is safe (and SQLite would run RETURNING row by row).
        first = conn.exec_driver_sql(_SQLITE_NEXT_EVENT_ID).scalar_one()
        ids = range(first, first + len(requests))
        conn.exec_driver_sql(_SQLITE_INSERT_EVENTS, [
            (eid, r[0], t[1], r[2], r[3], text) for eid, r, t, text in zip(ids, requests, times, encoded)])
    else:
        # Ids first, from the table's own sequence (one round trip), then every row through one
        # COPY in this transaction (psycopg formats its rows in C): the ids are known in request
        # order without relying on the order of RETURNING.
        ids = [r[0] for r in conn.exec_driver_sql(_pg_next_event_ids(conn), (len(requests),))]
        with conn.connection.driver_connection.cursor() as cursor, cursor.copy(_PG_COPY_EVENTS) as copy:
            write = copy.write_row
            for eid, r, t, text in zip(ids, requests, times, encoded):
                write((eid, r[0], t[0], r[2], r[3], text))
    out = []
    emit = uow.emit
    for eid, r, t in zip(ids, requests, times):
        out.append(InteractionEvent(id=eid, interaction_id=r[0], at=t[0], kind=r[2], actor=r[3], details=r[4]))
        emit(InteractionEventAppended(at=t[2], interaction_id=r[0], event_id=eid, kind=r[2], actor=r[3], details=r[4]))
    return out


_dumps = json.dumps
_SQLITE_NEXT_EVENT_ID = "SELECT coalesce(max(id), 0) + 1 FROM interaction_events"
_SQLITE_INSERT_EVENTS = "INSERT INTO interaction_events (id, interaction_id, at, kind, actor, details) VALUES (?, ?, ?, ?, ?, ?)"
_PG_COPY_EVENTS = "COPY interaction_events (id, interaction_id, at, kind, actor, details) FROM STDIN"


def _pg_next_event_ids(conn: Connection) -> str:
    """The statement drawing ``n`` ids of the events' sequence (its name looked up once per connection)."""
    sql = conn.info.get("callcenter.next_event_ids")
    if sql is None:
        sequence = conn.exec_driver_sql("SELECT pg_get_serial_sequence('interaction_events', 'id')").scalar_one()
        sql = conn.info["callcenter.next_event_ids"] = (
            f"SELECT nextval('{sequence}'::regclass) FROM generate_series(1, %s)")
    return sql


def _interaction(row: Any) -> Interaction:
    m = row._mapping
    return Interaction(**{k: m[k] for k in Interaction.__dataclass_fields__ if k != "payload"}, payload=dict(m["payload"]))


def _event(row: Any) -> InteractionEvent:
    return InteractionEvent(
        id=row.id, interaction_id=row.interaction_id, at=row.at, kind=row.kind, actor=row.actor, details=dict(row.details)
    )
