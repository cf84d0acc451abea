"""Raw RFC 5322 / MIME bytes to a :class:`ParsedMessage`, never raising, never dropping.

:func:`parse_message` is the single entry point. It decodes headers (RFC 2047, raw UTF-8),
picks the best text body (``text/plain`` preferred, else the HTML converted by
:mod:`channels.email.htmltext`), keeps the HTML, collects attachments with their size cap
decision, and records everything odd it met in ``problems``. A message it cannot parse at
all (empty, no header section, over the size cap, or a parser failure) comes back with
``unparseable=True``, a ``reason``, and ``raw`` kept, so the caller can store it and flag
it for a person instead of losing it.

The ``email`` package is used with the ``compat32`` policy: it is lenient, keeps raw 8-bit
bytes as surrogate escapes, and leaves charset decisions to :mod:`channels.email.charsets`,
which knows the lies real mail tells.
"""

from __future__ import annotations

import email
import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime
from email.message import Message
from email.policy import compat32

from channels.email.attachments import Attachment, AttachmentCollector
from channels.email.charsets import decode_bytes
from channels.email.headers import (
    Address,
    decode_header_text,
    message_ids,
    parse_addresses,
    parse_date,
    unfold,
)
from channels.email.htmltext import html_to_text

_HEADER_LINE = re.compile(rb"^(From |[!-9;-~]+[ \t]*:)")
# Headers that identify the content for the dedupe hash; transport headers (Received,
# Delivered-To, Return-Path) differ between deliveries of the same message and are left out.
_HASHED_HEADERS = ("message-id", "date", "from", "to", "cc", "subject")


@dataclass(frozen=True)
class ParseLimits:
    """Caps applied while parsing; every cap that bites is recorded, nothing is dropped.

    ``max_message_bytes``: larger messages are not parsed (``unparseable``, raw kept).
    ``max_attachment_bytes``: larger attachments keep size and hash but not their bytes.
    ``max_attachments``: attachments past this count keep size and hash but not bytes.
    ``max_text_chars``: the text and HTML bodies are cut here.
    ``max_parts`` / ``max_depth``: MIME parts past these are left in ``raw`` only.
    """

    max_message_bytes: int = 50 * 1024 * 1024
    max_attachment_bytes: int = 10 * 1024 * 1024
    max_attachments: int = 50
    max_text_chars: int = 1_000_000
    max_parts: int = 500
    max_depth: int = 20


@dataclass(frozen=True)
class ParsedMessage:
    """One received message, decoded. Message ids are given without angle brackets.

    ``from_`` is the first From mailbox (None when missing or unreadable). ``headers``
    holds every header in order as ``(lower-cased name, decoded value)``; use
    :meth:`header` and :meth:`header_all`. ``content_hash`` is a SHA-256 hex digest of the
    identifying headers and the body, stable across re-deliveries that only add transport
    headers. ``problems`` lists, in order, every oddity met and how it was handled.
    """

    raw: bytes
    unparseable: bool = False
    reason: str | None = None
    message_id: str | None = None
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    subject: str = ""
    from_: Address | None = None
    to: tuple[Address, ...] = ()
    cc: tuple[Address, ...] = ()
    reply_to: tuple[Address, ...] = ()
    date: datetime | None = None
    content_type: str = "text/plain"
    text: str = ""
    html: str | None = None
    attachments: tuple[Attachment, ...] = ()
    headers: tuple[tuple[str, str], ...] = ()
    content_hash: str = ""
    problems: tuple[str, ...] = ()

    def header(self, name: str) -> str | None:
        """The first decoded value of header ``name`` (any case), or None."""
        name = name.lower()
        for key, value in self.headers:
            if key == name:
                return value
        return None

    def header_all(self, name: str) -> list[str]:
        """Every decoded value of header ``name`` (any case), in order."""
        name = name.lower()
        return [value for key, value in self.headers if key == name]


@dataclass
class _Bodies:
    plain: list[str] = field(default_factory=list)
    html: list[str] = field(default_factory=list)


