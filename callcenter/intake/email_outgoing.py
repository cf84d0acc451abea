"""What the email flow sends: acknowledgements' and agents' replies, and notices, composed once.

:class:`MailOutgoing` renders a message (a template in the customer's language, or an
agent's text as written), gives it our Message-ID and the subject tag ``[#CC-n]``, and
queues it in the outbox (:mod:`callcenter.records.mail_outbox`); the outbox sender delivers
it. :meth:`MailOutgoing.send_reply` queues an agent's answer (the desktop starts it from
:meth:`MailOutgoing.reply_draft`, the reply template's greeting and signature);
:meth:`MailOutgoing.send_notice` an automatic message rendered elsewhere (an alert, the daily
summary). The acknowledgement of a received message is composed by :meth:`MailOutgoing.outgoing`
inside the transaction that stores it, and a form's confirmation by
:meth:`MailOutgoing.notice_in_write` inside the transaction that stores the submission.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any, Callable, Mapping

from callcenter.records.mail import MailStore
from callcenter.records.mail_messages import NewMessage
from callcenter.records.mail_outbox import NewOutgoing, OutboxItem
from callcenter.records.model import Customer, Interaction
from callcenter.records.store import RecordStore
from callcenter.runtime.clock import Clock
from channels.email.compose import OutgoingMessage, compose, new_message_id, one_line
from channels.email.threading import tag_subject


class MailOutgoing:
    """Composes and queues what we send, over the record (``records``) and the mail tables
    (``mail``). ``settings`` supplies ``email`` (mailboxes, relay, reply template) and
    ``templates`` (the flow sets it again on a reload); ``options`` the subject tag's prefix
    and the domain of our Message-IDs; ``new_token()`` a unique string for Message-IDs;
    ``wake_outbox()`` asks the outbox sender to send now."""

    def __init__(self, *, records: RecordStore, mail: MailStore, clock: Clock, settings: Any, options: Any,
                 new_token: Callable[[], str], wake_outbox: Callable[[], Any]) -> None:
        self._records = records
        self._mail = mail
        self._clock = clock
        self.settings = settings
        self.options = options
        self._token = new_token
        self._wake = wake_outbox

    def reference(self, interaction_id: int) -> str:
        """The reference customers see, e.g. ``CC-123``; the subject tag is ``[#CC-123]``."""
        return f"{self.options.reference_prefix}-{interaction_id}"

    def outgoing(self, template: str | None, language: str | None, context: Mapping[str, Any], interaction_id: int,
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

    def notice(self, interaction_id: int | None, recipients: tuple[str, ...], subject: str, body: str, kind: str,
               *, message_id: str | None = None, date: Any = None) -> NewOutgoing:
        """An automatic message rendered elsewhere, composed: from the relay's address, with our
        Message-ID (``message_id``, else a new one), ``Auto-Submitted: auto-replied``, and about
        ``interaction_id`` (if any) the subject tag; it then counts against the recipients'
        automatic-reply cap. Pure: safe on a database thread when ``message_id`` and ``date`` are given."""
        from_address = self.settings.email.relay.from_address
        message_id = message_id or new_message_id(self._token(), self.options.domain)
        tagged = subject if interaction_id is None else tag_subject(subject, interaction_id,
                                                                    self.options.reference_prefix, reply=False)
        raw = compose(OutgoingMessage(
            from_address=from_address, to=recipients, text=body, message_id=message_id,
            date=date or self._clock.utcnow(), subject=tagged, automatic=True,
            reference=None if interaction_id is None else self.reference(interaction_id)))
        # Our own message is never delivered to us twice: its bytes' hash is its content hash.
        message = NewMessage(raw=raw, direction="outbound", message_id=message_id,
                             content_hash=hashlib.sha256(raw).hexdigest(), mailbox=None, sender=from_address,
                             subject=one_line(tagged), body_text=body, details={"to": list(recipients), "kind": kind})
        return NewOutgoing(message, interaction_id, kind, from_address, recipients,
                           counts_as_auto_reply=interaction_id is not None)

    async def send_notice(self, interaction_id: int | None, to: tuple[str, ...] | str, subject: str, body: str,
                          kind: str) -> Any:
        """Queue an automatic message rendered elsewhere (an alert, the daily summary) to ``to``
        (see :meth:`notice`), in a write of its own."""
        recipients = (to,) if isinstance(to, str) else tuple(to)
        item = await self._mail.enqueue(self.notice(interaction_id, recipients, subject, body, kind))
        self._wake()
        return item

    def notice_in_write(self, to: str, subject: str, body: str, kind: str) -> Callable[[Any, Any, Any], bool]:
        """:meth:`notice` to ``to`` about the interaction a contact's write creates, as a unit of
        work of that write (:meth:`MailStore.queue_in_write`: the cap applies; True if queued).
        Its Message-ID is taken now; it is dated at the interaction's creation. Call
        :meth:`wake` once that write has committed."""
        message_id = new_message_id(self._token(), self.options.domain)
        return self._mail.queue_in_write(lambda interaction: self.notice(
            interaction.id, (to,), subject, body, kind, message_id=message_id, date=interaction.created_at))

    def wake(self) -> None:
        """Ask the outbox sender to send now (after a write that queued a message committed)."""
        self._wake()

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
        outgoing = self.outgoing(template, lang, fields, interaction_id, from_address, last.sender, "reply",
                                  automatic=False, answered_id=last.message_id, answered_refs=references,
                                  body=body, subject=subject)
        item = await self._mail.enqueue(outgoing)
        bouncing = await self._mail.bouncing(last.sender)
        await self._records.append_event(interaction_id, "mail_reply_queued", actor=agent, details={
            "outbox_id": item.id, "to": last.sender, "template": template if is_template else None,
            **({"warning": f"{last.sender} is bouncing ({bouncing.status})"} if bouncing else {})})
        self._wake()
        return item
