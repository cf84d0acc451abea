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
from channels.email.language import guess_language, has_other_script
from channels.email.quoting import split_quoted

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

    ``from_`` is the first valid From mailbox; without one it falls back to the Sender
    header, then Return-Path, then the envelope sender given to :func:`parse_message`, and
    ``sender_source`` names which (``from``, ``sender``, ``return-path``, ``envelope``; None
    when there is no sender at all). ``language`` is a guess at the language the message is
    written in (a primary subtag such as ``zh``; see :mod:`channels.email.language`).
    ``report_type`` is the ``report-type`` of a ``multipart/report`` message
    (``delivery-status``, ``disposition-notification``, ``feedback-report``...). ``headers``
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
    sender_source: str | None = None
    language: str | None = None
    report_type: str | None = None

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
    languages: list[str] = field(default_factory=list)
    charsets: list[str] = field(default_factory=list)


def parse_message(raw: bytes, limits: ParseLimits = ParseLimits(), envelope_sender: str | None = None) -> ParsedMessage:
    """Parse ``raw`` (the bytes of one message, any line endings) under ``limits``.

    ``envelope_sender`` (the SMTP ``MAIL FROM``, when known) is the last fallback for the
    sender. Never raises for bad input: see the module docstring. ``raw`` must be
    bytes-like; anything else is a programming error and raises ``TypeError``.
    """
    if not isinstance(raw, (bytes, bytearray, memoryview)):
        raise TypeError(f"raw must be bytes, not {type(raw).__name__}")
    raw = bytes(raw)
    if not raw.strip():
        return unparseable(raw, "empty message")
    if len(raw) > limits.max_message_bytes:
        return unparseable(raw, f"message of {len(raw)} bytes is over the {limits.max_message_bytes}-byte cap")
    text, repairs = repair_header_section(raw)
    if not _HEADER_LINE.match(text):
        return unparseable(raw, "no header section: the first line is not a header")
    try:
        return _parse(raw, text, repairs, limits, envelope_sender)
    except Exception as exc:  # the email package fails on some pathological input; keep it raw
        return unparseable(raw, f"parser failure: {type(exc).__name__}: {exc}")


def unparseable(raw: bytes, reason: str) -> ParsedMessage:
    """A message that could not be parsed: raw kept, ``reason`` given, hash of the raw bytes."""
    return ParsedMessage(
        raw=raw, unparseable=True, reason=reason,
        content_hash=hashlib.sha256(raw).hexdigest(), problems=(reason,),
    )


_BLANK_LINE = re.compile(rb"[ \t]*\r?\n")
_LINE = re.compile(rb"[^\n]*\n|[^\n]+$")
_FIELD = re.compile(rb"^[!-9;-~]+[ \t]*:")
_OBS_FIELD = re.compile(rb"^([!-9;-~]+)[ \t]+:")
_HEADER_END = re.compile(rb"\n[ \t]*\r?\n")


def repair_header_section(raw: bytes) -> tuple[bytes, list[str]]:
    """The bytes to parse, and what was repaired, for a header section that breaks RFC 5322.

    Leading blank or white-space-only lines (a stripped mbox separator) are skipped, and
    a line inside the header section that is neither a field nor a continuation is folded
    into the field before it when more fields follow it before the blank line: otherwise
    the rest of the header section (often From and Subject) would become body text. White
    space before a field's colon (``Subject : x``, RFC 5322's obsolete syntax) is removed.
    ``raw`` itself is never changed.
    """
    repairs: list[str] = []
    pos = 0
    while (m := _BLANK_LINE.match(raw, pos)) is not None and m.end() > pos:
        pos = m.end()
    if pos:
        repairs.append("blank lines before the header section skipped")
    text = raw[pos:]
    blank = _HEADER_END.search(text, 0, 256 * 1024)
    lines = _LINE.findall(text[: blank.end() if blank else 256 * 1024])
    end = next((i for i, line in enumerate(lines) if not line.strip()), len(lines))
    last_field = max((i for i, line in enumerate(lines[:end]) if _FIELD.match(line)), default=-1)
    fixed: list[bytes] = []
    changed = False
    for index, line in enumerate(lines[:end]):
        body = line.rstrip(b"\r\n")
        obsolete = _OBS_FIELD.match(body)
        if obsolete:  # never an mbox "From " line: that has no colon right after the name
            # RFC 5322 section 4.5 obsolete syntax: white space before the colon.
            repairs.append(f"white space before the colon of {obsolete.group(1).decode('ascii', 'replace')!r} removed")
            fixed.append(obsolete.group(1) + b":" + line[obsolete.end():])
            changed = True
            continue
        if index == 0 or _FIELD.match(body) or body[:1] in (b" ", b"\t"):
            fixed.append(line)
            continue
        if index > last_field:
            break  # the header section really ends here; the rest is body
        repairs.append(f"stray line in the header section folded: {body[:60].decode('ascii', 'replace')!r}")
        fixed.append(b" " + line)
        changed = True
    if changed:
        consumed = sum(len(line) for line in lines[: len(fixed)])
        text = b"".join(fixed) + text[consumed:]
    return text, repairs


