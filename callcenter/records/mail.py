"""MailStore: the durable half of the email channel.

What it keeps, each write one unit of work on :class:`~callcenter.records.database.Database`:

- **messages** received or sent (``mail_messages``), raw bytes always kept. Storing an
  inbound message is idempotent: its dedupe key is the SHA-256 of its Message-ID and
  content hash, so a message delivered twice (an IMAP re-fetch after a crash, an SMTP
  client retrying after a lost ``250``) is stored once. A message that could not be parsed
  is stored raw with ``unparseable`` set and its ``reason``, never dropped;
- **attachments** of a message, whose bytes are kept only under the cap the parser applied
  (``content`` None and ``skipped`` saying why otherwise);
- **threading lookups**: every Message-ID sent or received maps to its interaction, and a
  subject reference number maps to an email interaction;
- the **outbox**: a message to send is stored with its bytes before anything is sent;
  :meth:`MailStore.claim_due` leases due items to one sender, :meth:`MailStore.mark_sent`
  and :meth:`MailStore.mark_failed` record the outcome. A failure is retried with
  exponential backoff; after ``max_attempts`` (or a permanent failure) the item stays
  ``failed``, visible, and a ``mail_failed`` entry goes to the interaction's log;
- the per-address **automatic-reply count** (default at most 10 per 3 hours);
- **bouncing addresses**, marked on permanent delivery failures.

Errors: :class:`~callcenter.records.errors.NotFound` for unknown ids,
:class:`~callcenter.records.errors.InvalidInput` for bad arguments; on any error nothing
stored has changed.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Sequence

from sqlalchemy import and_, delete, func, insert, or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from callcenter.runtime.clock import Clock
from callcenter.runtime.events import DomainEvent
from callcenter.records import interactions
from callcenter.records.database import Database, UnitOfWork
from callcenter.records.errors import InvalidInput, NotFound
from callcenter.records.schema import (
    interactions as interactions_table,
    mail_attachments,
    mail_auto_replies,
    mail_bouncing,
    mail_messages,
    mail_outbox,
)

DEFAULT_AUTO_REPLY_CAP = 10
DEFAULT_AUTO_REPLY_WINDOW = 3 * 3600.0


@dataclass(frozen=True)
class NewAttachment:
    """An attachment to store with a message (``content`` None when a cap kept it out)."""

    filename: str | None
    content_type: str
    size: int
    sha256: str
    content: bytes | None
    skipped: str | None = None
    inline: bool = False
    content_id: str | None = None


@dataclass(frozen=True)
class NewMessage:
    """A message to store. ``direction`` is ``inbound`` or ``outbound``; ``details`` is a JSON
    document (parse problems, recipients, threading keys) kept as is."""

    raw: bytes
    direction: str
    message_id: str | None
    content_hash: str
    mailbox: str | None = None
    sender: str | None = None
    subject: str = ""
    body_text: str = ""
    unparseable: bool = False
    reason: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    attachments: tuple[NewAttachment, ...] = ()

    @property
    def dedupe_key(self) -> str:
        """SHA-256 hex of the Message-ID and the content hash: equal for re-deliveries."""
        return hashlib.sha256(f"{self.message_id or ''}\n{self.content_hash}".encode()).hexdigest()


@dataclass(frozen=True)
class StoredMessage:
    """A stored message without its raw bytes (see :meth:`MailStore.raw`).

    ``duplicate`` is True when :meth:`MailStore.store_message` found it already stored.
    """

    id: int
    interaction_id: int | None
    direction: str
    message_id: str | None
    content_hash: str
    mailbox: str | None
    sender: str | None
    subject: str
    body_text: str
    unparseable: bool
    reason: str | None
    details: dict[str, Any]
    created_at: datetime
    review: str | None = None
    duplicate: bool = False


@dataclass(frozen=True)
class StoredAttachment:
    """An attachment's record; ``stored`` says whether its bytes are kept."""

    id: int
    message_id: int
    filename: str | None
    content_type: str
    size: int
    sha256: str
    stored: bool
    skipped: str | None
    inline: bool
    content_id: str | None


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
class MailStored(DomainEvent):
    """A message was stored for the first time (``direction`` inbound or outbound)."""

    message_id: int
    interaction_id: int | None
    direction: str


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


