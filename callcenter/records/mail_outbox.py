"""What we send and to whom: the outbox, the automatic-reply cap, bouncing addresses.

Units of work behind :class:`~callcenter.records.mail.MailStore`:

- the **outbox**: a message to send is stored with its bytes before anything is sent;
  :func:`_claim_due` leases due items to one sender, :func:`_mark_sent` and
  :func:`_mark_failed` record the outcome. A failure is retried with exponential backoff
  (:class:`Backoff`); after ``max_attempts`` (or a permanent failure) the item stays
  ``failed``, visible, and a ``mail_failed`` entry goes to the interaction's log;
- the per-address **automatic-reply count** (default at most 10 per 3 hours);
- **bouncing addresses**, marked on permanent delivery failures.

Errors: :class:`~callcenter.records.errors.NotFound` for unknown ids,
:class:`~callcenter.records.errors.InvalidInput` for bad arguments.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Sequence

from sqlalchemy import and_, bindparam, delete, func, insert, or_, select, update
from sqlalchemy.engine import Connection

from callcenter.runtime.events import DomainEvent
from callcenter.records import interactions
from callcenter.records.database import UnitOfWork
from callcenter.records.errors import InvalidInput, NotFound
from callcenter.records.mail_messages import NewMessage, _insert_message
from callcenter.records.schema import mail_auto_replies, mail_bouncing, mail_messages, mail_outbox


DEFAULT_AUTO_REPLY_CAP = 10
DEFAULT_AUTO_REPLY_WINDOW = 3 * 3600.0


@dataclass(frozen=True)
class OutboxItem:
    """A message waiting to be sent, sent, or given up on (``state``: pending, sent, failed).

    ``raw`` is the message to send as is; ``recipients`` the envelope recipients.
    """

    id: int
    message_id: int
    interaction_id: int | None
    kind: str
    envelope_from: str
    recipients: tuple[str, ...]
    state: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None
    raw: bytes


@dataclass(frozen=True)
class BouncingAddress:
    """An address a permanent delivery failure was reported for."""

    address: str
    status: str | None
    diagnostic: str | None
    count: int
    first_at: datetime
    last_at: datetime


@dataclass(frozen=True)
class MailDeliveryFailed(DomainEvent):
    """An outbox item was given up on; ``error`` is the last failure."""

    outbox_id: int
    interaction_id: int | None
    error: str


@dataclass(frozen=True)
class Backoff:
    """Retry delays: ``first`` seconds, doubling per attempt, at most ``longest``; give up
    after ``max_attempts`` attempts."""

    first: float = 60.0
    longest: float = 3600.0
    max_attempts: int = 8

    def delay(self, attempts: int) -> float:
        """Seconds to wait after the ``attempts``-th failed attempt (1-based)."""
        return min(self.first * 2 ** max(attempts - 1, 0), self.longest)


@dataclass(frozen=True)
class NewOutgoing:
    """A message to send: the message itself (``message.direction`` is ``outbound``), its
    envelope, and ``kind`` (``auto_ack``, ``closed_hours``, ``reply``...). When
    ``counts_as_auto_reply`` it counts against, and is held back by, the recipients' cap."""

    message: NewMessage
    interaction_id: int | None
    kind: str
    envelope_from: str
    recipients: tuple[str, ...]
    counts_as_auto_reply: bool = False


# Built once: each automatic reply or confirmation runs them (building costs more than running).
_AUTO_COUNT = select(func.count()).select_from(mail_auto_replies).where(
    mail_auto_replies.c.address == bindparam("address"), mail_auto_replies.c.at > bindparam("since"))
_INSERT_AUTO_REPLIES = insert(mail_auto_replies)
_INSERT_OUTBOX = insert(mail_outbox).returning(mail_outbox.c.id)


def _auto_count(conn: Connection, address: str, since: datetime) -> int:
    return conn.execute(_AUTO_COUNT, {"address": address, "since": since}).scalar_one()


