"""The received messages of one group commit, written together: one statement per table.

:func:`ingest_all` is the batch function :class:`~callcenter.records.mail_ingest.MailIngest`
runs in its one transaction. It gives every arrival the outcome
:func:`~callcenter.records.mail_ingest.ingest` would give it alone (same kinds, same rows,
same log), but reads what the batch needs in a few statements (the dedupe keys, the
senders' customers, the Message-IDs the messages answer and their interactions, the
bouncing addresses, the automatic-reply counts) and writes each table once (customers,
contact points, interactions, their log, the messages, attachments, the outbox, the
automatic-reply counts), instead of about twenty statements per message.

The common kinds take this path: a person's new message (``new``), a reply to open work
(``reply``) and a re-delivery (``duplicate``). The rare ones (a delivery report, automatic
mail, a reply to finished work, a subject reference only, a message an older release stored
and never handled) are written by :func:`~callcenter.records.mail_ingest.ingest` itself, in
order: what was gathered before is written first, and what follows is read again after it.

Arrivals of one batch see each other as if they came one after another: a second message of
a new sender joins the customer the first created, a reply to a message of the same batch
joins its interaction, the same message twice is one message and a duplicate, and the
automatic-reply cap counts the replies queued earlier in the batch.

If the batch meets a record error or a unique constraint (another node stored the same
message or created the same customer meanwhile), it is rolled back to its savepoint and each
arrival runs alone through :func:`~callcenter.records.mail_ingest.ingest` in its own
savepoint, so only that one gets its error.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from typing import Any, Sequence

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from callcenter.records import customers as customer_records
from callcenter.records.batching import Coalescer, each_in_savepoint
from callcenter.records.database import UnitOfWork
from callcenter.records.errors import RecordError
from callcenter.records.interactions import append_events
from callcenter.records.mail import MailStore
from callcenter.records.mail_rows import MailRows, outbox_row
from callcenter.records.mail_ingest import FINISHED, Arrival, Ingested, IngestPolicy, ingest, new_interaction_fields
from callcenter.records.model import Customer, Interaction
from callcenter.records.schema import (
    contact_points,
    customers,
    interactions,
    mail_bouncing,
    mail_messages,
)
from callcenter.runtime.clock import Clock
from callcenter.runtime.events import ContactPointAdded, CustomerCreated, CustomerUpdated, InteractionCreated

INGEST_BATCH = 200

# One request: (arrival, policy, now, cap, window, reserved interaction id, reserved customer id).
Request = tuple[Arrival, IngestPolicy, datetime, int, float, int, int]

_INTERACTION_DEFAULTS = {
    "queue": None, "agent": None, "queued_at": None, "offered_at": None, "accepted_at": None, "answered_at": None,
    "ended_at": None, "wrap_up_ended_at": None, "disposition": None, "notes": None, "subject": None,
}
# Statements built once: the batch runs them on every group commit.
_BY_KEYS = (select(mail_messages.c.id, mail_messages.c.dedupe_key, mail_messages.c.interaction_id,
                   mail_messages.c.review, mail_messages.c.unparseable)
            .where(mail_messages.c.dedupe_key.in_(bindparam("keys", expanding=True))))
_BY_MESSAGE_IDS = (select(mail_messages.c.message_id, mail_messages.c.interaction_id)
                   .where(mail_messages.c.message_id.in_(bindparam("ids", expanding=True)),
                          mail_messages.c.interaction_id.is_not(None))
                   .order_by(mail_messages.c.id.desc()))
_INTERACTIONS = select(interactions).where(interactions.c.id.in_(bindparam("ids", expanding=True)))
_BOUNCING = select(mail_bouncing.c.address).where(mail_bouncing.c.address.in_(bindparam("addresses", expanding=True)))


class MailIngest:
    """Group-commits received messages over the database of ``mail``: the arrivals pending at
    one moment share one transaction (:func:`ingest_all`). Time comes from ``clock``; the
    automatic-reply cap is ``mail``'s."""

    def __init__(self, mail: MailStore, clock: Clock, batch: int = INGEST_BATCH) -> None:
        self._db = mail.database
        self._mail = mail
        self._clock = clock
        self._batches: Coalescer[tuple] = Coalescer(self._run, batch)

    def submit(self, arrival: Arrival, policy: IngestPolicy) -> Any:
        """Handle ``arrival`` (see :func:`~callcenter.records.mail_ingest.ingest`): a Deferred.

        It fires once the transaction holding it has committed and its events were
        published, or fails with the record error or IntegrityError that arrival met alone
        (the others of its batch commit regardless), or the database's error for the batch.
        """
        return self._batches.submit((arrival, policy, self._clock.utcnow(), self._mail.auto_reply_cap,
                                     self._mail.auto_reply_window))

    async def drain(self) -> None:
        """Wait until every submitted arrival has an outcome."""
        await self._batches.drain()

    async def _run(self, requests: Sequence[tuple]) -> list[Any]:
        # Ids for the interactions and customers the batch may create, reserved here (no round
        # trip on SQLite, one per block on PostgreSQL); an unused one is a gap, not a clash.
        maybe_new = sum(1 for r in requests if not r[0].is_bounce and (r[0].automatic is None or r[0].unreadable))
        iids = await self._db.ids.take("interactions", maybe_new) if maybe_new else []
        cids = await self._db.ids.take("customers", maybe_new) if maybe_new else []
        reserved, n = [], 0
        for r in requests:
            if not r[0].is_bounce and (r[0].automatic is None or r[0].unreadable):
                reserved.append((*r, iids[n], cids[n]))
                n += 1
            else:
                reserved.append((*r, 0, 0))
        return await self._db.write(ingest_all, reserved)


