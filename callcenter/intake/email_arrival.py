"""A received message, decided before the record is touched: pure steps, no I/O.

:func:`arrival_of` turns a parsed message and its envelope into the
:class:`~callcenter.records.mail_ingest.Arrival` the record stores in one transaction: the
message's record (:func:`new_message`, with where its quoted history starts), the sender's
contact key, name and language, the thread keys (In-Reply-To/References, the subject tag
``[#CC-n]``), whether it is a delivery report (and the Message-ID it reports on), the loop
guard's verdict, the routing facts that do not depend on the customer, the log entry and
the new interaction's payload.
"""

from __future__ import annotations

from typing import Any

from callcenter.records.errors import InvalidContact
from callcenter.records.mail_ingest import Arrival, BouncedAddress, Sender
from callcenter.records.mail_messages import NewAttachment, NewMessage
from callcenter.records.normalize import normalize_email
from channels.email.bounces import parse_bounce
from channels.email.compose import one_line
from channels.email.loopguard import is_automatic
from channels.email.parsing import ParsedMessage
from channels.email.quoting import split_quoted
from channels.email.sink import MailEnvelope
from channels.email.threading import find_reference, thread_keys


def arrival_of(parsed: ParsedMessage, envelope: MailEnvelope, own_addresses: tuple[str, ...], reference_prefix: str) -> Arrival:
    """Everything decided about a received message before the record is touched (pure).

    ``own_addresses`` are the addresses we send from (mail from them is a loop);
    ``reference_prefix`` the subject tag's (``CC`` for ``[#CC-12]``)."""
    message = new_message(parsed, envelope)
    sender = _sender(parsed)
    bounce = None if parsed.unparseable else parse_bounce(parsed)
    automatic = None
    if not parsed.unparseable:
        automatic = is_automatic(parsed, own_addresses, envelope.mail_from)
        if automatic is not None and parsed.from_ is None and automatic.startswith("no sender"):
            automatic = None  # a person who wrote without a From: still reaches an agent
    payload: dict[str, Any] = {"mailbox": envelope.mailbox, "from": sender.value, "message_id": parsed.message_id,
                               "content_hash": parsed.content_hash}
    if sender.value is None and sender.raw:
        payload["sender_as_written"] = sender.raw[:320]
    if parsed.sender_source not in (None, "from"):
        payload["sender_source"] = parsed.sender_source
    if parsed.unparseable:
        payload.update(unreadable=True, reason=(parsed.reason or "")[:300], mail_from=envelope.mail_from)
    return Arrival(
        message=message, sender=sender, mailbox=envelope.mailbox,
        parents=tuple(thread_keys(parsed).parents) if not parsed.unparseable else (),
        reference=find_reference(parsed.subject, reference_prefix),
        is_bounce=bounce is not None,
        bounce_original=getattr(parsed, "bounce_message_id", None) or (bounce.original_message_id if bounce else None),
        bounced=tuple(BouncedAddress(r.address, r.status, r.diagnostic, r.permanent)
                      for r in (bounce.recipients if bounce else ())),
        automatic=automatic, unreadable=parsed.unparseable, subject=one_line(parsed.subject)[:998],
        facts={"channel": "email", "to": envelope.mailbox, "subject": parsed.subject, "body": parsed.text[:20000]},
        details=_log_details(parsed), payload=payload)


def _sender(parsed: ParsedMessage) -> Sender:
    """The sender as the record keys it: a normalized address, or None when there is no usable one."""
    language = _language(parsed)
    found = parsed.from_
    if found is None:
        return Sender(None, "", None, language)
    name = found.name.strip()
    if "@" in name or name.lower() == found.address.lower():
        name = ""  # display text that looks like an address is no name
    try:
        return Sender(normalize_email(found.address), name, found.address, language)
    except InvalidContact:
        return Sender(None, name, found.address, language)


def _language(parsed: ParsedMessage) -> str | None:
    """The primary subtag of the language the parser found (declared, script, charset), or None."""
    found = (parsed.language or "").strip()
    return found.split("-")[0].split("_")[0].lower()[:8] or None


def _log_details(parsed: ParsedMessage) -> dict[str, Any]:
    return {"message_id": parsed.message_id, "from": parsed.from_.address if parsed.from_ else None,
            "subject": one_line(parsed.subject)[:300], "attachments": len(parsed.attachments)}


def new_message(parsed: ParsedMessage, envelope: MailEnvelope) -> NewMessage:
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
        "from_name": (parsed.from_.name if parsed.from_ else "")[:200],
    }
    attachments = tuple(NewAttachment(a.filename, a.content_type, a.size, a.sha256, a.content, a.skipped, a.inline,
                                      a.content_id) for a in parsed.attachments)
    return NewMessage(
        raw=parsed.raw, direction="inbound", message_id=parsed.message_id, content_hash=parsed.content_hash,
        mailbox=envelope.mailbox, sender=parsed.from_.address if parsed.from_ else None, subject=parsed.subject,
        body_text=parsed.text, unparseable=parsed.unparseable, reason=parsed.reason, details=details,
        attachments=attachments)