def parse_message(raw: bytes, limits: ParseLimits = ParseLimits()) -> ParsedMessage:
    """Parse ``raw`` (the bytes of one message, any line endings) under ``limits``.

    Never raises for bad input: see the module docstring. ``raw`` must be bytes-like;
    anything else is a programming error and raises ``TypeError``.
    """
    if not isinstance(raw, (bytes, bytearray, memoryview)):
        raise TypeError(f"raw must be bytes, not {type(raw).__name__}")
    raw = bytes(raw)
    if not raw.strip():
        return unparseable(raw, "empty message")
    if len(raw) > limits.max_message_bytes:
        return unparseable(raw, f"message of {len(raw)} bytes is over the {limits.max_message_bytes}-byte cap")
    if not _HEADER_LINE.match(raw.lstrip(b"\r\n")):
        return unparseable(raw, "no header section: the first line is not a header")
    try:
        return _parse(raw, limits)
    except Exception as exc:  # the email package fails on some pathological input; keep it raw
        return unparseable(raw, f"parser failure: {type(exc).__name__}: {exc}")


def unparseable(raw: bytes, reason: str) -> ParsedMessage:
    """A message that could not be parsed: raw kept, ``reason`` given, hash of the raw bytes."""
    return ParsedMessage(
        raw=raw, unparseable=True, reason=reason,
        content_hash=hashlib.sha256(raw).hexdigest(), problems=(reason,),
    )


def _parse(raw: bytes, limits: ParseLimits) -> ParsedMessage:
    msg = email.message_from_bytes(raw, policy=compat32)
    problems: list[str] = []
    hints = _charset_hints(msg)
    raw_headers = [(name.lower(), value) for name, value in msg.raw_items()]
    headers: list[tuple[str, str]] = []
    for name, value in raw_headers:
        text, found = decode_header_text(value, hints)
        problems.extend(f"{name}: {p}" for p in found)
        headers.append((name, text.strip()))

    def raw_all(name: str) -> list[str]:
        return [v for k, v in raw_headers if k == name]

    def first(name: str) -> str | None:
        values = raw_all(name)
        return values[0] if values else None

    ids = message_ids(first("message-id"))
    if not ids:
        problems.append("no Message-ID")
    addresses: dict[str, tuple[Address, ...]] = {}
    for name in ("from", "to", "cc", "reply-to"):
        found_addresses, found = parse_addresses(raw_all(name), hints)
        problems.extend(f"{name}: {p}" for p in found)
        addresses[name] = found_addresses
    if not addresses["from"]:
        problems.append("no readable From address")
    date, found = parse_date(first("date"))
    problems.extend(found)

    bodies = _Bodies()
    collector = AttachmentCollector(limits.max_attachment_bytes, limits.max_attachments)
    _walk(msg, 0, [0], limits, bodies, collector, hints, problems)
    problems.extend(collector.problems)

    html = "\n".join(bodies.html) if bodies.html else None
    if bodies.plain:
        text = "\n\n".join(bodies.plain)
    elif html is not None:
        text = html_to_text(html)
    else:
        text = ""
    text, html = _cap(text, "text", limits, problems), (_cap(html, "HTML", limits, problems) if html else html)

    subject = next((value for name, value in headers if name == "subject"), "")
    return ParsedMessage(
        raw=raw,
        message_id=ids[0] if ids else None,
        in_reply_to=(message_ids(first("in-reply-to")) or [None])[0],
        references=tuple(message_ids(first("references"))),
        subject=subject,
        from_=addresses["from"][0] if addresses["from"] else None,
        to=addresses["to"],
        cc=addresses["cc"],
        reply_to=addresses["reply-to"],
        date=date,
        content_type=msg.get_content_type(),
        text=text,
        html=html,
        attachments=tuple(collector.attachments),
        headers=tuple(headers),
        content_hash=content_hash(raw, raw_headers),
        problems=tuple(dict.fromkeys(problems)),
    )


def _charset_hints(msg: Message) -> tuple[str, ...]:
    """Every charset the message names: good guesses for parts that lie or say nothing."""
    seen: dict[str, None] = {}
    for part in msg.walk():
        charset = part.get_param("charset")
        if isinstance(charset, str) and charset:
            seen.setdefault(charset.lower(), None)
    return tuple(seen)