def _assign(conn: Connection, uow: UnitOfWork, message_id: int, interaction_id: int, outgoing: NewOutgoing | None,
            log: tuple[str, dict[str, Any]] | None, now: datetime, cap: int, window: float) -> OutboxItem | None:
    interactions.get_interaction(conn, interaction_id)
    changed = conn.execute(update(mail_messages).where(mail_messages.c.id == message_id)
                           .values(interaction_id=interaction_id)).rowcount
    if not changed:
        raise NotFound("mail message", message_id)
    if log is not None:
        interactions.append_events(conn, uow, [(interaction_id, now, log[0], None, log[1])])
    if outgoing is None:
        return None
    return queue_capped(conn, uow, interaction_id, outgoing, now, cap, window)


def queue_capped(conn: Connection, uow: UnitOfWork, interaction_id: int, outgoing: NewOutgoing, now: datetime,
                 cap: int, window: float) -> OutboxItem | None:
    """Queue ``outgoing`` (about ``interaction_id``) in the caller's transaction; when it
    ``counts_as_auto_reply`` and a recipient already got ``cap`` automatic replies within
    ``window`` seconds, queue nothing and log ``mail_auto_reply_capped`` on the interaction.
    Returns the queued item, or None (capped)."""
    if outgoing.counts_as_auto_reply and not _count_auto_reply(conn, outgoing.recipients, now, cap, window):
        interactions.append_events(conn, uow, [(interaction_id, now, "mail_auto_reply_capped", None,
                                                {"recipients": list(outgoing.recipients)})])
        return None
    return _enqueue(conn, uow, outgoing, now)


def _count_auto_reply(conn: Connection, recipients: Sequence[str], now: datetime, cap: int, window: float) -> bool:
    since = now - timedelta(seconds=window)
    addresses = [r.lower() for r in recipients]
    if any(_auto_count(conn, a, since) >= cap for a in addresses):
        # Only an address at its cap has rows worth pruning (the count ignores expired ones).
        conn.execute(delete(mail_auto_replies).where(mail_auto_replies.c.address.in_(addresses),
                                                     mail_auto_replies.c.at <= since))
        if any(_auto_count(conn, a, since) >= cap for a in addresses):
            return False
    conn.execute(_INSERT_AUTO_REPLIES, [{"address": a, "at": now} for a in addresses])
    return True


def _enqueue(conn: Connection, uow: UnitOfWork, outgoing: NewOutgoing, now: datetime,
             read_back: bool = True) -> OutboxItem | None:
    """Store the outgoing message and its outbox row; the item (None unless ``read_back``)."""
    if not outgoing.recipients:
        raise InvalidInput("recipients", "at least one recipient is needed")
    message_row = _insert_message(conn, uow, outgoing.message, outgoing.interaction_id, now)
    outbox_id = conn.execute(_INSERT_OUTBOX, dict(
        message_id=message_row, interaction_id=outgoing.interaction_id, kind=outgoing.kind,
        envelope_from=outgoing.envelope_from, recipients=list(outgoing.recipients), state="pending", attempts=0,
        next_attempt_at=now, created_at=now)).scalar_one()
    return _outbox_item(conn, outbox_id) if read_back else None


def _outbox_query():
    return select(mail_outbox, mail_messages.c.raw).join(mail_messages, mail_messages.c.id == mail_outbox.c.message_id)


def _to_item(row: Any) -> OutboxItem:
    m = row._mapping
    return OutboxItem(**{k: m[k] for k in OutboxItem.__dataclass_fields__ if k not in ("recipients", "raw")},
                      recipients=tuple(m["recipients"]), raw=bytes(m["raw"]))


def _outbox_item(conn: Connection, outbox_id: int) -> OutboxItem:
    row = conn.execute(_outbox_query().where(mail_outbox.c.id == outbox_id)).first()
    if row is None:
        raise NotFound("outbox item", outbox_id)
    return _to_item(row)


