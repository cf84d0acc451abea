"""The email flow: a received message becomes part of an interaction; agents' replies go out.

:meth:`MailFlow.accept_mail` is the sink of the inbound email services
(:mod:`channels.email.sink`). For each raw message it:

1. parses it (:func:`channels.email.parsing.parse_message`; never fails) and **stores it
   first** (:meth:`MailStore.store_message`, idempotent). A re-delivered message that was
   already assigned returns a ``duplicate`` receipt and does nothing else; one stored but
   not yet assigned (a crash in between) carries on from here. An unparseable message, or
   one without a sender address, is kept raw and flagged for a person (no interaction);
2. a **bounce** (DSN or non-standard) attaches to the interaction of the message that
   bounced; a permanent failure marks the failed addresses as bouncing. Nothing is
   answered and nothing is routed;
3. **identifies** the sender (``find_or_create_customer("email", from)``) and **threads**:
   In-Reply-To/References against every Message-ID sent or received, else the subject
   tag ``[#CC-n]`` (honoured only when interaction ``n`` belongs to the same customer, so
   a stranger cannot write into someone else's case), else a new interaction;
4. a reply to an **open** interaction is logged on it and announced with
   ``on_customer_reply(interaction)``. A reply to a **closed** one (completed, abandoned,
   unhandled) follows ``closed_policy``: ``reopen`` puts it back in its queue when the
   lifecycle allows it (a completed one), otherwise, or with ``new-linked``, a new
   interaction is created with ``payload["linked_to"]`` naming the old one;
5. a **new** interaction gets its queue from ``route(facts)`` (a
   :class:`~callcenter.routing_rules.RuleMatch`), is logged in state ``new``, and is
   announced with ``on_new_interaction(interaction, MailRouting)``; reopened ones too;
6. the **automatic acknowledgement** (the mailbox's template, or the queue's closed-hours
   template when ``queue_open(queue, now)`` is false) is queued in the outbox in the same
   transaction that assigns the message, unless the loop guard says the message is itself
   automatic or from one of our addresses, the address is bouncing, or the per-address cap
   is reached. The context holds ``reference`` (``CC-123``), ``subject``, ``queue``,
   ``customer_name``, ``response_time`` (the customer's tier's promise, e.g. ``4 hours``)
   and ``response_time_seconds``.

:meth:`MailFlow.send_reply` composes an agent's answer and queues it in the outbox.

Known window: a crash after the interaction was created but before the message was
assigned to it leaves an empty interaction; the reprocessed message makes a second one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Mapping

from twisted.logger import Logger

from callcenter.clock import Clock
from callcenter.lifecycle import FINAL_STATES, State, Step, can, transition
from callcenter.records.errors import InvalidContact
from callcenter.records.mail import MailStore, NewAttachment, NewMessage, NewOutgoing, OutboxItem
from callcenter.records.model import Customer, Interaction
from callcenter.records.store import RecordStore
from channels.email.bounces import parse_bounce
from channels.email.compose import OutgoingMessage, compose, new_message_id, one_line
from channels.email.loopguard import is_automatic
from channels.email.parsing import ParseLimits, ParsedMessage, parse_message
from channels.email.quoting import split_quoted
from channels.email.sink import MailEnvelope, MailReceipt
from channels.email.threading import DEFAULT_PREFIX, find_reference, tag_subject, thread_keys

log = Logger(namespace="callcenter.mailflow")

CLOSED_POLICIES = ("reopen", "new-linked")
_CLOSED = frozenset(s.value for s in FINAL_STATES)


@dataclass(frozen=True)
class MailRouting:
    """What routing needs to place an email interaction.

    ``facts`` is the mapping rules are matched on; ``match`` the rule that matched (its
    queue is the interaction's); ``queue_closed`` whether the queue was closed on arrival;
    ``reopened`` whether a customer's reply brought back a finished interaction.
    """

    facts: Mapping[str, Any]
    match: Any
    customer: Customer
    queue_closed: bool
    reopened: bool = False


@dataclass(frozen=True)
class MailFlowOptions:
    """Policy knobs: ``closed_policy`` (``reopen`` or ``new-linked``), the subject tag
    ``reference_prefix``, the ``domain`` of our Message-IDs, and the parser's limits."""

    closed_policy: str = "reopen"
    reference_prefix: str = DEFAULT_PREFIX
    domain: str = "callcenter.invalid"
    limits: ParseLimits = ParseLimits()

    def __post_init__(self) -> None:
        if self.closed_policy not in CLOSED_POLICIES:
            raise ValueError(f"closed_policy must be one of {CLOSED_POLICIES}, not {self.closed_policy!r}")


class MailFlow:
    """The email flow over the record (``records``) and the mail tables (``mail``).

    ``settings`` supplies ``email`` (mailboxes, relay, reply template), ``tiers``,
    ``queues`` (closed-hours templates) and ``templates``. ``route(facts)`` returns a
    RuleMatch; ``queue_open(queue_name, now)`` says whether a queue is open.
    ``new_token()`` returns a unique string for Message-IDs. ``wake_outbox()`` (optional)
    asks the outbox sender to send now.
    """

    def __init__(self, *, records: RecordStore, mail: MailStore, clock: Clock, settings: Any,
                 route: Callable[[Mapping[str, Any]], Any], queue_open: Callable[[str, datetime], bool],
                 on_new_interaction: Callable[[Interaction, MailRouting], Any],
                 on_customer_reply: Callable[[Interaction], Any], new_token: Callable[[], str],
                 wake_outbox: Callable[[], Any] | None = None, options: MailFlowOptions = MailFlowOptions()) -> None:
        self._records = records
        self._mail = mail
        self._clock = clock
        self.settings = settings
        self._route = route
        self._queue_open = queue_open
        self._on_new = on_new_interaction
        self._on_reply = on_customer_reply
        self._token = new_token
        self._wake = wake_outbox or (lambda: None)
        self.options = options

    @property
    def own_addresses(self) -> tuple[str, ...]:
        """Every address we send from: the mailboxes' and the relay's."""
        email = self.settings.email
        return tuple(m.address.lower() for m in email.mailboxes.values()) + (email.relay.from_address.lower(),)

    # --- inbound ---

    async def accept_mail(self, raw: bytes, envelope: MailEnvelope) -> MailReceipt:
        """Store, thread, answer and announce one received message (see the module docstring).

        Returns once everything is durably stored. Raises what the database raises
        (a transient failure: the caller retries, and the retry stores nothing twice).
        """
        parsed = parse_message(raw, self.options.limits)
        stored = await self._mail.store_message(_new_message(parsed, envelope))
        if stored.duplicate and stored.interaction_id is not None:
            return MailReceipt(stored.id, stored.interaction_id, duplicate=True, flagged=stored.unparseable)
        if parsed.unparseable or parsed.from_ is None:
            return MailReceipt(stored.id, None, duplicate=stored.duplicate, flagged=True)
        bounce = parse_bounce(parsed)
        if bounce is not None:
            iid = await self._bounce(stored.id, bounce)
            return MailReceipt(stored.id, iid, duplicate=stored.duplicate)
        try:
            customer = await self._records.find_or_create_customer("email", parsed.from_.address)
        except InvalidContact:
            return MailReceipt(stored.id, None, duplicate=stored.duplicate, flagged=True)
        interaction, linked_to = await self._thread(parsed, customer)
        if interaction is not None and interaction.state not in _CLOSED:
            await self._mail.assign(stored.id, interaction.id, log=("mail_received", self._log_details(parsed)))
            self._on_reply(interaction)
            return MailReceipt(stored.id, interaction.id, duplicate=stored.duplicate)
        if interaction is not None and self.options.closed_policy == "reopen" and can(interaction.state, Step.REOPEN):
            reopened = await self._reopen(interaction)
            await self._mail.assign(stored.id, reopened.id, log=("mail_received", self._log_details(parsed)))
            self._on_new(reopened, self._routing(parsed, envelope, customer, reopened.queue, reopened=True))
            return MailReceipt(stored.id, reopened.id, duplicate=stored.duplicate)
        if interaction is not None:
            linked_to = interaction.id
        return await self._new_interaction(parsed, envelope, customer, stored.id, stored.duplicate, linked_to)

    async def _thread(self, parsed: ParsedMessage, customer: Customer) -> tuple[Interaction | None, int | None]:
        """The interaction a message belongs to (or None), and an interaction to link a new one to."""
        iid = await self._mail.interaction_for_message_ids(thread_keys(parsed).parents)
        if iid is not None:
            return await self._records.get_interaction(iid), None
        reference = find_reference(parsed.subject, self.options.reference_prefix)
        if reference is None:
            return None, None
        iid = await self._mail.interaction_for_reference(reference)
        if iid is None:
            return None, None
        tagged = await self._records.get_interaction(iid)
        if tagged.customer_id == customer.id:
            return tagged, None
        return None, tagged.id  # a stranger quoting a reference: a new interaction, linked for the agent

    async def _reopen(self, interaction: Interaction) -> Interaction:
        step = transition(interaction.state, Step.REOPEN)
        now = self._clock.utcnow()
        return await self._records.update_interaction_state(
            interaction.id, step.state.value, at=now, details={"step": Step.REOPEN.value, "reason": "customer_reply"},
            **({step.stamp: now} if step.stamp else {}))

    async def _new_interaction(self, parsed: ParsedMessage, envelope: MailEnvelope, customer: Customer,
                               message_ref: int, duplicate: bool, linked_to: int | None) -> MailReceipt:
        routing = self._routing(parsed, envelope, customer, None)
        queue = routing.match.queue
        payload: dict[str, Any] = {
            "mailbox": envelope.mailbox, "from": parsed.from_.address if parsed.from_ else None,
            "message_id": parsed.message_id,
            "routing": {"rule": routing.match.rule, "priority": routing.match.priority, "tier": routing.match.tier},
        }
        payload["content_hash"] = parsed.content_hash
        if linked_to is not None:
            payload["linked_to"] = linked_to
        interaction = await self._unfinished_interaction(customer, parsed) if duplicate else None
        if interaction is None:
            interaction = await self._records.create_interaction(
                customer.id, "email", "inbound", State.NEW.value, queue=queue,
                subject=one_line(parsed.subject)[:998], payload=payload)
        details = self._log_details(parsed)
        ack = await self._acknowledgement(parsed, envelope, customer, interaction, routing.queue_closed, details)
        await self._mail.assign(message_ref, interaction.id, outgoing=ack, log=("mail_received", details))
        if ack is not None:
            self._wake()
        self._on_new(interaction, routing)
        return MailReceipt(message_ref, interaction.id, duplicate=duplicate)

    async def _unfinished_interaction(self, customer: Customer, parsed: ParsedMessage) -> Interaction | None:
        """The interaction a crash left without its message: created for this very message
        (same Message-ID and content hash) before the message was attached to it. Reusing it is
        what keeps a reprocessed message from making a second interaction."""
        page = await self._records.timeline(customer.id, limit=20)
        for item in page.items:
            if (item.channel == "email" and item.payload.get("content_hash") == parsed.content_hash
                    and item.payload.get("message_id") == parsed.message_id
                    and not await self._mail.messages(item.id)):
                return item
        return None

    def _routing(self, parsed: ParsedMessage, envelope: MailEnvelope, customer: Customer, queue: str | None,
                 reopened: bool = False) -> MailRouting:
        facts = {"channel": "email", "to": envelope.mailbox, "tier": customer.tier,
                 "attributes": dict(customer.attributes), "language": customer.language,
                 "subject": parsed.subject, "body": parsed.text[:20000]}
        match = self._route(facts)
        now = self._clock.utcnow()
        return MailRouting(facts, match, customer, not self._queue_open(queue or match.queue, now), reopened)

    async def _acknowledgement(self, parsed: ParsedMessage, envelope: MailEnvelope, customer: Customer,
                               interaction: Interaction, closed: bool, details: dict[str, Any]) -> NewOutgoing | None:
        """The automatic reply to queue, or None (``details["auto_ack"]`` says why not)."""
        mailbox = self.settings.email.mailboxes.get(envelope.mailbox)
        queue = self.settings.queues.get(interaction.queue)
        template = (queue.closed.email_template if closed and queue is not None else None) or \
            (mailbox.auto_ack_template if mailbox is not None else None)
        reason = is_automatic(parsed, self.own_addresses, envelope.mail_from)
        if reason is None and template is None:
            reason = "no acknowledgement template"
        if reason is None and await self._mail.bouncing(parsed.from_.address) is not None:
            reason = "the address is bouncing"
        if reason is not None:
            details["auto_ack"] = f"not sent: {reason}"
            return None
        tier = self.settings.tiers.get(customer.tier)
        seconds = tier.response_time if tier is not None else None
        context = {"reference": self.reference(interaction.id), "subject": one_line(parsed.subject),
                   "queue": (queue.label or queue.name) if queue is not None else (interaction.queue or ""),
                   "customer_name": customer.display_name or (parsed.from_.name if parsed.from_ else ""),
                   "response_time": humanize_seconds(seconds) if seconds else "",
                   "response_time_seconds": seconds}
        details["auto_ack"] = template
        from_address = mailbox.address if mailbox is not None else self.settings.email.relay.from_address
        return self._outgoing(template, customer.language, context, interaction.id, from_address,
                              parsed.from_.address, parsed, "closed_hours" if closed else "auto_ack", automatic=True)

    async def _bounce(self, message_ref: int, bounce: Any) -> int | None:
        iid = await self._mail.interaction_for_message_ids([bounce.original_message_id] if bounce.original_message_id else [])
        for r in bounce.recipients:
            if r.permanent:
                await self._mail.mark_bouncing(r.address, r.status, r.diagnostic)
        if iid is not None:
            await self._mail.assign(message_ref, iid, log=("mail_bounced", {
                "permanent": bounce.permanent, "addresses": [r.address for r in bounce.recipients],
                "statuses": [r.status for r in bounce.recipients], "message_ref": message_ref}))
        return iid

    def _log_details(self, parsed: ParsedMessage) -> dict[str, Any]:
        return {"message_id": parsed.message_id, "from": parsed.from_.address if parsed.from_ else None,
                "subject": one_line(parsed.subject)[:300], "attachments": len(parsed.attachments)}

    # --- outbound ---

    def reference(self, interaction_id: int) -> str:
        """The reference customers see, e.g. ``CC-123``; the subject tag is ``[#CC-123]``."""
        return f"{self.options.reference_prefix}-{interaction_id}"

    def _outgoing(self, template: str, language: str | None, context: Mapping[str, Any], interaction_id: int,
                  from_address: str, to: str, answered: ParsedMessage | None, kind: str, automatic: bool,
                  answered_id: str | None = None, answered_refs: tuple[str, ...] = ()) -> NewOutgoing:
        templates = self.settings.templates
        subject, body = templates.render_email(template, language or templates.fallback_language, context)
        if answered is not None:
            answered_id, answered_refs = answered.message_id, answered.references
        message_id = new_message_id(self._token(), self.options.domain)
        raw = compose(OutgoingMessage(
            from_address=from_address, to=(to,), text=body, message_id=message_id, date=self._clock.utcnow(),
            subject=tag_subject(subject, interaction_id, self.options.reference_prefix, reply=not automatic),
            in_reply_to=answered_id, references=answered_refs, automatic=automatic,
            reference=self.reference(interaction_id)))
        parsed = parse_message(raw)
        message = NewMessage(raw=raw, direction="outbound", message_id=message_id, content_hash=parsed.content_hash,
                             mailbox=None, sender=from_address, subject=parsed.subject, body_text=body,
                             details={"to": [to], "kind": kind, "in_reply_to": answered_id})
        return NewOutgoing(message, interaction_id, kind, self.settings.email.relay.from_address, (to,),
                           counts_as_auto_reply=automatic)

    async def send_notice(self, interaction_id: int | None, to: tuple[str, ...] | str, subject: str, body: str,
                          kind: str) -> Any:
        """Queue an automatic message rendered elsewhere (a form's confirmation, an alert, the daily
        summary) to ``to``. With an interaction it carries the subject tag and counts against the
        recipient's automatic-reply cap; every such message has ``Auto-Submitted: auto-replied``."""
        recipients = (to,) if isinstance(to, str) else tuple(to)
        from_address = self.settings.email.relay.from_address
        message_id = new_message_id(self._token(), self.options.domain)
        tagged = subject if interaction_id is None else tag_subject(subject, interaction_id,
                                                                    self.options.reference_prefix, reply=False)
        raw = compose(OutgoingMessage(
            from_address=from_address, to=recipients, text=body, message_id=message_id, date=self._clock.utcnow(),
            subject=tagged, automatic=True,
            reference=None if interaction_id is None else self.reference(interaction_id)))
        parsed = parse_message(raw)
        message = NewMessage(raw=raw, direction="outbound", message_id=message_id, content_hash=parsed.content_hash,
                             mailbox=None, sender=from_address, subject=parsed.subject, body_text=body,
                             details={"to": list(recipients), "kind": kind})
        item = await self._mail.enqueue(NewOutgoing(message, interaction_id, kind, from_address, recipients,
                                                    counts_as_auto_reply=interaction_id is not None))
        self._wake()
        return item

    async def send_reply(self, interaction_id: int, agent: str, template_or_body: str, *,
                         context: Mapping[str, Any] | None = None, language: str | None = None,
                         agent_name: str | None = None) -> OutboxItem:
        """Queue an agent's answer on an email interaction; returns the outbox item.

        ``template_or_body`` names a template (rendered with the customer's and the
        interaction's fields plus ``context``) or is the answer's text, rendered through
        the configured reply template as ``body``. The message answers the latest message
        received (In-Reply-To, References), goes to its sender, and carries the subject tag.
        Raises NotFound for an unknown interaction, ValueError when it has no received
        message to answer, and ``jinja2.UndefinedError`` for a template variable not given.
        """
        interaction = await self._records.get_interaction(interaction_id)
        customer = await self._records.get_customer(interaction.customer_id)
        received = [m for m in await self._mail.messages(interaction_id) if m.direction == "inbound" and m.sender]
        if not received:
            raise ValueError(f"interaction {interaction_id} has no received message to answer")
        last = received[-1]
        templates = self.settings.templates
        is_template = templates.has(template_or_body)
        template = template_or_body if is_template else (self.settings.email.reply_template or "email_reply")
        fields = {"reference": self.reference(interaction_id), "subject": one_line(interaction.subject or last.subject),
                  "customer_name": customer.display_name, "customer_tier": customer.tier,
                  "queue": interaction.queue or "", "agent": agent, "agent_name": agent_name or agent,
                  "interaction_id": interaction_id, "body": "" if is_template else template_or_body,
                  **(context or {})}
        mailbox = self.settings.email.mailboxes.get(interaction.payload.get("mailbox", ""))
        from_address = mailbox.address if mailbox is not None else self.settings.email.relay.from_address
        references = tuple(last.details.get("references", ()))
        outgoing = self._outgoing(template, language or customer.language, fields, interaction_id, from_address,
                                  last.sender, None, "reply", automatic=False, answered_id=last.message_id,
                                  answered_refs=references)
        item = await self._mail.enqueue(outgoing)
        bouncing = await self._mail.bouncing(last.sender)
        await self._records.append_event(interaction_id, "mail_reply_queued", actor=agent, details={
            "outbox_id": item.id, "to": last.sender, "template": template,
            **({"warning": f"{last.sender} is bouncing ({bouncing.status})"} if bouncing else {})})
        self._wake()
        return item


def humanize_seconds(seconds: float) -> str:
    """``3600`` -> ``1 hour``, ``14400`` -> ``4 hours``, ``5400`` -> ``90 minutes``, ``172800`` -> ``2 days``."""
    whole = int(seconds)
    if whole >= 86400 and whole % 86400 == 0:
        n, unit = whole // 86400, "day"
    elif whole >= 3600 and whole % 3600 == 0:
        n, unit = whole // 3600, "hour"
    elif whole >= 60:
        n, unit = whole // 60, "minute"
    else:
        n, unit = whole, "second"
    return f"{n} {unit}{'s' if n != 1 else ''}"


def _new_message(parsed: ParsedMessage, envelope: MailEnvelope) -> NewMessage:
    """The record of a received message, from its parse and envelope.

    ``details["new_text_length"]`` is where the quoted history starts in ``body_text``
    (``details["quote_marker"]`` says what was recognized), so a display can fold it.
    """
    split = split_quoted(parsed.text)
    details: dict[str, Any] = {
        "new_text_length": len(split.new) if split.marker else len(parsed.text), "quote_marker": split.marker,
        "source": envelope.source, "mail_from": envelope.mail_from, "recipients": list(envelope.recipients),
        "peer": envelope.peer, "problems": list(parsed.problems)[:50],
        "in_reply_to": parsed.in_reply_to, "references": list(parsed.references)[-50:],
        "to": [a.address for a in parsed.to][:50], "cc": [a.address for a in parsed.cc][:50],
        "date": parsed.date.isoformat() if parsed.date else None,
    }
    attachments = tuple(NewAttachment(a.filename, a.content_type, a.size, a.sha256, a.content, a.skipped, a.inline,
                                      a.content_id) for a in parsed.attachments)
    return NewMessage(
        raw=parsed.raw, direction="inbound", message_id=parsed.message_id, content_hash=parsed.content_hash,
        mailbox=envelope.mailbox, sender=parsed.from_.address if parsed.from_ else None, subject=parsed.subject,
        body_text=parsed.text, unparseable=parsed.unparseable, reason=parsed.reason, details=details,
        attachments=attachments)