def _walk(part: Message, depth: int, count: list[int], limits: ParseLimits, bodies: _Bodies,
          collector: AttachmentCollector, hints: tuple[str, ...], problems: list[str]) -> None:
    count[0] += 1
    if count[0] > limits.max_parts:
        if count[0] == limits.max_parts + 1:
            problems.append(f"more than {limits.max_parts} MIME parts; the rest kept in raw only")
        return
    problems.extend(f"MIME defect: {type(d).__name__}" for d in part.defects)
    ctype = part.get_content_type()
    if part.is_multipart() and not ctype.startswith("message/"):
        if depth >= limits.max_depth:
            problems.append(f"MIME nesting deeper than {limits.max_depth}; inner parts kept in raw only")
            return
        subparts = part.get_payload()
        if ctype == "multipart/alternative":
            subparts = _preferred_alternatives(subparts)
        for sub in subparts:
            _walk(sub, depth + 1, count, limits, bodies, collector, hints, problems)
        return
    if ctype.startswith("multipart/"):
        problems.append(f"{ctype} without a usable boundary; its body is read as text")
        ctype = "text/plain"
    if collector.is_attachment(part, ctype):
        collector.add(part, ctype, hints)
        return
    data = part.get_payload(decode=True) or b""
    charset = part.get_param("charset")
    text, problem = decode_bytes(data, charset if isinstance(charset, str) else None, hints)
    if problem:
        problems.append(f"{ctype} body: {problem}")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if ctype == "text/html":
        bodies.html.append(text)
    else:
        if (part.get_param("format") or "").lower() == "flowed":
            text = unflow(text, (part.get_param("delsp") or "").lower() == "yes")
        bodies.plain.append(text.strip("\n"))


def _preferred_alternatives(subparts: list[Message]) -> list[Message]:
    """Of ``multipart/alternative`` parts, keep the plain and the HTML alternatives.

    A plain-text alternative that is empty while an HTML one has content is dropped: some
    senders put a stub ("view this mail in HTML") or nothing at all in the plain part.
    """
    plain = [p for p in subparts if p.get_content_type() == "text/plain"]
    others = [p for p in subparts if p.get_content_type() != "text/plain"]
    if plain and others and not all((p.get_payload(decode=True) or b"").strip() for p in plain):
        return others
    return plain[:1] + others if plain else others


def unflow(text: str, delsp: bool) -> str:
    """Join the soft-broken lines of a ``format=flowed`` body (RFC 3676).

    A line ending in a space continues on the next line of the same quote depth; the
    signature separator ``-- `` never flows; a leading space-stuffing space is removed.
    """
    out: list[str] = []
    pending: tuple[int, str] | None = None
    for line in text.split("\n"):
        depth = len(line) - len(line.lstrip(">"))
        body = line[depth:]
        if body.startswith(" "):
            body = body[1:]
        if pending is not None and pending[0] == depth:
            body = pending[1] + body
        elif pending is not None:
            out.append(">" * pending[0] + (" " if pending[0] else "") + pending[1])
        pending = None
        if body.endswith(" ") and body != "-- ":
            pending = (depth, body[:-1] if delsp else body)
            continue
        out.append(">" * depth + (" " if depth and body else "") + body)
    if pending is not None:
        out.append(">" * pending[0] + (" " if pending[0] else "") + pending[1])
    return "\n".join(out)


def _cap(text: str, what: str, limits: ParseLimits, problems: list[str]) -> str:
    if len(text) <= limits.max_text_chars:
        return text
    problems.append(f"{what} body cut at {limits.max_text_chars} characters (was {len(text)})")
    return text[: limits.max_text_chars]


def content_hash(raw: bytes, raw_headers: list[tuple[str, str]]) -> str:
    """SHA-256 hex of the identifying headers plus the body with line endings normalized.

    The same message delivered twice (IMAP re-fetch, SMTP retry, an extra Received header)
    hashes the same; a different body or sender does not.
    """
    digest = hashlib.sha256()
    for name in _HASHED_HEADERS:
        for key, value in raw_headers:
            if key == name:
                digest.update(name.encode() + b":" + " ".join(unfold(value).split()).encode("utf-8", "surrogateescape") + b"\n")
    cut = [i for i in (raw.find(b"\r\n\r\n"), raw.find(b"\n\n")) if i >= 0]
    body = raw[min(cut):] if cut else b""
    digest.update(b"\n" + body.replace(b"\r\n", b"\n").strip(b"\n"))
    return digest.hexdigest()
