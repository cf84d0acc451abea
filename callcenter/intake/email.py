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
   becomes of each kind of message). The rules are matched there, before the interaction's
   row is written (pure), and a new interaction is stored already queued, with its
   ``routed`` entry (:meth:`MailFlow.placement`, the intake pipeline's placement). The sink
   returns (and the listener answers ``250``) only after that commit; a re-delivery finds
   the message stored and writes nothing;
3. then, after the commit, announces: a new or reopened interaction with
   ``on_new_interaction(interaction, MailRouting)`` (the application hands it to the
   routing core: :func:`callcenter.intake.email_routing.route_stored`, which writes no state
   change), a reply to open work with ``on_customer_reply(interaction)``, and wakes the
   outbox when an acknowledgement was queued. A crash between the commit and the
   announcement leaves a queued interaction, which the rebuild on start puts back in line
   from its ``queued_at`` (:mod:`callcenter.dispatch.recovery`).

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
template's greeting and signature), a template name is rendered whole
(:mod:`callcenter.intake.email_outgoing` composes everything we send).
:meth:`MailFlow.screen_content` is the email part of the screen pop
(:mod:`callcenter.intake.email_screen`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Awaitable, Callable, Mapping

from sqlalchemy.exc import IntegrityError
from twisted.logger import Logger

from callcenter.runtime.clock import Clock
from callcenter.intake.email_arrival import arrival_of
from callcenter.intake.email_outgoing import MailOutgoing
from callcenter.intake.email_screen import MailScreen
from callcenter.intake.pipeline import Placement, placement
from callcenter.records.mail import MailStore
from callcenter.records.mail_outbox import OutboxItem
from callcenter.records.mail_ingest import Acknowledgement, Arrival, Ingested
from callcenter.records.mail_ingest_batch import MailIngest
from callcenter.records.model import Customer, Interaction
from callcenter.records.store import RecordStore
from channels.email.parsing import ParseLimits, ParsedMessage, parse_message
from channels.email.sink import MailEnvelope, MailReceipt
from channels.email.threading import DEFAULT_PREFIX

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
        self._mail = mail
        self._route = route
        self._queue_open = queue_open
        self._on_new = on_new_interaction
        self._on_reply = on_customer_reply
        self._wake = wake_outbox or (lambda: None)
        self.options = options
        self._ingest = MailIngest(mail, clock)
        self._parse = parse
        self._outgoing = MailOutgoing(records=records, mail=mail, clock=clock, settings=settings, options=options,
                                      new_token=new_token, wake_outbox=self._wake)
        self._screen = MailScreen(mail, options.relay_enabled)
        self._default_tier = records.tiers[0]

    @property
    def settings(self) -> Any:
        """The running configuration (set again on a reload: templates, queues, tiers)."""
        return self._outgoing.settings

    @settings.setter
    def settings(self, settings: Any) -> None:
        self._outgoing.settings = settings

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
        return self._default_tier

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

    def placement(self, match: Any, now: datetime, queue: str) -> Placement:
        """A new email interaction is stored queued in ``queue``, with its ``routed`` entry, as
        the intake pipeline stores every channel's contact (email is never refused: a closed
        queue's action for email is to queue it and answer with the closed-hours template)."""
        return placement(match, now, queue=queue)

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
            outgoing = self._outgoing.outgoing(template, customer.language, context, interaction.id, from_address,
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


    # --- what we send (callcenter.intake.email_outgoing) and the screen (callcenter.intake.email_screen) ---

    def reference(self, interaction_id: int) -> str:
        """The reference customers see, e.g. ``CC-123``; the subject tag is ``[#CC-123]``."""
        return self._outgoing.reference(interaction_id)

    def notice_in_write(self, to: str, subject: str, body: str, kind: str) -> Callable[[Any, Any, Any], bool]:
        """An automatic message about the interaction a contact's write creates, queued by that
        write (:meth:`MailOutgoing.notice_in_write`); :meth:`wake_outbox` once it committed."""
        return self._outgoing.notice_in_write(to, subject, body, kind)

    def wake_outbox(self) -> None:
        """Ask the outbox sender to send now."""
        self._wake()

    async def send_notice(self, interaction_id: int | None, to: tuple[str, ...] | str, subject: str, body: str,
                          kind: str) -> Any:
        """Queue an automatic message rendered elsewhere (:meth:`MailOutgoing.send_notice`)."""
        return await self._outgoing.send_notice(interaction_id, to, subject, body, kind)

    async def reply_draft(self, interaction_id: int, agent: str, **kwargs: Any) -> dict[str, str]:
        """The reply template's greeting and signature for the agent (:meth:`MailOutgoing.reply_draft`)."""
        return await self._outgoing.reply_draft(interaction_id, agent, **kwargs)

    async def send_reply(self, interaction_id: int, agent: str, template_or_body: str, **kwargs: Any) -> OutboxItem:
        """Queue an agent's answer on an email interaction (:meth:`MailOutgoing.send_reply`)."""
        return await self._outgoing.send_reply(interaction_id, agent, template_or_body, **kwargs)

    async def screen_content(self, interaction: Any) -> dict[str, Any]:
        """The email part of a screen pop (:meth:`MailScreen.screen_content`)."""
        return await self._screen.screen_content(interaction)

    async def attachment_file(self, interaction_id: int, attachment_id: int) -> tuple[Any, bytes]:
        """An attachment of ``interaction_id``'s mail (:meth:`MailScreen.attachment_file`)."""
        return await self._screen.attachment_file(interaction_id, attachment_id)

    async def raw_message(self, interaction_id: int, message_id: int) -> bytes:
        """A message's bytes as received or sent (:meth:`MailScreen.raw_message`)."""
        return await self._screen.raw_message(interaction_id, message_id)

    def delivery(self, item: OutboxItem) -> dict[str, Any]:
        """What the desktop shows of an outgoing message (:meth:`MailScreen.delivery`)."""
        return self._screen.delivery(item)


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
