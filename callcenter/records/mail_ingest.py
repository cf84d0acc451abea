"""One received message, one transaction: the write half of the inbound email flow.

:func:`ingest` is the unit of work for one :class:`Arrival` (a message already parsed and
checked on the reactor thread, with every decision that needs no stored row taken). In one
transaction it stores the message (idempotent on its dedupe key), finds or creates the
customer, threads the message to an interaction or creates one, appends the log entries,
and queues the automatic acknowledgement in the outbox under the per-address cap.
:mod:`callcenter.records.mail_ingest_batch` group-commits concurrent arrivals and writes the
common kinds of a batch together, with the outcome this function gives each alone.

What becomes of a message (:attr:`Ingested.kind`):

- ``duplicate``: already stored and handled (a client retrying after a lost ``250``, an
  IMAP re-fetch); nothing is written. A message stored by an older release and never
  handled (a crash between its separate writes) is handled now, once;
- ``bounce``: a delivery report whose original Message-ID is a message **we sent**. Its
  permanently failed recipients that the original was sent to are marked bouncing, and the
  report joins that message's interaction. A report naming anything else marks nothing and
  is ``listed``;
- ``listed``: automatic mail (the loop guard's reason in :attr:`Arrival.automatic`) that
  threads to no interaction, or a delivery report matching nothing we sent. It reaches no
  agent and gets no answer; :attr:`mail_messages.review` says why and the administrator's
  listing shows it;
- ``attached``: automatic mail that threads to an interaction joins it quietly (no
  acknowledgement, no reopening, nobody told);
- ``reply``: a person's message to an open interaction;
- ``reopened``: a person's message to finished work that the policy reopens (its old
  disposition is cleared, it goes back to ``queued``);
- ``new``: a new interaction, stored already queued (``queued_at``, its ``routed`` log entry:
  the routing step after the commit writes nothing more), for a person's message, an
  unreadable one (in the policy's unreadable queue, ``payload["unreadable"]`` set, the raw
  message kept), or one whose sender has no usable address (an anonymous provisional customer).

The sender becomes the customer of the email contact point :attr:`Sender.value`; when
there is none (no ``From:``, an address the record cannot hold) a provisional customer with
no contact point and the display name (or the raw address) as name. A customer without a
name gets the ``From:`` display name; one without a language gets the message's.

The callbacks of :class:`IngestPolicy` run on the database thread inside the transaction:
they must be pure (rule matching, opening hours, template rendering), never I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Mapping, Protocol

from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from callcenter.dispatch.lifecycle import FINAL_STATES, Step, can, transition
from callcenter.records import customers, interactions
from callcenter.records.database import UnitOfWork
from callcenter.records.mail_messages import NewMessage, _email_interaction, _insert_message, _interaction_for_ids
from callcenter.records.mail_outbox import NewOutgoing, _bouncing, _count_auto_reply, _enqueue, _mark_bouncing
from callcenter.records.model import Customer, Interaction
from callcenter.records.schema import mail_messages

#: States of finished work: a reply to it reopens it or starts a new, linked interaction.
FINISHED = frozenset(s.value for s in FINAL_STATES)


@dataclass(frozen=True)
class Sender:
    """Who wrote: ``value`` the normalized address (None when there is no usable one),
    ``name`` the display name, ``raw`` the address as written, ``language`` the message's."""

    value: str | None
    name: str = ""
    raw: str | None = None
    language: str | None = None


@dataclass(frozen=True)
class BouncedAddress:
    """A recipient a delivery report names."""

    address: str
    status: str | None
    diagnostic: str | None
    permanent: bool


@dataclass(frozen=True)
class Arrival:
    """A received message with what the pure steps found.

    ``parents``: Message-IDs it answers (In-Reply-To, References); ``reference``: the
    ``[#CC-n]`` number in its subject; ``bounce``: the original Message-ID and recipients
    of a delivery report (``bounce_original`` may be None); ``automatic``: why the loop
    guard says it is automatic, or None for a person's message; ``unreadable``: the parser
    gave up (kept raw). ``facts`` are the routing facts that do not depend on the customer;
    ``details`` the ``mail_received`` log entry; ``payload`` the new interaction's payload.
    """

    message: NewMessage
    sender: Sender
    mailbox: str
    parents: tuple[str, ...] = ()
    reference: int | None = None
    is_bounce: bool = False
    bounce_original: str | None = None
    bounced: tuple[BouncedAddress, ...] = ()
    automatic: str | None = None
    unreadable: bool = False
    subject: str = ""
    facts: Mapping[str, Any] = field(default_factory=dict)
    details: Mapping[str, Any] = field(default_factory=dict)
    payload: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Acknowledgement:
    """The policy's answer on an automatic reply: the message to queue, or None and why not."""

    outgoing: NewOutgoing | None
    note: str


