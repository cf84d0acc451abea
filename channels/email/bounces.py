"""Bounces: delivery status notifications (RFC 3464) and the common non-standard kinds.

:func:`parse_bounce` returns a :class:`Bounce` for a message that reports a delivery
problem, or None for any other message. For a standard DSN (``multipart/report;
report-type=delivery-status``) it reads every per-recipient block of the
``message/delivery-status`` part; for a non-standard bounce (from MAILER-DAEMON or
postmaster, or with a bounce subject, as sent by qmail, older Exim and Postfix setups and
some hosted mail services) it reads ``X-Failed-Recipients`` and the SMTP codes and
addresses in the text. In both cases the original Message-ID comes from the returned
message or headers, so the caller can attach the bounce to the interaction that sent it.

Permanent means the address should be marked as bouncing: a 5.x.x status (or a 5xx SMTP
reply when no enhanced status is given). A 4.x.x status or a ``delayed`` action is
transient. A non-standard bounce with no code at all counts as permanent unless its text
says the delivery is delayed or will be retried.
"""

from __future__ import annotations

import email
import re
from dataclasses import dataclass
from email.message import Message
from email.parser import BytesHeaderParser
from email.policy import compat32

from channels.email.headers import message_ids, normalize_address, raw_8bit_text, unfold
from channels.email.parsing import ParsedMessage

_BOUNCE_SUBJECT = re.compile(
    r"undeliver|undelivered mail|returned mail|delivery (status notification|failure|has failed|failed)|"
    r"mail delivery (failed|failure|subsystem)|failure notice|could not be delivered|"
    r"delivery status|nondeliverable|退信|无法投递|未能送达|投递失败",
    re.IGNORECASE,
)
_ENHANCED = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
_SMTP_REPLY = re.compile(r"\b([45])\d\d[ -]")
_ADDRESS = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
_TRANSIENT_WORDS = re.compile(r"delayed|will (be )?retr|temporar|not yet been delivered|try again later", re.IGNORECASE)
_ORIGINAL_START = re.compile(
    r"^(-+ ?(this is a copy of|original message|below this line|undelivered message)|"
    r"(message-id|received|return-path)\s*:)",
    re.IGNORECASE | re.MULTILINE,
)
_DAEMONS = ("mailer-daemon", "postmaster")
_DSN_TYPES = ("delivery-status", "global-delivery-status")
_ORIGINAL_ID_FIELD = re.compile(r"^original-message-id\s*:\s*(.+)$", re.IGNORECASE | re.MULTILINE)


def _is_feedback(parsed: ParsedMessage) -> bool:
    """An abuse report sent without the ARF structure (``Feedback-Type`` in the headers)."""
    return parsed.header("feedback-type") is not None


@dataclass(frozen=True)
class BouncedRecipient:
    """One recipient a bounce reports on.

    ``action`` is the DSN action (``failed``, ``delayed``, ``delivered``, ``relayed``,
    ``expanded``) or ``failed``/``delayed`` inferred for non-standard bounces; ``status``
    the enhanced status code (``5.1.1``) when known; ``diagnostic`` the remote server's
    text when given.
    """

    address: str
    action: str
    status: str | None
    permanent: bool
    diagnostic: str | None = None


@dataclass(frozen=True)
class Bounce:
    """A delivery report. ``permanent`` is True when any recipient failed permanently.

    ``standard`` is True for an RFC 3464 DSN. ``original_message_id`` is the id of the
    message that bounced (without angle brackets), when the report carries it.
    """

    original_message_id: str | None
    recipients: tuple[BouncedRecipient, ...]
    permanent: bool
    standard: bool
    reporting_mta: str | None = None

    @property
    def failed_addresses(self) -> tuple[str, ...]:
        """Addresses that failed permanently: the ones to mark as bouncing."""
        return tuple(r.address for r in self.recipients if r.permanent)


def _is_daemon(parsed: ParsedMessage) -> bool:
    sender = parsed.from_.address if parsed.from_ else ""
    return sender.split("@", 1)[0] in _DAEMONS


def looks_like_bounce(parsed: ParsedMessage) -> bool:
    """True when ``parsed`` is a DSN or looks like a non-standard bounce.

    A non-standard bounce needs two signs: a daemon sender, a bounce-like subject, or an
    ``X-Failed-Recipients`` header (one alone is common in ordinary mail that quotes one).
    """
    if parsed.unparseable:
        return False
    if parsed.content_type == "multipart/report":
        # Read receipts (disposition-notification) and abuse reports (feedback-report, RFC
        # 5965) are reports but no bounce: they must never mark an address as bouncing.
        return parsed.report_type in _DSN_TYPES or (
            not parsed.report_type and b"delivery-status" in parsed.raw[:1_000_000].lower())
    if parsed.report_type is None and parsed.header("x-failed-recipients") is None and _is_feedback(parsed):
        return False
    signs = [
        _is_daemon(parsed),
        bool(_BOUNCE_SUBJECT.search(parsed.subject)),
        parsed.header("x-failed-recipients") is not None,
        parsed.header("return-path") is not None and normalize_address(parsed.header("return-path") or "") == "",
    ]
    return sum(signs) >= 2


def parse_bounce(parsed: ParsedMessage) -> Bounce | None:
    """The :class:`Bounce` that ``parsed`` reports, or None when it is no bounce."""
    if not looks_like_bounce(parsed):
        return None
    msg = email.message_from_bytes(parsed.raw, policy=compat32)
    report = _find_delivery_status(msg)
    if report is not None:
        return _standard(msg, report)
    return _non_standard(parsed, msg)