def ingest_all(conn: Connection, uow: UnitOfWork, requests: Sequence[Request]) -> list[Any]:
    """One outcome per request (an :class:`Ingested`, or the error that arrival met); see the module docstring."""
    mark = len(uow.events)
    try:
        with conn.begin_nested():
            return _Batch(conn, uow).run(requests)
    except (RecordError, IntegrityError):
        del uow.events[mark:]
    return each_in_savepoint(conn, uow, ingest, [r[:5] for r in requests])


class _Batch:
    """The rows of a run of arrivals, gathered in memory and written table by table."""

    def __init__(self, conn: Connection, uow: UnitOfWork) -> None:
        self.conn, self.uow = conn, uow
        self.outcomes: list[Any] = []

    def run(self, requests: Sequence[Request]) -> list[Any]:
        start = 0
        while start < len(requests):
            stopped = _Run(self.conn, self.uow, requests[start:]).write(self.outcomes)
            start += stopped
            if start < len(requests):
                # A rare kind: written alone, after everything gathered before it.
                self.outcomes.append(ingest(self.conn, self.uow, *requests[start][:5]))
                start += 1
        return self.outcomes


class _Run:
    """Arrivals handled together until the first one that needs :func:`ingest` (see the module docstring)."""

    def __init__(self, conn: Connection, uow: UnitOfWork, requests: Sequence[Request]) -> None:
        self.conn, self.uow, self.requests = conn, uow, requests
        arrivals = [r[0] for r in requests]
        keys = sorted({a.message.dedupe_key for a in arrivals})
        self.stored = {row.dedupe_key: row for row in conn.execute(_BY_KEYS, {"keys": keys})}
        parents = sorted({p for a in arrivals for p in a.parents[:100] if p})
        self.threads: dict[str, int] = {}
        for mid, iid in conn.execute(_BY_MESSAGE_IDS, {"ids": parents}) if parents else ():
            self.threads.setdefault(mid, iid)
        wanted = set(self.threads.values()) | {r.interaction_id for r in self.stored.values() if r.interaction_id}
        self.interactions: dict[int, Interaction] = {}
        if wanted:
            self.interactions = {row.id: _interaction(row) for row in conn.execute(_INTERACTIONS, {"ids": sorted(wanted)})}
        senders = sorted({a.sender.value for a in arrivals if a.sender.value})
        found = customer_records.find_many_by_contact(conn, [("email", s) for s in senders])
        self.customers: dict[str, Customer | None] = dict(zip(senders, found))
        self.bouncing = {row.address for row in conn.execute(_BOUNCING, {"addresses": senders})} if senders else set()
        self.mail = MailRows(conn, uow)
        self.mail.read_replies(senders, min(r[2] - timedelta(seconds=r[4]) for r in requests))
        self.handled: dict[str, Ingested] = {}
        # Rows to write, table by table.
        self.new_customers: list[dict[str, Any]] = []
        self.new_points: list[dict[str, Any]] = []
        self.new_interactions: list[dict[str, Any]] = []
        self.created: list[Interaction] = []
        self.log: list[tuple] = []

    def write(self, outcomes: list[Any]) -> int:
        """Handle arrivals in order until one needs :func:`ingest`; write them; how many were handled."""
        handled: list[Ingested] = []
        for request in self.requests:
            outcome = self._one(*request)
            if outcome is None:
                break
            handled.append(outcome)
        refs = self._flush()
        # A message of this batch carries a placeholder reference until its row has its id.
        outcomes.extend(dataclasses.replace(o, message_ref=refs[o.message_ref]) if o.message_ref < 0 else o
                        for o in handled)
        return len(handled)

    # --- one arrival: decide, gather rows (None: it needs ingest) ---

    def _one(self, arrival: Arrival, policy: IngestPolicy, now: datetime, cap: int, window: float, iid: int,
             cid: int) -> Ingested | None:
        key = arrival.message.dedupe_key
        if key in self.handled:
            first = self.handled[key]
            return dataclasses.replace(first, kind="duplicate", customer=None, facts=None, match=None,
                                       queue_closed=False, acknowledged=False)
        row = self.stored.get(key)
        if row is not None:
            if row.interaction_id is None and row.review is None:
                return None  # stored by an older release and never handled
            found = self.interactions.get(row.interaction_id) if row.interaction_id is not None else None
            return Ingested(row.id, "duplicate", interaction=found, flagged=bool(row.unparseable), review=row.review)
        if arrival.is_bounce or (arrival.automatic is not None and not arrival.unreadable):
            return None
        target = None
        if not arrival.unreadable:
            target = self._thread(arrival)
            if target is None and arrival.reference is not None:
                return None  # the subject's reference is checked against the customer by ingest
            if target is not None and target.state in FINISHED:
                return None  # finished work: reopened or linked by ingest
        customer = self._identify(arrival, policy, now, cid)
        details = dict(arrival.details)
        if target is not None:
            ref = self.mail.message(arrival.message, target.id, now)
            self.log.append((target.id, now, "mail_received", None, details))
            done = Ingested(ref, "reply", interaction=target, customer=customer)
        else:
            done = self._new(arrival, policy, customer, iid, details, now, cap, window)
        self.handled[key] = done
        if arrival.message.message_id and done.interaction is not None:
            self.threads[arrival.message.message_id] = done.interaction.id  # newer than any stored
        return done

    def _thread(self, arrival: Arrival) -> Interaction | None:
        for parent in arrival.parents[:100]:
            iid = self.threads.get(parent) if parent else None
            if iid is not None:
                return self.interactions.get(iid)
        return None

    def _identify(self, arrival: Arrival, policy: IngestPolicy, now: datetime, cid: int) -> Customer:
        sender = arrival.sender
        known = self.customers.get(sender.value) if sender.value is not None else None
        if known is None:
            name = (sender.name.strip() if sender.value is not None else (sender.name or sender.raw or "").strip())[:200]
            customer = Customer(id=cid, display_name=name, tier=policy.default_tier, language=sender.language,
                                attributes={}, external_ids={}, provisional=True, created_at=now, updated_at=now,
                                contact_points=())
            self.new_customers.append({"id": cid, "display_name": name, "tier": customer.tier,
                                       "language": sender.language, "attributes": {}, "external_ids": {},
                                       "provisional": True, "merged_into": None, "created_at": now, "updated_at": now})
            if sender.value is not None:
                self.new_points.append({"customer_id": cid, "kind": "email", "value": sender.value, "created_at": now})
                self.customers[sender.value] = customer
            return customer
        changes: dict[str, Any] = {}
        if not known.display_name and sender.name.strip():
            changes["display_name"] = sender.name.strip()[:200]
        if known.language is None and sender.language:
            changes["language"] = sender.language
        if not changes:
            return known
        if any(row["id"] == known.id for row in self.new_customers):
            for row in self.new_customers:
                if row["id"] == known.id:
                    row.update(changes)
        else:
            self.conn.execute(update(customers).where(customers.c.id == known.id).values(**changes, updated_at=now))
            self.uow.emit(CustomerUpdated(at=now.timestamp(), customer_id=known.id, fields=tuple(sorted(changes))))
        changed = dataclasses.replace(known, **changes, updated_at=now)
        self.customers[sender.value] = changed
        return changed

    def _new(self, arrival: Arrival, policy: IngestPolicy, customer: Customer, iid: int, details: dict[str, Any],
             now: datetime, cap: int, window: float) -> Ingested:
        facts, match, fields, events = new_interaction_fields(arrival, policy, customer, None, now)
        row = {**_INTERACTION_DEFAULTS, **fields, "id": iid, "customer_id": customer.id, "created_at": now,
               "updated_at": now}
        interaction = Interaction(**{k: row[k] for k in Interaction.__dataclass_fields__ if k != "payload"},
                                  payload=dict(row["payload"]))
        self.new_interactions.append(row)
        self.created.append(interaction)
        self.interactions[iid] = interaction
        self.log.append((iid, now, "created", None, {"state": row["state"]}))
        self.log.extend((iid, now, kind, actor, dict(details)) for kind, actor, details in events)
        closed = not policy.queue_open(interaction.queue, now)
        ref = self.mail.message(arrival.message, iid, now)
        acknowledged = False
        address = arrival.sender.value
        if arrival.unreadable:
            details["auto_ack"] = "not sent: the message could not be read"
        elif address is None:
            details["auto_ack"] = "not sent: the sender has no usable address"
        elif address in self.bouncing:
            details["auto_ack"] = "not sent: the address is bouncing"
        else:
            ack = policy.acknowledgement(arrival, customer, interaction, closed)
            if ack.outgoing is None:
                details["auto_ack"] = f"not sent: {ack.note}"
            elif not self.mail.may_auto_reply(ack.outgoing.recipients, now, cap, window):
                details["auto_ack"] = f"not sent: the address got {cap} automatic replies already"
            else:
                if not ack.outgoing.recipients:
                    raise RecordError("an acknowledgement without recipients")
                self.mail.message(ack.outgoing.message, iid, now, outbox=outbox_row(ack.outgoing, now))
                details["auto_ack"] = f"queued: {ack.note}"
                acknowledged = True
        self.log.append((iid, now, "mail_received", None, details))
        return Ingested(ref, "new", interaction=interaction, customer=customer, facts=facts, match=match,
                        queue_closed=closed, acknowledged=acknowledged, flagged=arrival.unreadable)

    # --- writing ---

    def _flush(self) -> dict[int, int]:
        """Write every gathered row, table by table; placeholder reference -> message id."""
        conn, uow = self.conn, self.uow
        if self.new_customers:
            conn.execute(insert(customers), self.new_customers)
            for row in self.new_customers:
                uow.emit(CustomerCreated(at=row["created_at"].timestamp(), customer_id=row["id"], provisional=True))
        if self.new_points:
            conn.execute(insert(contact_points), self.new_points)
            for row in self.new_points:
                uow.emit(ContactPointAdded(at=row["created_at"].timestamp(), customer_id=row["customer_id"],
                                           kind=row["kind"], value=row["value"]))
        if self.new_interactions:
            conn.execute(insert(interactions), self.new_interactions)
            for created in self.created:
                uow.emit(InteractionCreated(at=created.created_at.timestamp(), interaction_id=created.id,
                                            customer_id=created.customer_id, channel=created.channel,
                                            direction=created.direction, state=created.state, interaction=created))
        refs = self.mail.flush()
        if self.log:
            append_events(conn, uow, self.log)
        return refs


def _interaction(row: Any) -> Interaction:
    m = row._mapping
    return Interaction(**{k: m[k] for k in Interaction.__dataclass_fields__ if k != "payload"},
                       payload=dict(m["payload"]))