class IngestPolicy(Protocol):
    """The decisions :func:`ingest` asks for; pure functions, called inside the transaction."""

    closed_policy: str
    default_tier: str
    unreadable_queue: str | None

    def route(self, facts: Mapping[str, Any]) -> Any:
        """The RuleMatch for ``facts`` (its ``queue``, ``rule``, ``priority``, ``tier``)."""

    def queue_open(self, queue: str, now: datetime) -> bool:
        """Whether ``queue`` is open at ``now``."""

    def placement(self, match: Any, now: datetime, queue: str) -> Any:
        """Where a new interaction ``match`` sends to ``queue`` stands before routing: its
        ``fields`` (``state``, ``queued_at``) and the log ``events`` after ``created``
        (:func:`callcenter.intake.pipeline.placement`)."""

    def acknowledgement(self, arrival: Arrival, customer: Customer, interaction: Interaction,
                        queue_closed: bool) -> Acknowledgement:
        """The automatic reply to queue for a new interaction (never raises)."""


@dataclass(frozen=True)
class Ingested:
    """What :func:`ingest` did (see the module docstring for ``kind``).

    ``facts``/``match``/``queue_closed`` are the routing input of a ``new`` or ``reopened``
    interaction; ``acknowledged`` whether an automatic reply was queued; ``flagged`` whether
    the message is unreadable; ``review`` why a ``listed`` message reached nobody.
    """

    message_ref: int
    kind: str
    interaction: Interaction | None = None
    customer: Customer | None = None
    facts: Mapping[str, Any] | None = None
    match: Any = None
    queue_closed: bool = False
    acknowledged: bool = False
    flagged: bool = False
    review: str | None = None


def ingest(conn: Connection, uow: UnitOfWork, arrival: Arrival, policy: IngestPolicy, now: datetime, cap: int,
           window: float) -> Ingested:
    """Store and place one arrival (see the module docstring); runs inside the caller's transaction."""
    message = arrival.message
    row = conn.execute(select(mail_messages.c.id, mail_messages.c.interaction_id, mail_messages.c.review,
                              mail_messages.c.unparseable)
                       .where(mail_messages.c.dedupe_key == message.dedupe_key)).first()
    if row is not None and (row.interaction_id is not None or row.review is not None):
        found = interactions.get_interaction(conn, row.interaction_id) if row.interaction_id is not None else None
        return Ingested(row.id, "duplicate", interaction=found, flagged=bool(row.unparseable), review=row.review)
    ref = row.id if row is not None else _insert_message(conn, uow, message, None, now)
    if arrival.is_bounce:
        return _bounce(conn, uow, arrival, ref, now)
    if arrival.automatic is not None and not arrival.unreadable:
        return _automatic(conn, uow, arrival, ref, now)
    customer = _identify(conn, uow, arrival.sender, policy.default_tier, now)
    target, linked = (None, None) if arrival.unreadable else _thread(conn, arrival, customer)
    details = dict(arrival.details)
    if target is not None and target.state not in FINISHED:
        _attach(conn, uow, ref, target.id, "mail_received", details, now)
        return Ingested(ref, "reply", interaction=target, customer=customer)
    if target is not None and policy.closed_policy == "reopen" and can(target.state, Step.REOPEN):
        reopened = _reopen(conn, uow, target, now)
        _attach(conn, uow, ref, reopened.id, "mail_received", details, now)
        facts = _facts(arrival, customer)
        match = policy.route(facts)
        return Ingested(ref, "reopened", interaction=reopened, customer=customer, facts=facts, match=match,
                        queue_closed=not policy.queue_open(reopened.queue or match.queue, now))
    if target is not None:
        linked = target.id
    return _new(conn, uow, arrival, policy, customer, ref, linked, details, now, cap, window)