class MailStore:
    """The email tables over a started :class:`Database`, time from ``clock``.

    ``auto_reply_cap`` automatic replies per address in any ``auto_reply_window`` seconds;
    ``backoff`` governs outbox retries.
    """

    def __init__(self, db: Database, clock: Clock, auto_reply_cap: int = DEFAULT_AUTO_REPLY_CAP,
                 auto_reply_window: float = DEFAULT_AUTO_REPLY_WINDOW, backoff: Backoff = Backoff()) -> None:
        if auto_reply_cap < 0 or auto_reply_window <= 0:
            raise ValueError("auto_reply_cap must be >= 0 and auto_reply_window > 0")
        self._db = db
        self._clock = clock
        self.auto_reply_cap = auto_reply_cap
        self.auto_reply_window = auto_reply_window
        self.backoff = backoff

    @property
    def database(self) -> Database:
        """The database these tables live in (the inbound flow's one-transaction writer uses it)."""
        return self._db

    # --- messages ---

    async def store_message(self, message: NewMessage, interaction_id: int | None = None) -> StoredMessage:
        """Store ``message`` (and its attachments) unless its dedupe key is already stored.

        Returns the stored message; ``duplicate`` tells a re-delivery, whose existing row
        (with the interaction it may already belong to) is returned unchanged.
        """
        if message.direction not in ("inbound", "outbound"):
            raise InvalidInput("direction", "must be inbound or outbound")
        found = await self._db.read(_by_dedupe_key, message.dedupe_key)
        if found is not None:
            return found
        try:
            return await self._db.write(_store, message, interaction_id, self._clock.utcnow())
        except IntegrityError:
            # Stored concurrently (two deliveries racing, or another node): it exists now.
            found = await self._db.read(_by_dedupe_key, message.dedupe_key)
            if found is None:
                raise
            return found

    async def assign(self, message_id: int, interaction_id: int, outgoing: "NewOutgoing | None" = None,
                     log: tuple[str, dict[str, Any]] | None = None) -> OutboxItem | None:
        """Attach stored message ``message_id`` to ``interaction_id`` in one transaction with
        the automatic reply ``outgoing`` (if any, subject to the per-address cap when
        ``outgoing.counts_as_auto_reply``) and a ``log`` entry ``(kind, details)`` on the
        interaction. Returns the queued reply, or None when there was none or the cap held
        it back. :class:`NotFound` for an unknown message or interaction.
        """
        return await self._db.write(_assign, message_id, interaction_id, outgoing, log, self._clock.utcnow(),
                                    self.auto_reply_cap, self.auto_reply_window)

    async def get_message(self, message_id: int) -> StoredMessage:
        """One stored message; :class:`NotFound` if unknown."""
        return await self._db.read(_get_message, message_id)

    async def raw(self, message_id: int) -> bytes:
        """The raw bytes of a stored message; :class:`NotFound` if unknown."""
        return await self._db.read(_raw, message_id)

    async def messages(self, interaction_id: int) -> list[StoredMessage]:
        """The messages of an interaction, received and sent, oldest first."""
        return await self._db.read(_messages, interaction_id)

    async def attachments(self, message_id: int) -> list[StoredAttachment]:
        """The attachments of a stored message, in message order."""
        return await self._db.read(_attachments, message_id)

    async def attachment_in(self, attachment_id: int, interaction_id: int) -> tuple[StoredAttachment, bytes | None]:
        """An attachment of a message of ``interaction_id`` and its bytes (None when a cap kept them
        out); :class:`NotFound` when there is no such attachment in that interaction."""
        return await self._db.read(_attachment_in, attachment_id, interaction_id)

    async def attachment_content(self, attachment_id: int) -> bytes | None:
        """The bytes of an attachment (None when a cap kept them out); :class:`NotFound` if unknown."""
        return await self._db.read(_attachment_content, attachment_id)

    async def listed(self, limit: int = 100, before: int | None = None) -> list["ListedMessage"]:
        """Inbound messages listed for an administrator (automatic mail that threads nowhere,
        delivery reports for nothing we sent), newest first, ``limit`` at most (1..500), with
        ids below ``before`` when given (the next page)."""
        if not 0 < limit <= 500:
            raise InvalidInput("limit", "must be between 1 and 500")
        return await self._db.read(_listed, limit, before)

    # --- threading ---

    async def interaction_for_message_ids(self, message_ids: Sequence[str]) -> int | None:
        """The interaction of the first of ``message_ids`` sent or received here, or None."""
        ids = [m for m in message_ids if m][:100]
        return await self._db.read(_interaction_for_ids, ids) if ids else None

    async def interaction_for_reference(self, reference: int) -> int | None:
        """``reference`` itself when it is the id of an email interaction, else None."""
        if not 0 < reference < 2**63:
            return None
        return await self._db.read(_email_interaction, reference)

    # --- outbox ---

    async def enqueue(self, outgoing: "NewOutgoing") -> OutboxItem:
        """Store the message and queue it for sending now. Its Message-ID then threads replies."""
        return await self._db.write(_enqueue, outgoing, self._clock.utcnow())

    async def claim_due(self, limit: int = 20, lease: float = 300.0) -> list[OutboxItem]:
        """Lease up to ``limit`` due pending items for ``lease`` seconds, oldest due first.

        A leased item is not claimed again until its lease ends, so a sender that died
        mid-send has its items retried later rather than lost.
        """
        return await self._db.write(_claim_due, self._clock.utcnow(), limit, lease)

    async def mark_sent(self, outbox_id: int) -> OutboxItem:
        """Record a successful send; :class:`NotFound` if unknown."""
        return await self._db.write(_mark_sent, outbox_id, self._clock.utcnow())

    async def mark_failed(self, outbox_id: int, error: str, permanent: bool = False) -> OutboxItem:
        """Record a failed attempt: retry after the backoff delay, or give up (state
        ``failed``, ``mail_failed`` logged on the interaction) when ``permanent`` or out of
        attempts. :class:`NotFound` if unknown."""
        return await self._db.write(_mark_failed, outbox_id, error[:2000], permanent, self._clock.utcnow(),
                                    self.backoff)

    async def outbox(self, interaction_id: int | None = None, state: str | None = None) -> list[OutboxItem]:
        """Outbox items, oldest first, optionally of one interaction and/or one state."""
        return await self._db.read(_outbox, interaction_id, state)

    # --- automatic replies and bounces ---

    async def auto_replies_sent(self, address: str) -> int:
        """How many automatic replies ``address`` got inside the window ending now."""
        since = self._clock.utcnow() - timedelta(seconds=self.auto_reply_window)
        return await self._db.read(_auto_count, address.lower(), since)

    async def mark_bouncing(self, address: str, status: str | None, diagnostic: str | None) -> BouncingAddress:
        """Record a permanent failure for ``address`` (counting repeats)."""
        return await self._db.write(_mark_bouncing, address.lower(), status, (diagnostic or "")[:2000] or None,
                                    self._clock.utcnow())

    async def bouncing(self, address: str) -> BouncingAddress | None:
        """The bounce record of ``address``, or None when it is not bouncing."""
        return await self._db.read(_bouncing, address.lower())

    async def clear_bouncing(self, address: str) -> bool:
        """Forget that ``address`` bounces (it was fixed); True if it was marked."""
        return await self._db.write(_clear_bouncing, address.lower())