def _parse(raw: bytes, text: bytes, repairs: list[str], limits: ParseLimits, envelope_sender: str | None) -> ParsedMessage:
    msg = email.message_from_bytes(text, policy=compat32)
    problems: list[str] = list(repairs)
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
    for name in ("from", "to", "cc", "reply-to", "sender", "return-path"):
        found_addresses, found = parse_addresses(raw_all(name), hints)
        problems.extend(f"{name}: {p}" for p in found)
        addresses[name] = found_addresses
    sender, sender_source = _sender(addresses, envelope_sender)
    if sender_source != "from":
        problems.append(f"no readable From address; the sender is taken from {sender_source or 'nowhere'}")
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
        from_=sender,
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
        sender_source=sender_source,
        language=guess_language(
            [v for k, v in headers if k == "content-language"] + bodies.languages,
            # Only text in a non-Latin script can decide; the quote split is skipped otherwise.
            subject + "\n" + (split_quoted(text).new or text) if has_other_script(subject + text) else subject,
            bodies.charsets),
        report_type=_report_type(msg),
    )


def _sender(addresses: dict[str, tuple[Address, ...]], envelope_sender: str | None) -> tuple[Address | None, str | None]:
    """The first valid sender in order From, Sender, Return-Path, envelope; and where it came from."""
    for name in ("from", "sender", "return-path"):
        if addresses[name]:
            return addresses[name][0], name
    if envelope_sender:
        found, _ = parse_addresses([f"<{envelope_sender.strip().strip('<>')}>"])
        if found:
            return found[0], "envelope"
    return None, None


def _report_type(msg: Message) -> str | None:
    """The ``report-type`` of a ``multipart/report`` message, lower-cased (``""`` when missing)."""
    if msg.get_content_type() != "multipart/report":
        return None
    value = msg.get_param("report-type")
    return value.strip().lower() if isinstance(value, str) else ""


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
        repaired = _rebound(part)
        if repaired is not None:
            problems.append(f"{ctype}: the declared boundary is not in the body; split at the one the body uses")
            _walk(repaired, depth, count, limits, bodies, collector, hints, problems)
            return
        problems.append(f"{ctype} without a usable boundary; its body is read as text")
        ctype = "text/plain"
    if ctype.startswith("text/") and ctype[5:] in ("", "*") or _declared_type(part) == "text":
        ctype = "text/plain"  # "Content-Type: text" without a subtype: plain text, a body
    if collector.is_attachment(part, ctype):
        collector.add(part, ctype, hints)
        return
    data = part.get_payload(decode=True) or b""
    charset = part.get_param("charset")
    text, problem = decode_bytes(data, charset if isinstance(charset, str) else None, hints)
    if problem:
        problems.append(f"{ctype} body: {problem}")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    language = part.get("content-language")
    if language:
        bodies.languages.append(str(language))
    if isinstance(charset, str) and charset:
        bodies.charsets.append(charset)
    if ctype == "text/html":
        bodies.html.append(text)
    else:
        if (part.get_param("format") or "").lower() == "flowed":
            text = unflow(text, (part.get_param("delsp") or "").lower() == "yes")
        bodies.plain.append(text.strip("\n"))


_DELIMITER = re.compile(rb"^--([ -~]{1,70}?)(--)?[ \t]*\r?$", re.MULTILINE)


def _declared_type(part: Message) -> str:
    """The Content-Type value's type as written, lower-cased (``text`` for ``Content-Type: text``)."""
    return str(part.get("content-type", "")).split(";", 1)[0].strip().lower()


def _rebound(part: Message) -> Message | None:
    """``part`` (a multipart whose declared boundary is not in its body) re-read at the
    boundary its body does use, or None when no delimiter line appears twice (or once in
    its closing form, or once followed by a part header). Senders that rewrite a boundary in the header but not in the body,
    or quote it differently, are the usual cause."""
    if part.is_multipart():
        return None
    body = part.get_payload(decode=True)
    if not isinstance(body, bytes):
        return None
    seen: dict[bytes, int] = {}
    for m in _DELIMITER.finditer(body):
        token = m.group(1).rstrip()
        # A delimiter followed by a part header counts double: a lone opening delimiter
        # before "Content-Type:" (no closing one) is still clearly where the parts are.
        heads_a_part = body[m.end():m.end() + 40].lstrip(b"\r\n")[:8].lower() == b"content-"
        seen[token] = seen.get(token, 0) + (2 if m.group(2) or heads_a_part else 1)
    usable = [token for token, n in seen.items() if n >= 2]
    if not usable:
        return None
    boundary = usable[0].decode("ascii")
    header = f'Content-Type: {part.get_content_type()}; boundary="{boundary}"\r\n\r\n'.encode("utf-8", "surrogateescape")
    rebuilt = email.message_from_bytes(header + body, policy=compat32)
    return rebuilt if rebuilt.is_multipart() and rebuilt.get_payload() else None


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