def _bounce(conn: Connection, uow: UnitOfWork, arrival: Arrival, ref: int, now: datetime) -> Ingested:
    """A delivery report: it counts only against a message we sent (a forged one marks nobody)."""
    original = None
    if arrival.bounce_original:
        original = conn.execute(select(mail_messages.c.interaction_id, mail_messages.c.details)
                                .where(mail_messages.c.message_id == arrival.bounce_original,
                                       mail_messages.c.direction == "outbound")
                                .order_by(mail_messages.c.id.desc())).first()
    if original is None:
        why = ("a delivery report for a message we did not send" if arrival.bounce_original
               else "a delivery report that names no message")
        return _list(conn, ref, why)
    sent_to = {a.lower() for a in (original.details or {}).get("to") or ()}
    marked = []
    for bounced in arrival.bounced:
        if bounced.permanent and bounced.address.lower() in sent_to:
            _mark_bouncing(conn, uow, bounced.address.lower(), bounced.status,
                           (bounced.diagnostic or "")[:2000] or None, now)
            marked.append(bounced.address.lower())
    if original.interaction_id is None:
        return _list(conn, ref, "a delivery report for a notice of ours (no interaction)")
    _attach(conn, uow, ref, original.interaction_id, "mail_bounced", {
        "permanent": any(b.permanent for b in arrival.bounced), "addresses": [b.address for b in arrival.bounced],
        "statuses": [b.status for b in arrival.bounced], "marked_bouncing": marked, "message_ref": ref}, now)
    return Ingested(ref, "bounce", interaction=interactions.get_interaction(conn, original.interaction_id))


def _automatic(conn: Connection, uow: UnitOfWork, arrival: Arrival, ref: int, now: datetime) -> Ingested:
    """Automatic mail joins the interaction it threads to, quietly; otherwise it is listed."""
    known = customers.find_by_contact(conn, "email", arrival.sender.value) if arrival.sender.value else None
    target, _ = _thread(conn, arrival, known)
    if target is None:
        return _list(conn, ref, f"automatic mail: {arrival.automatic}"[:300])
    _attach(conn, uow, ref, target.id, "mail_received", {**arrival.details, "automatic": arrival.automatic}, now)
    return Ingested(ref, "attached", interaction=target, customer=known)


def _list(conn: Connection, ref: int, why: str) -> Ingested:
    conn.execute(update(mail_messages).where(mail_messages.c.id == ref).values(review=why[:300]))
    return Ingested(ref, "listed", review=why[:300])


def _identify(conn: Connection, uow: UnitOfWork, sender: Sender, tier: str, now: datetime) -> Customer:
    """The sender's customer (found or created); fills in a missing name and language."""
    if sender.value is None:
        name = (sender.name or sender.raw or "").strip()[:200]
        return customers.create_customer(conn, uow, dict(display_name=name, tier=tier, provisional=True,
                                                         language=sender.language), [], now)
    customer = customers.find_by_contact(conn, "email", sender.value)
    if customer is None:
        return customers.create_customer(conn, uow, dict(display_name=sender.name.strip()[:200], tier=tier,
                                                         provisional=True, language=sender.language),
                                         [("email", sender.value)], now)
    changes: dict[str, Any] = {}
    if not customer.display_name and sender.name.strip():
        changes["display_name"] = sender.name.strip()[:200]
    if customer.language is None and sender.language:
        changes["language"] = sender.language
    return customers.update_customer(conn, uow, customer.id, changes, now) if changes else customer


def _thread(conn: Connection, arrival: Arrival, customer: Customer | None) -> tuple[Interaction | None, int | None]:
    """The interaction the message belongs to (or None), and one to link a new one to.

    Headers first (any Message-ID sent or received here); then the subject's reference,
    honoured only for the same customer so a stranger cannot write into someone else's case.
    """
    parents = [p for p in arrival.parents if p][:100]
    iid = _interaction_for_ids(conn, parents) if parents else None
    if iid is not None:
        return interactions.get_interaction(conn, iid), None
    if arrival.reference is None or not 0 < arrival.reference < 2**63:
        return None, None
    tagged_id = _email_interaction(conn, arrival.reference)
    if tagged_id is None:
        return None, None
    tagged = interactions.get_interaction(conn, tagged_id)
    if customer is not None and customers.resolve_id(conn, tagged.customer_id) == customer.id:
        return tagged, None
    return None, tagged.id


