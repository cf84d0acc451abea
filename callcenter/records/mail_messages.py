"""Stored mail messages: received and sent, with attachments, threading lookups and the review list.

Units of work (``fn(conn, ...)`` readers, ``fn(conn, uow, ...)`` writers) behind
:class:`~callcenter.records.mail.MailStore`:

- **messages** received or sent (``mail_messages``), raw bytes always kept. Storing an
  inbound message is idempotent: its dedupe key is the SHA-256 of its Message-ID and
  content hash, so a message delivered twice (an IMAP re-fetch after a crash, an SMTP
  client retrying after a lost ``250``) is stored once. A message that could not be parsed
  is stored raw with ``unparseable`` set and its ``reason``, never dropped;
- **attachments** of a message, whose bytes are kept only under the cap the parser applied
  (``content`` None and ``skipped`` saying why otherwise);
- **threading lookups**: every Message-ID sent or received maps to its interaction, and a
  subject reference number maps to an email interaction;
- the **listing** of inbound messages that reached no agent, for an administrator.

Errors: :class:`~callcenter.records.errors.NotFound` for unknown ids.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.engine import Connection

from callcenter.runtime.events import DomainEvent
from callcenter.records import interactions
from callcenter.records.database import UnitOfWork
from callcenter.records.errors import NotFound
from callcenter.records.schema import interactions as interactions_table, mail_attachments, mail_messages


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
class MailStored(DomainEvent):
    """A message was stored for the first time (``direction`` inbound or outbound)."""

    message_id: int
    interaction_id: int | None
    direction: str


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


_MESSAGE_COLUMNS = [c for c in mail_messages.c if c.name != "raw"]


def _message(row: Any, duplicate: bool = False) -> StoredMessage:
    m = row._mapping
    return StoredMessage(**{k: m[k] for k in StoredMessage.__dataclass_fields__ if k not in ("duplicate", "details")},
                         details=dict(m["details"]), duplicate=duplicate)


def _by_dedupe_key(conn: Connection, key: str) -> StoredMessage | None:
    row = conn.execute(select(*_MESSAGE_COLUMNS).where(mail_messages.c.dedupe_key == key)).first()
    return _message(row, duplicate=True) if row else None


# Built once: every message stored or sent goes through them (building costs more than running).
_INSERT_MESSAGE = insert(mail_messages).returning(mail_messages.c.id)
_INSERT_ATTACHMENTS = insert(mail_attachments)


def _insert_message(conn: Connection, uow: UnitOfWork, message: NewMessage, interaction_id: int | None,
                    now: datetime) -> int:
    values = {k: getattr(message, k) for k in ("raw", "direction", "message_id", "content_hash", "mailbox", "sender",
                                               "unparseable", "reason", "details")}
    values.update(subject=message.subject[:998], body_text=message.body_text, dedupe_key=message.dedupe_key,
                  mailbox=(message.mailbox or None) and message.mailbox[:100],
                  sender=(message.sender or None) and message.sender[:320],
                  message_id=(message.message_id or None) and message.message_id[:998])
    new_id = conn.execute(_INSERT_MESSAGE, {"interaction_id": interaction_id, "created_at": now, **values}).scalar_one()
    if message.attachments:
        conn.execute(_INSERT_ATTACHMENTS, [
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


def _listed(conn: Connection, limit: int, before: int | None) -> list[ListedMessage]:
    query = (select(mail_messages.c.id, mail_messages.c.created_at, mail_messages.c.mailbox, mail_messages.c.sender,
                    mail_messages.c.subject, mail_messages.c.message_id, mail_messages.c.review,
                    mail_messages.c.details)
             .where(mail_messages.c.review.is_not(None)).order_by(mail_messages.c.id.desc()).limit(limit))
    if before is not None:
        query = query.where(mail_messages.c.id < before)
    return [ListedMessage(r.id, r.created_at, r.mailbox, r.sender, r.subject, r.message_id, r.review,
                          (r.details or {}).get("mail_from")) for r in conn.execute(query)]