@dataclass(frozen=True)
class ListedMessage:
    """An inbound message that reached no agent, and ``review``: why."""

    id: int
    received_at: datetime
    mailbox: str | None
    sender: str | None
    subject: str
    message_id: str | None
    review: str
    mail_from: str | None


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


# --- units of work ---

_MESSAGE_COLUMNS = [c for c in mail_messages.c if c.name != "raw"]


def _message(row: Any, duplicate: bool = False) -> StoredMessage:
    m = row._mapping
    return StoredMessage(**{k: m[k] for k in StoredMessage.__dataclass_fields__ if k not in ("duplicate", "details")},
                         details=dict(m["details"]), duplicate=duplicate)


def _by_dedupe_key(conn: Connection, key: str) -> StoredMessage | None:
    row = conn.execute(select(*_MESSAGE_COLUMNS).where(mail_messages.c.dedupe_key == key)).first()
    return _message(row, duplicate=True) if row else None


def _insert_message(conn: Connection, uow: UnitOfWork, message: NewMessage, interaction_id: int | None,
                    now: datetime) -> int:
    values = {k: getattr(message, k) for k in ("raw", "direction", "message_id", "content_hash", "mailbox", "sender",
                                               "unparseable", "reason", "details")}
    values.update(subject=message.subject[:998], body_text=message.body_text, dedupe_key=message.dedupe_key,
                  mailbox=(message.mailbox or None) and message.mailbox[:100],
                  sender=(message.sender or None) and message.sender[:320],
                  message_id=(message.message_id or None) and message.message_id[:998])
    new_id = conn.execute(insert(mail_messages).values(interaction_id=interaction_id, created_at=now, **values)
                          .returning(mail_messages.c.id)).scalar_one()
    if message.attachments:
        conn.execute(insert(mail_attachments), [
            {"message_id": new_id, "filename": (a.filename or None) and a.filename[:255],
             "content_type": a.content_type[:255], "size": a.size, "sha256": a.sha256, "content": a.content,
             "skipped": a.skipped, "inline": a.inline, "content_id": (a.content_id or None) and a.content_id[:998]}
            for a in message.attachments
        ])
    uow.emit(MailStored(at=now.timestamp(), message_id=new_id, interaction_id=interaction_id,
                        direction=message.direction))
    return new_id


def _store(conn: Connection, uow: UnitOfWork, message: NewMessage, interaction_id: int | None,
           now: datetime) -> StoredMessage:
    if interaction_id is not None:
        interactions.get_interaction(conn, interaction_id)
    return _get_message(conn, _insert_message(conn, uow, message, interaction_id, now))


def _get_message(conn: Connection, message_id: int) -> StoredMessage:
    row = conn.execute(select(*_MESSAGE_COLUMNS).where(mail_messages.c.id == message_id)).first()
    if row is None:
        raise NotFound("mail message", message_id)
    return _message(row)


