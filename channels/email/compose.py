"""Composing outgoing mail: headers that thread, suppress loops, and carry no injected text.

:func:`compose` turns an :class:`OutgoingMessage` into the exact bytes the outbox stores and
the relay sends (CRLF line ends, UTF-8 text in a 7-bit transfer encoding, RFC 2047-encoded
headers where needed).

- Threading: ``Message-ID`` is ours (:func:`new_message_id`); a reply carries
  ``In-Reply-To`` (the message answered) and ``References`` (that message's references
  followed by its id, the oldest dropped past 20 so the header stays short).
- Automatic mail (acknowledgements, closed-hours notices) carries ``Auto-Submitted:
  auto-replied`` (RFC 3834) and ``X-Auto-Response-Suppress: All`` (which Exchange and
  Outlook honour), so well-behaved autoresponders do not answer it.
- Header values never carry line breaks: names and subjects from customers or templates
  have every run of white space (CR and LF included) collapsed to one space.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address as HeaderAddress
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime

_SPACES = re.compile(r"\s+")
MAX_REFERENCES = 20


def one_line(text: str | None) -> str:
    """``text`` with every run of white space, line breaks included, collapsed to one space."""
    return _SPACES.sub(" ", text or "").strip()


def new_message_id(token: str, domain: str) -> str:
    """A Message-ID (without angle brackets) from a unique ``token`` and our ``domain``.

    Raises ``ValueError`` when either part contains characters not allowed in a msg-id.
    """
    for part in (token, domain):
        if not part or not re.fullmatch(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+", part):
            raise ValueError(f"not usable in a Message-ID: {part!r}")
    return f"{token}@{domain}"


@dataclass(frozen=True)
class OutgoingMessage:
    """A message to compose. Addresses are plain ``local@domain`` strings; ids are given
    without angle brackets. ``automatic`` marks an automatic reply (see the module docstring).
    """

    from_address: str
    to: tuple[str, ...]
    subject: str
    text: str
    message_id: str
    date: datetime
    from_name: str = ""
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    automatic: bool = False
    reference: str | None = None


def _address(address: str, name: str = "") -> HeaderAddress:
    local, _, domain = address.partition("@")
    if not local or not domain or any(c in address for c in "\r\n<>\" ,;"):
        raise ValueError(f"not a plain email address: {address!r}")
    return HeaderAddress(display_name=one_line(name), username=local, domain=domain)


def compose(message: OutgoingMessage) -> bytes:
    """The RFC 5322 bytes of ``message`` (CRLF line ends); ``ValueError`` for a bad address."""
    return _compose_plain(message) or _compose_generic(message)


# What needs neither quoting nor encoding in a header: the plain case is written directly.
_PLAIN_ADDRESS = re.compile(r"[A-Za-z0-9._+-]+@[A-Za-z0-9.-]+")
_PLAIN_NAME = re.compile(r"[A-Za-z0-9]+( [A-Za-z0-9]+)*")
_PLAIN_VALUE = re.compile(r"[\x20-\x7e]*")
_FOLD_AT = 78  # the SMTP policy's max_line_length: longer header lines are folded by the email package


def _compose_plain(message: OutgoingMessage) -> bytes | None:
    """The bytes :func:`_compose_generic` makes, written directly for the common message (ASCII
    headers that need no quoting, encoding or folding; short ASCII text lines), else None.

    Building an ``EmailMessage`` costs about a millisecond, most of it in header parsing: an
    acknowledgement is composed for every new received message.
    """
    text = message.text
    if not text or not text.isascii() or _transfer_encoding(text) != "7bit":
        return None
    name = one_line(message.from_name)
    addresses = (message.from_address, *message.to)
    if not message.to or not all(_PLAIN_ADDRESS.fullmatch(a) for a in addresses) or \
            (name and not _PLAIN_NAME.fullmatch(name)):
        return None
    headers = [("From", f"{name} <{message.from_address}>" if name else message.from_address),
               ("To", ", ".join(message.to)), ("Subject", one_line(message.subject)),
               ("Date", format_datetime(message.date)), ("Message-ID", f"<{message.message_id}>")]
    if message.in_reply_to:
        headers.append(("In-Reply-To", f"<{message.in_reply_to}>"))
    references = [r for r in message.references if r][-(MAX_REFERENCES - 1):]
    if message.in_reply_to and message.in_reply_to not in references:
        references.append(message.in_reply_to)
    if references:
        headers.append(("References", " ".join(f"<{r}>" for r in references[-MAX_REFERENCES:])))
    if message.automatic:
        headers += [("Auto-Submitted", "auto-replied"), ("X-Auto-Response-Suppress", "All")]
    if message.reference:
        headers.append(("X-Callcenter-Reference", one_line(message.reference)))
    lines = []
    for key, value in headers:
        line = f"{key}: {value}"
        if not value or len(line) > _FOLD_AT or not _PLAIN_VALUE.fullmatch(value) or "=?" in value:
            return None
        lines.append(line)
    lines += ['Content-Type: text/plain; charset="utf-8"', "Content-Transfer-Encoding: 7bit", "MIME-Version: 1.0", ""]
    body = b"".join(line + b"\r\n" for line in text.encode("ascii").splitlines())
    return "\r\n".join(lines).encode("ascii") + b"\r\n" + body


def _compose_generic(message: OutgoingMessage) -> bytes:
    """Any message, through the email package (quoting, RFC 2047, folding, transfer encodings)."""
    msg = EmailMessage(policy=SMTP)
    msg["From"] = _address(message.from_address, message.from_name)
    msg["To"] = [_address(a) for a in message.to]
    msg["Subject"] = one_line(message.subject)
    msg["Date"] = format_datetime(message.date)
    msg["Message-ID"] = f"<{message.message_id}>"
    if message.in_reply_to:
        msg["In-Reply-To"] = f"<{message.in_reply_to}>"
    references = [r for r in message.references if r][-(MAX_REFERENCES - 1):]
    if message.in_reply_to and message.in_reply_to not in references:
        references.append(message.in_reply_to)
    if references:
        msg["References"] = " ".join(f"<{r}>" for r in references[-MAX_REFERENCES:])
    if message.automatic:
        msg["Auto-Submitted"] = "auto-replied"
        msg["X-Auto-Response-Suppress"] = "All"
    if message.reference:
        msg["X-Callcenter-Reference"] = one_line(message.reference)
    msg.set_content(message.text, charset="utf-8", cte=_transfer_encoding(message.text))
    return msg.as_bytes()


def _transfer_encoding(text: str) -> str:
    """A 7-bit transfer encoding for ``text``: the bytes we send never need ``BODY=8BITMIME``
    (which not every relay offers): plain ASCII as is, mostly-ASCII text quoted-printable (still
    readable raw) as are lines over SMTP's 998 octets, the rest (Chinese, Cyrillic...) base64,
    the shorter of the two there."""
    if text.isascii() and all(len(line) <= 998 for line in text.splitlines()):
        return "7bit"
    non_ascii = sum(1 for c in text if not c.isascii())
    return "quoted-printable" if non_ascii * 5 < len(text) else "base64"
