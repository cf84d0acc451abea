"""The email flow: a received message becomes part of an interaction; agents' replies go out.

:meth:`MailFlow.accept_mail` is the sink of the inbound email services
(:mod:`channels.email.sink`). For each raw message it:

1. takes every decision that needs no stored row, with no I/O (:meth:`MailFlow.arrival`):
   parse (:func:`channels.email.parsing.parse_message`; never fails), the sender's contact
   key, name and language, the thread keys (In-Reply-To/References, the subject tag
   ``[#CC-n]``), whether it is a delivery report (and the Message-ID it reports on),
   and the loop guard's verdict (:func:`channels.email.loopguard.is_automatic`);
2. hands the :class:`~callcenter.records.mail_ingest.Arrival` to the record, which stores
   the message, finds or creates the customer, threads it or creates the interaction, logs
   it and queues the acknowledgement **in one transaction**, group-committed with the other
   messages arriving at the same moment (:mod:`callcenter.records.mail_ingest` says what
   becomes of each kind of message). The sink returns (and the listener answers ``250``)
   only after that commit; a re-delivery finds the message stored and writes nothing;
3. then, after the commit, announces: a new or reopened interaction with
   ``on_new_interaction(interaction, MailRouting)``, a reply to open work with
   ``on_customer_reply(interaction)``, and wakes the outbox when an acknowledgement was
   queued. A crash between the commit and the announcement leaves an interaction in
   ``new``, which the rebuild on start routes (:mod:`callcenter.dispatch.recovery`).

Nothing accepted stays invisible: a message from an unknown, odd or missing sender gets a
provisional (or anonymous) customer; an unreadable one becomes an interaction in the
configured unreadable queue with its raw bytes kept; automatic mail that threads nowhere
and delivery reports for nothing we sent are listed for an administrator
(:meth:`MailFlow.listed`).

The **automatic acknowledgement** (the mailbox's template, or the queue's closed-hours
template when ``queue_open(queue, now)`` is false) goes only to a person's new message,
never to automatic mail, a bouncing address, an address without a usable form, or past the
per-address cap. Its context holds ``reference`` (``CC-123``), ``subject``, ``queue``,
``customer_name``, ``response_time`` (the customer's tier's promise, e.g. ``4 hours``) and
``response_time_seconds``; it is rendered in the customer's language.

:meth:`MailFlow.send_reply` queues an agent's answer, composed once: a text is sent as the
agent wrote it (the desktop starts it from :meth:`MailFlow.reply_draft`, the reply
template's greeting and signature), a template name is rendered whole.
:meth:`MailFlow.screen_content` is the email part of the screen pop.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Awaitable, Callable, Mapping

from sqlalchemy.exc import IntegrityError
from twisted.logger import Logger

from callcenter.runtime.clock import Clock
from callcenter.intake.email_arrival import arrival_of
from callcenter.records.errors import NotFound
from callcenter.records.mail import MailStore
from callcenter.records.mail_messages import NewMessage
from callcenter.records.mail_outbox import NewOutgoing, OutboxItem
from callcenter.records.mail_ingest import Acknowledgement, Arrival, Ingested
from callcenter.records.mail_ingest_batch import MailIngest
from callcenter.records.model import Customer, Interaction
from callcenter.records.store import RecordStore
from channels.email.compose import OutgoingMessage, compose, new_message_id, one_line
from channels.email.parsing import ParseLimits, ParsedMessage, parse_message
from channels.email.sink import MailEnvelope, MailReceipt
from channels.email.threading import DEFAULT_PREFIX, tag_subject

log = Logger(namespace="callcenter.intake.email")

CLOSED_POLICIES = ("reopen", "new-linked")


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
    ``reference_prefix``, the ``domain`` of our Message-IDs, the parser's limits, the queue
    unreadable mail goes to (None: where the rules send the mailbox's mail), and whether
    the relay is enabled (the desktop says a queued reply waits for it)."""

    closed_policy: str = "reopen"
    reference_prefix: str = DEFAULT_PREFIX
    domain: str = "callcenter.invalid"
    limits: ParseLimits = ParseLimits()
    unreadable_queue: str | None = None
    relay_enabled: bool = True

    def __post_init__(self) -> None:
        if self.closed_policy not in CLOSED_POLICIES:
            raise ValueError(f"closed_policy must be one of {CLOSED_POLICIES}, not {self.closed_policy!r}")