def _claim_due(conn: Connection, uow: UnitOfWork, now: datetime, limit: int, lease: float) -> list[OutboxItem]:
    due = and_(mail_outbox.c.state == "pending", mail_outbox.c.next_attempt_at <= now,
               or_(mail_outbox.c.claimed_until.is_(None), mail_outbox.c.claimed_until <= now))
    query = select(mail_outbox.c.id).where(due).order_by(mail_outbox.c.next_attempt_at, mail_outbox.c.id).limit(limit)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    ids = list(conn.execute(query).scalars())
    if ids:
        conn.execute(update(mail_outbox).where(mail_outbox.c.id.in_(ids))
                     .values(claimed_until=now + timedelta(seconds=lease)))
    return [_to_item(r) for r in conn.execute(_outbox_query().where(mail_outbox.c.id.in_(ids)).order_by(
        mail_outbox.c.next_attempt_at, mail_outbox.c.id))] if ids else []


def _mark_sent(conn: Connection, uow: UnitOfWork, outbox_id: int, now: datetime) -> OutboxItem:
    item = _outbox_item(conn, outbox_id)
    conn.execute(update(mail_outbox).where(mail_outbox.c.id == outbox_id).values(
        state="sent", sent_at=now, attempts=item.attempts + 1, claimed_until=None, last_error=None))
    if item.interaction_id is not None:
        interactions.append_events(conn, uow, [(item.interaction_id, now, "mail_sent", None,
                                                {"outbox_id": outbox_id, "kind": item.kind})])
    return _outbox_item(conn, outbox_id)


def _mark_failed(conn: Connection, uow: UnitOfWork, outbox_id: int, error: str, permanent: bool, now: datetime,
                 backoff: Backoff) -> OutboxItem:
    item = _outbox_item(conn, outbox_id)
    attempts = item.attempts + 1
    give_up = permanent or attempts >= backoff.max_attempts
    conn.execute(update(mail_outbox).where(mail_outbox.c.id == outbox_id).values(
        attempts=attempts, last_error=error, claimed_until=None, state="failed" if give_up else "pending",
        next_attempt_at=now if give_up else now + timedelta(seconds=backoff.delay(attempts))))
    if give_up:
        if item.interaction_id is not None:
            interactions.append_events(conn, uow, [(item.interaction_id, now, "mail_failed", None,
                                                    {"outbox_id": outbox_id, "kind": item.kind, "error": error,
                                                     "attempts": attempts})])
        uow.emit(MailDeliveryFailed(at=now.timestamp(), outbox_id=outbox_id, interaction_id=item.interaction_id,
                                    error=error))
    return _outbox_item(conn, outbox_id)


def _outbox(conn: Connection, interaction_id: int | None, state: str | None) -> list[OutboxItem]:
    query = _outbox_query().order_by(mail_outbox.c.id)
    if interaction_id is not None:
        query = query.where(mail_outbox.c.interaction_id == interaction_id)
    if state is not None:
        query = query.where(mail_outbox.c.state == state)
    return [_to_item(r) for r in conn.execute(query)]


def _bouncing(conn: Connection, address: str) -> BouncingAddress | None:
    row = conn.execute(select(mail_bouncing).where(mail_bouncing.c.address == address)).first()
    return BouncingAddress(**row._mapping) if row else None


def _mark_bouncing(conn: Connection, uow: UnitOfWork, address: str, status: str | None, diagnostic: str | None,
                   now: datetime) -> BouncingAddress:
    existing = _bouncing(conn, address)
    if existing is None:
        conn.execute(insert(mail_bouncing).values(address=address, status=status, diagnostic=diagnostic, count=1,
                                                  first_at=now, last_at=now))
    else:
        conn.execute(update(mail_bouncing).where(mail_bouncing.c.address == address).values(
            status=status, diagnostic=diagnostic, count=existing.count + 1, last_at=now))
    return _bouncing(conn, address)  # type: ignore[return-value]


def _clear_bouncing(conn: Connection, uow: UnitOfWork, address: str) -> bool:
    return bool(conn.execute(delete(mail_bouncing).where(mail_bouncing.c.address == address)).rowcount)