def _find_delivery_status(msg: Message) -> Message | None:
    for part in msg.walk():
        if part.get_content_type() in ("message/delivery-status", "message/global-delivery-status"):
            return part
    return None


def _field(block: Message, name: str) -> str:
    """The first ``name`` field of a DSN block as text ("" when absent); raw 8-bit bytes (a
    remote server's diagnostic in UTF-8) are decoded, never left to ``email.header``."""
    for key, value in block.raw_items():
        if key.lower() == name:
            return raw_8bit_text(unfold(str(value)))[0]
    return ""


def _status_permanent(status: str | None, action: str) -> bool:
    if status:
        return status.startswith("5")
    return action == "failed"


def _standard(msg: Message, report: Message) -> Bounce:
    blocks = report.get_payload()
    if not isinstance(blocks, list):  # an unparsed body: read it as header blocks ourselves
        text = str(blocks)
        blocks = [email.message_from_string(b, policy=compat32) for b in re.split(r"\r?\n\r?\n", text) if b.strip()]
    per_message = blocks[0] if blocks else Message()
    recipients = []
    for block in blocks[1:]:
        final = _field(block, "final-recipient") or _field(block, "original-recipient")
        address = normalize_address(final.split(";", 1)[-1])
        if not address:
            continue
        action = _field(block, "action").strip().lower()
        m = _ENHANCED.search(_field(block, "status"))
        status = m.group(0) if m else None
        diagnostic = _field(block, "diagnostic-code")
        diagnostic = " ".join(diagnostic.split(";", 1)[-1].split()) if diagnostic else None
        recipients.append(BouncedRecipient(address, action or "failed", status, _status_permanent(status, action), diagnostic))
    mta = _field(per_message, "reporting-mta")
    return Bounce(
        original_message_id=_original_id(msg) or _referenced_id(msg),
        recipients=tuple(recipients),
        permanent=any(r.permanent for r in recipients),
        standard=True,
        reporting_mta=mta.split(";", 1)[-1].strip() if mta else None,
    )


def _original_id(msg: Message) -> str | None:
    """The Message-ID of the returned message (``message/rfc822`` or ``text/rfc822-headers``)."""
    for part in msg.walk():
        ctype = part.get_content_type()
        if ctype in ("message/rfc822", "message/global") and part.is_multipart():
            ids = message_ids(part.get_payload(0).get("message-id"))
            if ids:
                return ids[0]
        elif ctype in ("text/rfc822-headers", "message/global-headers"):
            data = part.get_payload(decode=True) or b""
            ids = message_ids(BytesHeaderParser(policy=compat32).parsebytes(data).get("message-id"))
            if ids:
                return ids[0]
    return None


def _referenced_id(msg: Message) -> str | None:
    """The id a report's own In-Reply-To or References names (Gmail and Exchange set them)."""
    for name in ("in-reply-to", "references"):
        ids = message_ids(msg.get(name))
        if ids:
            return ids[-1] if name == "references" else ids[0]
    return None


def report_original_message_id(parsed: ParsedMessage) -> str | None:
    """The Message-ID (without brackets) of the message a report or bounce is about, or None.

    Works for every kind: a DSN or bounce (the returned message or its headers), a read
    receipt (the ``Original-Message-ID`` field of RFC 8098), an abuse feedback report (the
    attached message), and falls back to the report's own In-Reply-To and References. The
    caller decides what a match means; it is only a claim made by the report's sender.
    """
    if parsed.unparseable:
        return None
    msg = email.message_from_bytes(parsed.raw, policy=compat32)
    found = _original_id(msg)
    if found:
        return found
    for part in msg.walk():
        if part.get_content_type() == "message/disposition-notification":
            body = part.get_payload()
            text = body if isinstance(body, str) else "\n".join(str(p) for p in body) if isinstance(body, list) else ""
            m = _ORIGINAL_ID_FIELD.search(text)
            if m and message_ids(m.group(1)):
                return message_ids(m.group(1))[0]
    return _referenced_id(msg)


def _non_standard(parsed: ParsedMessage, msg: Message) -> Bounce | None:
    text = parsed.text
    original = _original_id(msg)
    if original is None:
        m = re.search(r"^\s*message-id\s*:\s*(<[^>\s]+>)", text, re.IGNORECASE | re.MULTILINE)
        original = message_ids(m.group(1))[0] if m else None
    # The report comes before the returned copy; addresses after that point are the
    # original's own headers (our address, the CCs) and must not be taken as failures.
    cut = _ORIGINAL_START.search(text)
    report_text = text[: cut.start()] if cut else text
    own = {parsed.from_.address} if parsed.from_ else set()
    listed = [normalize_address(a) for h in parsed.header_all("x-failed-recipients") for a in h.split(",")]
    addresses = list(dict.fromkeys(a for a in listed if a)) or list(
        dict.fromkeys(a.lower() for a in _ADDRESS.findall(report_text) if a.lower() not in own)
    )
    enhanced = _ENHANCED.search(report_text)
    reply = _SMTP_REPLY.search(report_text)
    if enhanced:
        status = enhanced.group(0)
        permanent = status.startswith("5")
    elif reply:
        status = None
        permanent = reply.group(1) == "5"
    else:
        status = None
        permanent = not _TRANSIENT_WORDS.search(report_text)
    if not addresses and original is None:
        return None
    action = "failed" if permanent else "delayed"
    recipients = tuple(BouncedRecipient(a, action, status, permanent) for a in addresses)
    return Bounce(original, recipients, permanent and bool(recipients), standard=False)