def _reopen(conn: Connection, uow: UnitOfWork, interaction: Interaction, now: datetime) -> Interaction:
    """Back in line: the lifecycle's reopen step, with the old outcome cleared."""
    step = transition(interaction.state, Step.REOPEN)
    fields: dict[str, Any] = {"disposition": None}
    if step.stamp:
        fields[step.stamp] = now
    return interactions.update_interaction_state(
        conn, uow, interaction.id, step.state.value, now, None,
        {"step": Step.REOPEN.value, "reason": "customer_reply",
         **({"previous_disposition": interaction.disposition} if interaction.disposition else {})}, fields)


def _facts(arrival: Arrival, customer: Customer) -> dict[str, Any]:
    return {**arrival.facts, "tier": customer.tier, "attributes": dict(customer.attributes),
            "language": customer.language}


def new_interaction_fields(arrival: Arrival, policy: IngestPolicy, customer: Customer, linked: int | None,
                           now: datetime) -> tuple[dict[str, Any], Any, dict[str, Any], tuple[Any, ...]]:
    """``(facts, match, fields, events)`` of a new email interaction: what the rules saw and
    said, its columns and its log entries after ``created``. It is stored already queued, with
    its ``routed`` entry, as every channel's contact is: routing it writes nothing more."""
    facts = _facts(arrival, customer)
    match = policy.route(facts)
    queue = (policy.unreadable_queue or match.queue) if arrival.unreadable else match.queue
    placed = policy.placement(match, now, queue)
    payload: dict[str, Any] = {**arrival.payload,
                               "routing": {"rule": match.rule, "priority": match.priority, "tier": match.tier}}
    if linked is not None:
        payload["linked_to"] = linked
    fields = {"channel": "email", "direction": "inbound", "queue": queue, "subject": arrival.subject[:998],
              "payload": payload, **placed.fields}
    return facts, match, fields, tuple(placed.events)


def _new(conn: Connection, uow: UnitOfWork, arrival: Arrival, policy: IngestPolicy, customer: Customer, ref: int,
         linked: int | None, details: dict[str, Any], now: datetime, cap: int, window: float) -> Ingested:
    facts, match, fields, events = new_interaction_fields(arrival, policy, customer, linked, now)
    queue = fields["queue"]
    interaction = interactions.create_interaction(conn, uow, customer.id, fields, None, now)
    if events:
        interactions.append_events(conn, uow, [(interaction.id, now, kind, actor, dict(details))
                                               for kind, actor, details in events])
    closed = not policy.queue_open(queue, now)
    acknowledged = False
    if arrival.unreadable:
        details["auto_ack"] = "not sent: the message could not be read"
    elif arrival.sender.value is None:
        details["auto_ack"] = "not sent: the sender has no usable address"
    elif _bouncing(conn, arrival.sender.value) is not None:
        details["auto_ack"] = "not sent: the address is bouncing"
    else:
        ack = policy.acknowledgement(arrival, customer, interaction, closed)
        if ack.outgoing is None:
            details["auto_ack"] = f"not sent: {ack.note}"
        elif not _count_auto_reply(conn, ack.outgoing.recipients, now, cap, window):
            details["auto_ack"] = f"not sent: the address got {cap} automatic replies already"
        else:
            _enqueue(conn, uow, ack.outgoing, now, read_back=False)
            details["auto_ack"] = f"queued: {ack.note}"
            acknowledged = True
    _attach(conn, uow, ref, interaction.id, "mail_received", details, now)
    return Ingested(ref, "new", interaction=interaction, customer=customer, facts=facts, match=match,
                    queue_closed=closed, acknowledged=acknowledged, flagged=arrival.unreadable)


def _attach(conn: Connection, uow: UnitOfWork, ref: int, interaction_id: int, kind: str, details: Mapping[str, Any],
            now: datetime) -> None:
    conn.execute(update(mail_messages).where(mail_messages.c.id == ref).values(interaction_id=interaction_id))
    interactions.append_events(conn, uow, [(interaction_id, now, kind, None, dict(details))])
