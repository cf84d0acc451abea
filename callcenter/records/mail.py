"""MailStore: the durable half of the email channel, its API for the rest of the server.

Each method is one unit of work on :class:`~callcenter.records.database.Database`, over the
messages (:mod:`callcenter.records.mail_messages`: stored idempotently, raw bytes always
kept, attachments, threading lookups, the review list) and what we send
(:mod:`callcenter.records.mail_outbox`: the outbox with its leases and retries, the
per-address automatic-reply cap, bouncing addresses).

Errors: :class:`~callcenter.records.errors.NotFound` for unknown ids,
:class:`~callcenter.records.errors.InvalidInput` for bad arguments; on any error nothing
stored has changed.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Callable, Sequence

from sqlalchemy.exc import IntegrityError

from callcenter.runtime.clock import Clock
from callcenter.records.database import Database
from callcenter.records.errors import InvalidInput
from callcenter.records.mail_messages import (
    ListedMessage,
    NewMessage,
    StoredAttachment,
    StoredMessage,
    _attachment_content,
    _attachment_in,
    _attachments,
    _by_dedupe_key,
    _email_interaction,
    _get_message,
    _interaction_for_ids,
    _listed,
    _messages,
    _raw,
    _store,
)
from callcenter.records.mail_rows import QueuedNotice
from callcenter.records.mail_outbox import (
    DEFAULT_AUTO_REPLY_CAP,
    DEFAULT_AUTO_REPLY_WINDOW,
    Backoff,
    BouncingAddress,
    NewOutgoing,
    OutboxItem,
    _assign,
    _auto_count,
    _bouncing,
    _claim_due,
    _clear_bouncing,
    _enqueue,
    _mark_bouncing,
    _mark_failed,
    _mark_sent,
    _outbox,
)


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

    async def assign(self, message_id: int, interaction_id: int, outgoing: NewOutgoing | None = None,
                     log: tuple[str, dict[str, Any]] | None = None) -> OutboxItem | None:
        """Attach stored message ``message_id`` to ``interaction_id`` in one transaction with
        the automatic reply ``outgoing`` (if any, subject to the per-address cap when
        ``outgoing.counts_as_auto_reply``) and a ``log`` entry ``(kind, details)`` on the
        interaction. Returns the queued reply, or None when there was none or the cap held
        it back. :class:`NotFound` for an unknown message or interaction.
        """
        return await self._db.write(_assign, message_id, interaction_id, outgoing, log, self._clock.utcnow(),
                                    self.auto_reply_cap, self.auto_reply_window)

    def queue_in_write(self, outgoing_for: Callable[[Any], NewOutgoing]) -> QueuedNotice:
        """A unit of work for a contact's own write (an admission's ``extra``): queue the message
        ``outgoing_for(interaction)`` in that transaction, subject to the per-address cap (see
        :meth:`assign`). Called as ``(conn, uow, interaction)``; True if queued, False if the cap
        held it back (logged on the interaction). Nothing is queued if that write fails. The
        admissions of one group commit queue theirs together (:class:`~callcenter.records.mail_rows.QueuedNotice`)."""
        return QueuedNotice(outgoing_for, self.auto_reply_cap, self.auto_reply_window)

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

    async def listed(self, limit: int = 100, before: int | None = None) -> list[ListedMessage]:
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

    async def enqueue(self, outgoing: NewOutgoing) -> OutboxItem:
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
