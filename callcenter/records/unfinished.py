"""Reads for the rebuild on start: every unfinished interaction, in bulk, as plain tuples.

The routing core is an index of the record; after a restart :mod:`callcenter.dispatch.recovery` rebuilds
it from what these functions return. They run on a database thread inside the read
transaction the database opened (``await db.read(fn, ...)``) and are built for volume: one
query each, only the columns routing needs, JSON fields picked out by the database, and
timestamps as epoch seconds, so 100,000 waiting contacts cost one pass over plain tuples rather
than 100,000 ORM objects.

A waiting interaction's place in line is its ``queued_at``: the switchboard stamps it in the
same turn of the reactor as it takes the virtual start (microseconds apart, in the same order),
and a transfer keeps both. Where it stands
now (queue, priority) follows the supervisor moves, overflows and priority changes in its
event log, which :func:`queue_changes` reads.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any, NamedTuple

from sqlalchemy import String, and_, func, or_, select, type_coerce
from sqlalchemy.engine import Connection

from callcenter.records.interactions import _interaction
from callcenter.records.model import Interaction
from callcenter.records.schema import customers, interaction_events, interactions, mail_messages

FINAL = ("completed", "abandoned", "unhandled")
# Event kinds that change where waiting work stands without touching the interaction's row.
PLACE_EVENTS = ("moved", "overflowed", "priority_changed")


class Unfinished(NamedTuple):
    """One interaction not in a final state, with what routing needs (times: epoch seconds)."""

    id: int
    customer_id: int
    channel: str
    state: str
    queue: str | None
    agent: str | None
    created_at: float
    queued_at: float | None
    accepted_at: float | None
    ended_at: float | None
    rule: str | None          # payload.routing: the rule that matched, its priority and tier
    priority: int | None
    tier: str | None
    language: str | None      # payload.language (forms), else the customer's
    form: str | None          # payload.form (forms)
    customer_tier: str
    customer_attributes: Any  # a dict, or its JSON text (decoded by the caller, only when needed)


@dataclass(frozen=True)
class PlaceChange:
    """Where work stands after its latest moves: ``queue`` (entered at ``since``), ``priority``, and
    the ``rule`` that queued it when only the log names it."""

    queue: str | None
    since: float | None
    priority: int | None
    rule: str | None = None


@dataclass(frozen=True)
class StoredInbound:
    """An inbound message stored without an interaction, enough to hand it to the mail flow again."""

    id: int
    raw: bytes
    mailbox: str | None
    details: dict[str, Any]
    received_at: float


def unfinished_interactions(conn: Connection, channels: tuple[str, ...] | None = None,
                            exclude_channels: tuple[str, ...] = ()) -> list[Unfinished]:
    """Every interaction not completed, abandoned or unhandled, by id, as :class:`Unfinished`.

    ``channels`` keeps only those channels; ``exclude_channels`` drops some.
    """
    i, c = interactions, customers
    routing = i.c.payload
    query = (
        select(i.c.id, i.c.customer_id, i.c.channel, i.c.state, i.c.queue, i.c.agent,
               _epoch(conn, i.c.created_at), _epoch(conn, i.c.queued_at), _epoch(conn, i.c.accepted_at),
               _epoch(conn, i.c.ended_at),
               routing[("routing", "rule")].as_string(), routing[("routing", "priority")].as_integer(),
               routing[("routing", "tier")].as_string(), routing[("language",)].as_string(),
               routing[("form",)].as_string(), c.c.tier, c.c.language, type_coerce(c.c.attributes, String))
        .join(c, c.c.id == i.c.customer_id)
        .where(i.c.state.not_in(FINAL))
        .order_by(i.c.id)
    )
    if channels is not None:
        query = query.where(i.c.channel.in_(channels))
    if exclude_channels:
        query = query.where(i.c.channel.not_in(exclude_channels))
    out = []
    for (iid, customer_id, channel, state, queue, agent, created, queued, accepted, ended, rule, priority, tier,
         language, form, customer_tier, customer_language, attributes) in conn.execute(query):
        out.append(Unfinished(iid, customer_id, channel, state, queue, agent, _seconds(created), _seconds(queued),
                              _seconds(accepted), _seconds(ended), rule, priority, tier, language or customer_language,
                              form, customer_tier, attributes))
    return out


def unfinished_records(conn: Connection, channels: tuple[str, ...]) -> list[Interaction]:
    """The full records of the unfinished interactions of ``channels`` (few: calls in progress), by id."""
    rows = conn.execute(select(interactions).where(interactions.c.state.not_in(FINAL),
                                                   interactions.c.channel.in_(channels))
                        .order_by(interactions.c.id)).all()
    return [_interaction(r) for r in rows]


def queue_changes(conn: Connection) -> dict[int, PlaceChange]:
    """Per waiting or held interaction (or one in wrap-up) with moves in its log, where it stands now.

    Moves, overflows and priority changes are read for all of them; for one whose row names
    no queue (a form: its flow logs the queue only), so are its state changes, which name the
    queue (and, when it was queued, the rule).
    """
    e, i = interaction_events, interactions
    rows = conn.execute(
        select(e.c.interaction_id, e.c.kind, _epoch(conn, e.c.at), e.c.details)
        .join(i, i.c.id == e.c.interaction_id)
        .where(i.c.state.in_(("queued", "offered", "accepted", "connected", "wrap_up")),
               or_(e.c.kind.in_(PLACE_EVENTS), and_(e.c.kind == "state", i.c.queue.is_(None))))
        .order_by(e.c.id)
    ).all()
    out: dict[int, PlaceChange] = {}
    for iid, kind, at, details in rows:
        was = out.get(iid, PlaceChange(None, None, None, None))
        if kind == "priority_changed":
            out[iid] = replace(was, priority=int(details["priority"]))
        elif kind == "state":
            out[iid] = replace(was, queue=details.get("queue") or was.queue, rule=details.get("rule") or was.rule)
        else:
            out[iid] = replace(was, queue=details.get("queue") if kind == "moved" else details.get("target"),
                               since=_seconds(at))
    return out


def inbound_without_interaction(conn: Connection, since: datetime | None) -> list[StoredInbound]:
    """Received messages (parseable, with a sender) never assigned to an interaction, stored at
    or after ``since`` (None: ever), oldest first: a crash between storing and assigning."""
    m = mail_messages
    query = (select(m.c.id, m.c.raw, m.c.mailbox, m.c.details, _epoch(conn, m.c.created_at))
             .where(m.c.direction == "inbound", m.c.interaction_id.is_(None), m.c.unparseable.is_(False),
                    m.c.sender.is_not(None))
             .order_by(m.c.id))
    if since is not None:
        query = query.where(m.c.created_at >= since)
    return [StoredInbound(mid, bytes(raw), mailbox, dict(details), _seconds(at))
            for mid, raw, mailbox, details, at in conn.execute(query)]


def _epoch(conn: Connection, column: Any) -> Any:
    """The timestamp column as something :func:`_seconds` turns into epoch seconds cheaply.

    SQLite keeps ``YYYY-MM-DD HH:MM:SS.ffffff`` text in UTC: read as text and parsed by
    ``datetime.fromisoformat`` (far cheaper than the generic result processor); PostgreSQL
    computes the epoch itself.
    """
    if conn.dialect.name == "sqlite":
        return type_coerce(column, String)
    return func.extract("epoch", column)


def _seconds(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, str):
        return datetime.fromisoformat(value).replace(tzinfo=timezone.utc).timestamp()
    return float(value)

