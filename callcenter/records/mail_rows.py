"""Mail rows of one write, gathered in memory and inserted one statement per table.

A group commit stores many messages at once: received mail (:mod:`callcenter.records.mail_ingest_batch`)
and the confirmations of the web forms admitted together (:func:`queue_notices`). :class:`MailRows`
collects their messages, attachments, outbox rows and automatic-reply counts, answers the
automatic-reply cap for the whole batch from one read (the replies queued earlier in the same
batch count), and writes each table once in :meth:`MailRows.flush`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Callable, Iterable, Sequence

from sqlalchemy import bindparam, delete, insert, select
from sqlalchemy.engine import Connection

from callcenter.records.database import UnitOfWork
from callcenter.records.errors import InvalidInput
from callcenter.records.interactions import append_events
from callcenter.records.mail_messages import MailStored
from callcenter.records.schema import mail_attachments, mail_auto_replies, mail_messages, mail_outbox

# Statements built once: every group commit runs them.
_AUTO_REPLIES = (select(mail_auto_replies.c.address, mail_auto_replies.c.at)
                 .where(mail_auto_replies.c.address.in_(bindparam("addresses", expanding=True)),
                        mail_auto_replies.c.at > bindparam("since")))
_MAX_MESSAGE_ID = select(mail_messages.c.id).order_by(mail_messages.c.id.desc()).limit(1)
_INSERT_MESSAGES = insert(mail_messages)
_INSERT_MESSAGES_RETURNING = insert(mail_messages).returning(mail_messages.c.id, sort_by_parameter_order=True)
_INSERT_ATTACHMENTS = insert(mail_attachments)
_INSERT_OUTBOX = insert(mail_outbox)
_INSERT_AUTO_REPLIES = insert(mail_auto_replies)
_PRUNE_AUTO_REPLIES = delete(mail_auto_replies).where(
    mail_auto_replies.c.address.in_(bindparam("addresses", expanding=True)), mail_auto_replies.c.at <= bindparam("since"))


class MailRows:
    """The mail rows of one transaction on ``conn`` (events go to ``uow``); see the module docstring."""

    def __init__(self, conn: Connection, uow: UnitOfWork) -> None:
        self.conn, self.uow = conn, uow
        self.replied: dict[str, list[datetime]] = {}
        self._messages: list[tuple[dict[str, Any], Any, dict[str, Any] | None]] = []
        self._auto_replies: list[dict[str, Any]] = []
        self._prune: dict[str, datetime] = {}

    def read_replies(self, addresses: Iterable[str], since: datetime) -> None:
        """Read the automatic replies sent to ``addresses`` (lower case) after ``since``, once for
        the batch: :meth:`may_auto_reply` reads only addresses not read here."""
        wanted = sorted({a for a in addresses if a not in self.replied})
        if not wanted:
            return
        for address in wanted:
            self.replied[address] = []
        for address, at in self.conn.execute(_AUTO_REPLIES, {"addresses": wanted, "since": since}):
            self.replied[address].append(at)

    def may_auto_reply(self, recipients: Sequence[str], now: datetime, cap: int, window: float) -> bool:
        """True, counting one more reply to each of ``recipients``, unless one of them got ``cap``
        automatic replies in the ``window`` seconds before ``now`` (then its expired rows are
        pruned by :meth:`flush`)."""
        since = now - timedelta(seconds=window)
        addresses = [r.lower() for r in recipients]
        self.read_replies(addresses, since)
        full = [a for a in addresses if sum(1 for at in self.replied[a] if at > since) >= cap]
        if full:
            # Only an address at its cap has rows worth pruning (the count ignores expired ones):
            # pruned once, at the flush, before the earliest moment any of the batch counts from.
            for a in full:
                self._prune[a] = min(since, self._prune.get(a, since))
            return False
        for a in addresses:
            self.replied[a].append(now)
            self._auto_replies.append({"address": a, "at": now})
        return True

    def message(self, message: Any, interaction_id: int | None, now: datetime,
                outbox: dict[str, Any] | None = None) -> int:
        """Gather ``message`` (a :class:`~callcenter.records.mail_messages.NewMessage`) and, with
        ``outbox``, its outbox row; a placeholder reference (negative) until :meth:`flush`."""
        row = {"raw": message.raw, "direction": message.direction, "content_hash": message.content_hash,
               "unparseable": message.unparseable, "reason": message.reason, "details": message.details,
               "subject": message.subject[:998], "body_text": message.body_text, "dedupe_key": message.dedupe_key,
               "mailbox": (message.mailbox or None) and message.mailbox[:100],
               "sender": (message.sender or None) and message.sender[:320],
               "message_id": (message.message_id or None) and message.message_id[:998],
               "interaction_id": interaction_id, "created_at": now, "review": None}
        self._messages.append((row, message, outbox))
        return -len(self._messages)

    def flush(self) -> dict[int, int]:
        """Insert what was gathered, table by table; placeholder reference -> message id."""
        conn, uow = self.conn, self.uow
        refs: dict[int, int] = {}
        if self._messages:
            rows = [row for row, _, _ in self._messages]
            if conn.dialect.name == "sqlite":
                # The write holds SQLite's lock (BEGIN IMMEDIATE, one writer): numbering here is
                # safe and lets one executemany insert them all (SQLite runs RETURNING row by row).
                first = (conn.execute(_MAX_MESSAGE_ID).scalar() or 0) + 1
                ids = list(range(first, first + len(rows)))
                conn.execute(_INSERT_MESSAGES, [{**row, "id": i} for row, i in zip(rows, ids)])
            else:
                ids = list(conn.execute(_INSERT_MESSAGES_RETURNING, rows).scalars())
            attachments, outbox = [], []
            for (row, message, out), new_id in zip(self._messages, ids):
                attachments.extend(
                    {"message_id": new_id, "filename": (a.filename or None) and a.filename[:255],
                     "content_type": a.content_type[:255], "size": a.size, "sha256": a.sha256, "content": a.content,
                     "skipped": a.skipped, "inline": a.inline,
                     "content_id": (a.content_id or None) and a.content_id[:998]}
                    for a in message.attachments)
                if out is not None:
                    outbox.append({**out, "message_id": new_id})
                uow.emit(MailStored(at=row["created_at"].timestamp(), message_id=new_id,
                                    interaction_id=row["interaction_id"], direction=row["direction"]))
            if attachments:
                conn.execute(_INSERT_ATTACHMENTS, attachments)
            if outbox:
                conn.execute(_INSERT_OUTBOX, outbox)
            refs = {-(n + 1): new_id for n, new_id in enumerate(ids)}
        if self._auto_replies:
            conn.execute(_INSERT_AUTO_REPLIES, self._auto_replies)
        if self._prune:
            conn.execute(_PRUNE_AUTO_REPLIES, {"addresses": sorted(self._prune), "since": min(self._prune.values())})
        self._messages, self._auto_replies, self._prune = [], [], {}
        return refs


def outbox_row(outgoing: Any, now: datetime) -> dict[str, Any]:
    """The outbox row of ``outgoing`` (a :class:`~callcenter.records.mail_outbox.NewOutgoing`),
    pending from ``now``, less its message id. Raises :class:`InvalidInput` without recipients."""
    if not outgoing.recipients:
        raise InvalidInput("recipients", "at least one recipient is needed")
    return {"interaction_id": outgoing.interaction_id, "kind": outgoing.kind, "envelope_from": outgoing.envelope_from,
            "recipients": list(outgoing.recipients), "state": "pending", "attempts": 0, "next_attempt_at": now,
            "created_at": now}


class QueuedNotice:
    """A message to queue in a contact's own write (an admission's ``extra``): called as
    ``(conn, uow, interaction)`` it queues ``outgoing_for(interaction)`` alone; the admissions of
    one group commit run theirs together through :attr:`run_together` (:func:`queue_notices`).
    Either way the result is True if queued, False if the automatic-reply cap held it back
    (logged on the interaction as ``mail_auto_reply_capped``)."""

    def __init__(self, outgoing_for: Callable[[Any], Any], cap: int, window: float) -> None:
        self.outgoing_for, self.cap, self.window = outgoing_for, cap, window

    def __call__(self, conn: Connection, uow: UnitOfWork, interaction: Any) -> bool:
        return queue_notices(conn, uow, [(self, interaction)])[0]

    @staticmethod
    def run_together(conn: Connection, uow: UnitOfWork, items: Sequence[tuple["QueuedNotice", Any]]) -> list[bool]:
        """The notices of several interactions of one write, in their order."""
        return queue_notices(conn, uow, items)


def queue_notices(conn: Connection, uow: UnitOfWork, items: Sequence[tuple[QueuedNotice, Any]]) -> list[bool]:
    """Queue each notice about its interaction (dated at the interaction's creation), the cap
    counting the ones queued before it; one read of the counts and one insert per table."""
    rows = MailRows(conn, uow)
    planned = [(notice, interaction, notice.outgoing_for(interaction)) for notice, interaction in items]
    capped = [(n, i, o) for n, i, o in planned if o.counts_as_auto_reply]
    if capped:
        earliest = min(i.created_at - timedelta(seconds=n.window) for n, i, _ in capped)
        rows.read_replies((r.lower() for _, _, o in capped for r in o.recipients), earliest)
    results, log = [], []
    for notice, interaction, outgoing in planned:
        now = interaction.created_at
        row = outbox_row(outgoing, now)
        if outgoing.counts_as_auto_reply and not rows.may_auto_reply(outgoing.recipients, now, notice.cap,
                                                                    notice.window):
            log.append((interaction.id, now, "mail_auto_reply_capped", None, {"recipients": list(outgoing.recipients)}))
            results.append(False)
            continue
        rows.message(outgoing.message, outgoing.interaction_id, now, outbox=row)
        results.append(True)
    rows.flush()
    if log:
        append_events(conn, uow, log)
    return results