class MailFlow:
    """The email flow over the record (``records``) and the mail tables (``mail``).

    ``settings`` supplies ``email`` (mailboxes, relay, reply template), ``tiers``,
    ``queues`` (closed-hours templates) and ``templates``. ``route(facts)`` returns a
    RuleMatch; ``queue_open(queue_name, now)`` says whether a queue is open; both are pure
    and may be called from a database thread. ``new_token()`` returns a unique string for
    Message-IDs. ``wake_outbox()`` (optional) asks the outbox sender to send now.

    It is also the :class:`~callcenter.records.mail_ingest.IngestPolicy` of its arrivals.
    """

    def __init__(self, *, records: RecordStore, mail: MailStore, clock: Clock, settings: Any,
                 route: Callable[[Mapping[str, Any]], Any], queue_open: Callable[[str, datetime], bool],
                 on_new_interaction: Callable[[Interaction, MailRouting], Any],
                 on_customer_reply: Callable[[Interaction], Any], new_token: Callable[[], str],
                 wake_outbox: Callable[[], Any] | None = None, options: MailFlowOptions = MailFlowOptions(),
                 parse: Parse | None = None) -> None:
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
        self._ingest = MailIngest(mail, clock)
        self._parse = parse

    async def drain(self) -> None:
        """Wait until every message being written has its outcome (before the database stops)."""
        await self._ingest.drain()

    # --- the policy the record asks inside the transaction ---

    @property
    def closed_policy(self) -> str:
        """``reopen`` or ``new-linked``."""
        return self.options.closed_policy

    @property
    def default_tier(self) -> str:
        """The tier of a new customer."""
        return self._records.tiers[0]

    @property
    def unreadable_queue(self) -> str | None:
        """The queue unreadable mail goes to, or None for the mailbox's."""
        return self.options.unreadable_queue

    def route(self, facts: Mapping[str, Any]) -> Any:
        """The routing rules' verdict on ``facts``."""
        return self._route(facts)

    def queue_open(self, queue: str, now: datetime) -> bool:
        """Whether ``queue`` is open at ``now``."""
        return self._queue_open(queue, now)

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
        if self._parse is not None and len(raw) > INLINE_PARSE_BYTES:
            # A large message is parsed elsewhere, a bounded number at once: seconds of CPU
            # on the reactor would stall every other protocol.
            parsed = await self._parse(raw, self.options.limits, envelope.mail_from)
        else:
            parsed = parse_message(raw, self.options.limits, envelope_sender=envelope.mail_from)
        arrival = self.arrival(parsed, envelope)
        try:
            done = await self._ingest.submit(arrival, self)
        except IntegrityError:
            # Another node stored the same message or created the same customer at this very
            # moment: it exists now, and a second pass finds it.
            done = await self._ingest.submit(arrival, self)
        self._announce(done)
        return MailReceipt(done.message_ref, done.interaction.id if done.interaction is not None else None,
                           duplicate=done.kind == "duplicate", flagged=done.flagged or done.kind == "listed")

    def arrival(self, parsed: ParsedMessage, envelope: MailEnvelope) -> Arrival:
        """Everything decided about a received message before the record is touched (pure;
        see :func:`~callcenter.intake.email_arrival.arrival_of`)."""
        return arrival_of(parsed, envelope, self.own_addresses, self.options.reference_prefix)

    def _announce(self, done: Ingested) -> None:
        """Tell routing and the outbox what the committed transaction did."""
        if done.acknowledged:
            self._wake()
        if done.kind == "reply" and done.interaction is not None:
            self._on_reply(done.interaction)
        elif done.kind in ("new", "reopened") and done.interaction is not None:
            self._on_new(done.interaction, MailRouting(done.facts or {}, done.match, done.customer,
                                                       done.queue_closed, reopened=done.kind == "reopened"))

    def acknowledgement(self, arrival: Arrival, customer: Customer, interaction: Interaction,
                        queue_closed: bool) -> Acknowledgement:
        """The automatic reply to a person's new message (pure; called inside the transaction)."""
        mailbox = self.settings.email.mailboxes.get(arrival.mailbox)
        queue = self.settings.queues.get(interaction.queue)
        template = (queue.closed.email_template if queue_closed and queue is not None else None) or \
            (mailbox.auto_ack_template if mailbox is not None else None)
        if template is None:
            return Acknowledgement(None, "no acknowledgement template")
        tier = self.settings.tiers.get(customer.tier)
        seconds = tier.response_time if tier is not None else None
        context = {"reference": self.reference(interaction.id), "subject": arrival.subject,
                   "queue": (queue.label or queue.name) if queue is not None else (interaction.queue or ""),
                   "customer_name": customer.display_name or arrival.sender.name,
                   "response_time": humanize_seconds(seconds) if seconds else "",
                   "response_time_seconds": seconds}
        from_address = mailbox.address if mailbox is not None else self.settings.email.relay.from_address
        try:
            outgoing = self._outgoing(template, customer.language, context, interaction.id, from_address,
                                      arrival.sender.value or "", "closed_hours" if queue_closed else "auto_ack",
                                      automatic=True, answered_id=arrival.message.message_id,
                                      answered_refs=tuple(arrival.message.details.get("references") or ()))
        except Exception as error:  # noqa: BLE001 - a broken template must not lose the message
            log.failure("acknowledgement template {template} failed", template=template)
            return Acknowledgement(None, f"the template {template} failed: {type(error).__name__}")
        return Acknowledgement(outgoing, template)

    async def listed(self, limit: int = 100, before: int | None = None) -> list[Any]:
        """Inbound messages that reached no agent (automatic, unmatched reports), newest first."""
        return await self._mail.listed(limit, before)

    # --- outbound ---

    def reference(self, interaction_id: int) -> str:
        """The reference customers see, e.g. ``CC-123``; the subject tag is ``[#CC-123]``."""
        return f"{self.options.reference_prefix}-{interaction_id}"

    def _outgoing(self, template: str | None, language: str | None, context: Mapping[str, Any], interaction_id: int,
                  from_address: str, to: str, kind: str, automatic: bool, answered_id: str | None = None,
                  answered_refs: tuple[str, ...] = (), body: str | None = None,
                  subject: str | None = None) -> NewOutgoing:
        """One message to queue: rendered from ``template``, or ``body`` (and ``subject``) as given."""
        if body is None:
            templates = self.settings.templates
            subject, body = templates.render_email(template, language or templates.fallback_language, context)
        message_id = new_message_id(self._token(), self.options.domain)
        tagged = tag_subject(subject or "", interaction_id, self.options.reference_prefix, reply=not automatic)
        raw = compose(OutgoingMessage(
            from_address=from_address, to=(to,), text=body, message_id=message_id, date=self._clock.utcnow(),
            subject=tagged, in_reply_to=answered_id, references=answered_refs, automatic=automatic,
            reference=self.reference(interaction_id)))
        # Our own message is never delivered to us twice: its bytes' hash is its content hash.
        message = NewMessage(raw=raw, direction="outbound", message_id=message_id,
                             content_hash=hashlib.sha256(raw).hexdigest(), mailbox=None, sender=from_address,
                             subject=one_line(tagged), body_text=body,
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

    async def _reply_fields(self, interaction_id: int, agent: str, agent_name: str | None,
                            context: Mapping[str, Any] | None) -> tuple[Interaction, Customer, Any, dict[str, Any]]:
        interaction = await self._records.get_interaction(interaction_id)
        customer = await self._records.get_customer(interaction.customer_id)
        received = [m for m in await self._mail.messages(interaction_id) if m.direction == "inbound" and m.sender]
        if not received:
            raise ValueError(f"interaction {interaction_id} has no received message to answer")
        last = received[-1]
        fields = {"reference": self.reference(interaction_id), "subject": one_line(interaction.subject or last.subject),
                  "customer_name": customer.display_name, "customer_tier": customer.tier,
                  "queue": interaction.queue or "", "agent": agent, "agent_name": agent_name or agent,
                  "interaction_id": interaction_id, "body": "", **(context or {})}
        return interaction, customer, last, fields

    async def reply_draft(self, interaction_id: int, agent: str, *, agent_name: str | None = None,
                          template: str | None = None, language: str | None = None) -> dict[str, str]:
        """``{"subject", "body", "template", "language"}``: the reply template (or ``template``)
        rendered with an empty ``body``, i.e. its greeting and signature, for the agent to write
        between. Raises NotFound, ValueError (nothing to answer) and KeyError (unknown template)."""
        _, customer, _, fields = await self._reply_fields(interaction_id, agent, agent_name, None)
        name = template or self.settings.email.reply_template or "email_reply"
        if not self.settings.templates.has(name):
            raise KeyError(f"no template {name!r}")
        lang = language or customer.language or self.settings.templates.fallback_language
        subject, body = self.settings.templates.render_email(name, lang, fields)
        return {"subject": tag_subject(subject, interaction_id, self.options.reference_prefix, reply=True),
                "body": re.sub(r"\n{3,}", "\n\n\n", body), "template": name, "language": lang}

    async def send_reply(self, interaction_id: int, agent: str, template_or_body: str, *,
                         context: Mapping[str, Any] | None = None, language: str | None = None,
                         agent_name: str | None = None) -> OutboxItem:
        """Queue an agent's answer on an email interaction; returns the outbox item.

        ``template_or_body`` names a template (rendered whole, in the customer's language,
        with the customer's and the interaction's fields plus ``context``) or is the answer's
        text, sent exactly as written (the desktop starts it from :meth:`reply_draft`, so the
        greeting and signature appear once); its subject is the reply template's. The message
        answers the latest message received (In-Reply-To, References), goes to its sender,
        and carries the subject tag. Raises NotFound for an unknown interaction, ValueError
        when it has no received message to answer, and ``jinja2.UndefinedError`` for a
        template variable not given.
        """
        interaction, customer, last, fields = await self._reply_fields(interaction_id, agent, agent_name, context)
        templates = self.settings.templates
        is_template = templates.has(template_or_body)
        template = template_or_body if is_template else (self.settings.email.reply_template or "email_reply")
        lang = language or customer.language or templates.fallback_language
        body = subject = None
        if not is_template:
            subject, _ = templates.render_email(template, lang, fields)
            body = template_or_body.replace("\r\n", "\n")
        mailbox = self.settings.email.mailboxes.get(interaction.payload.get("mailbox", ""))
        from_address = mailbox.address if mailbox is not None else self.settings.email.relay.from_address
        references = tuple(last.details.get("references", ()))
        outgoing = self._outgoing(template, lang, fields, interaction_id, from_address, last.sender, "reply",
                                  automatic=False, answered_id=last.message_id, answered_refs=references,
                                  body=body, subject=subject)
        item = await self._mail.enqueue(outgoing)
        bouncing = await self._mail.bouncing(last.sender)
        await self._records.append_event(interaction_id, "mail_reply_queued", actor=agent, details={
            "outbox_id": item.id, "to": last.sender, "template": template if is_template else None,
            **({"warning": f"{last.sender} is bouncing ({bouncing.status})"} if bouncing else {})})
        self._wake()
        return item

    # --- the screen pop ---

    async def screen_content(self, interaction: Any) -> dict[str, Any]:
        """The email part of a screen pop: ``{"email": [message, ...]}``, newest first.

        Each message has ``id``, ``direction``, ``from``, ``name``, ``subject``, ``at``,
        ``text`` (what is new) and ``quoted`` (the history it quotes, for folding),
        ``flagged`` and ``reason`` (unreadable: the raw message is offered instead), ``raw_url``,
        ``attachments`` (each with its ``url``) and, for what we send, ``delivery``:
        ``{"state": queued|sent|failed, "detail", "at"}``.
        """
        if interaction.channel != "email":
            return {}
        outbox = {item.message_id: item for item in await self._mail.outbox(interaction.id)}
        base = f"/api/me/work/{interaction.id}"
        thread = []
        for m in reversed(await self._mail.messages(interaction.id)):
            cut = m.details.get("new_text_length")
            cut = len(m.body_text) if not isinstance(cut, int) else max(0, min(cut, len(m.body_text)))
            entry: dict[str, Any] = {
                "id": m.id, "direction": m.direction, "from": m.sender, "name": m.details.get("from_name") or "",
                "subject": m.subject, "text": m.body_text[:cut], "quoted": m.body_text[cut:].strip("\n"),
                "at": m.created_at.isoformat() if m.created_at else None, "flagged": m.unparseable,
                "reason": m.reason, "raw_url": f"{base}/messages/{m.id}/raw",
                "attachments": [{"id": a.id, "filename": a.filename, "content_type": a.content_type, "size": a.size,
                                 "stored": a.stored, "inline": a.inline,
                                 "url": f"{base}/attachments/{a.id}" if a.stored else None}
                                for a in await self._mail.attachments(m.id)]}
            if m.id in outbox:
                entry["delivery"] = self.delivery(outbox[m.id])
            thread.append(entry)
        return {"email": thread}

    async def attachment_file(self, interaction_id: int, attachment_id: int) -> tuple[Any, bytes]:
        """``(attachment, bytes)`` of an attachment of ``interaction_id``'s mail; NotFound when it is
        not one of them or its bytes were not kept (over the size cap)."""
        attachment, content = await self._mail.attachment_in(attachment_id, interaction_id)
        if content is None:
            raise NotFound("mail attachment content", attachment_id)
        return attachment, content

    async def raw_message(self, interaction_id: int, message_id: int) -> bytes:
        """The bytes of a message of ``interaction_id`` as received or sent; NotFound otherwise."""
        message = await self._mail.get_message(message_id)
        if message.interaction_id != interaction_id:
            raise NotFound("mail message", message_id)
        return await self._mail.raw(message_id)

    def delivery(self, item: OutboxItem) -> dict[str, Any]:
        """What the desktop shows of an outgoing message: ``{"state": queued|sent|failed, "detail", "at"}``."""
        if item.state == "sent":
            return {"state": "sent", "detail": "", "at": item.sent_at.isoformat() if item.sent_at else None}
        if item.state == "failed":
            return {"state": "failed", "detail": item.last_error or "", "at": None}
        detail = "" if self.options.relay_enabled else "the outgoing relay is off: it is sent once it is enabled"
        if item.attempts and item.last_error:
            detail = f"retrying after {item.attempts} failed attempt(s): {item.last_error}"
        return {"state": "queued", "detail": detail, "at": None}


# Messages up to this size are parsed on the reactor thread: a few milliseconds, cheaper than
# a trip to a worker process and back.
INLINE_PARSE_BYTES = 256 * 1024

Parse = Callable[[bytes, ParseLimits, "str | None"], Awaitable[ParsedMessage]]


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