def _raw(conn: Connection, message_id: int) -> bytes:
    raw = conn.execute(select(mail_messages.c.raw).where(mail_messages.c.id == message_id)).scalar()
    if raw is None:
        raise NotFound("mail message", message_id)
    return bytes(raw)


def _messages(conn: Connection, interaction_id: int) -> list[StoredMessage]:
    rows = conn.execute(select(*_MESSAGE_COLUMNS).where(mail_messages.c.interaction_id == interaction_id)
                        .order_by(mail_messages.c.id))
    return [_message(r) for r in rows]


def _attachments(conn: Connection, message_id: int) -> list[StoredAttachment]:
    rows = conn.execute(select(*[c for c in mail_attachments.c if c.name != "content"],
                               mail_attachments.c.content.is_not(None).label("stored"))
                        .where(mail_attachments.c.message_id == message_id).order_by(mail_attachments.c.id))
    return [StoredAttachment(**{k: r._mapping[k] for k in StoredAttachment.__dataclass_fields__}) for r in rows]


def _attachment_content(conn: Connection, attachment_id: int) -> bytes | None:
    row = conn.execute(select(mail_attachments.c.content).where(mail_attachments.c.id == attachment_id)).first()
    if row is None:
        raise NotFound("mail attachment", attachment_id)
    return None if row.content is None else bytes(row.content)


def _attachment_in(conn: Connection, attachment_id: int, interaction_id: int) -> tuple[StoredAttachment, bytes | None]:
    row = conn.execute(select(*[c for c in mail_attachments.c], mail_attachments.c.content.is_not(None).label("stored"))
                       .join(mail_messages, mail_messages.c.id == mail_attachments.c.message_id)
                       .where(mail_attachments.c.id == attachment_id,
                              mail_messages.c.interaction_id == interaction_id)).first()
    if row is None:
        raise NotFound("mail attachment", attachment_id)
    attachment = StoredAttachment(**{k: row._mapping[k] for k in StoredAttachment.__dataclass_fields__})
    return attachment, None if row.content is None else bytes(row.content)


def _interaction_for_ids(conn: Connection, ids: list[str]) -> int | None:
    rows = conn.execute(select(mail_messages.c.message_id, mail_messages.c.interaction_id)
                        .where(mail_messages.c.message_id.in_(ids), mail_messages.c.interaction_id.is_not(None))
                        .order_by(mail_messages.c.id.desc())).all()
    found: dict[str, int] = {}
    for mid, iid in rows:
        found.setdefault(mid, iid)
    return next((found[m] for m in ids if m in found), None)


def _email_interaction(conn: Connection, reference: int) -> int | None:
    return conn.execute(select(interactions_table.c.id).where(
        interactions_table.c.id == reference, interactions_table.c.channel == "email")).scalar()


def _auto_count(conn: Connection, address: str, since: datetime) -> int:
    return conn.execute(select(func.count()).select_from(mail_auto_replies).where(
        mail_auto_replies.c.address == address, mail_auto_replies.c.at > since)).scalar_one()


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
    conn.execute(insert(mail_auto_replies), [{"address": a, "at": now} for a in addresses])
    return True


def _enqueue(conn: Connection, uow: UnitOfWork, outgoing: NewOutgoing, now: datetime,
             read_back: bool = True) -> OutboxItem | None:
    """Store the outgoing message and its outbox row; the item (None unless ``read_back``)."""
    if not outgoing.recipients:
        raise InvalidInput("recipients", "at least one recipient is needed")
    message_row = _insert_message(conn, uow, outgoing.message, outgoing.interaction_id, now)
    outbox_id = conn.execute(insert(mail_outbox).values(
        message_id=message_row, interaction_id=outgoing.interaction_id, kind=outgoing.kind,
        envelope_from=outgoing.envelope_from, recipients=list(outgoing.recipients), state="pending", attempts=0,
        next_attempt_at=now, created_at=now).returning(mail_outbox.c.id)).scalar_one()
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


def _listed(conn: Connection, limit: int, before: int | None) -> list[ListedMessage]:
    query = (select(mail_messages.c.id, mail_messages.c.created_at, mail_messages.c.mailbox, mail_messages.c.sender,
                    mail_messages.c.subject, mail_messages.c.message_id, mail_messages.c.review,
                    mail_messages.c.details)
             .where(mail_messages.c.review.is_not(None)).order_by(mail_messages.c.id.desc()).limit(limit))
    if before is not None:
        query = query.where(mail_messages.c.id < before)
    return [ListedMessage(r.id, r.created_at, r.mailbox, r.sender, r.subject, r.message_id, r.review,
                          (r.details or {}).get("mail_from")) for r in conn.execute(query)]
