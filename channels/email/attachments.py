"""Attachments of a received message, with their size-cap decision recorded.

An attachment over the size cap (or past the count cap) is never silently dropped: it
is listed with its decoded filename, content type, size and SHA-256, ``content`` is None
and ``skipped`` says which cap kept its bytes out. Filenames are decoded from RFC 2231
parameters (``filename*=utf-8''...`` and continuations), RFC 2047 encoded words inside a
quoted name (what Outlook and Gmail send), and raw 8-bit bytes; any directory part and
control characters are removed, so a filename is a display name, never a path to trust.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from email.errors import MessageError
from email.message import Message

from channels.email.charsets import decode_bytes
from channels.email.headers import decode_header_text, raw_8bit_text, unfold

_BODY_TYPES = ("text/plain", "text/html")
_UNSAFE = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class Attachment:
    """One attachment or inline part that is not the body.

    ``content`` holds the decoded bytes, or None when a cap applied; ``skipped`` is then
    the reason (e.g. ``"over the 10485760-byte attachment cap"``). ``size`` and ``sha256``
    are always those of the full decoded content. ``inline`` is True for parts marked
    ``Content-Disposition: inline`` (e.g. images referenced by ``content_id``).
    """

    filename: str | None
    content_type: str
    size: int
    sha256: str
    content: bytes | None
    skipped: str | None = None
    inline: bool = False
    content_id: str | None = None

    @property
    def over_cap(self) -> bool:
        """True when a cap kept the bytes out of ``content``."""
        return self.skipped is not None


def attachment_filename(part: Message, hints: tuple[str, ...] = ()) -> tuple[str | None, list[str]]:
    """The decoded, path-free filename of ``part`` (Content-Disposition first, then ``name``)."""
    problems: list[str] = []
    for header, param in (("content-disposition", "filename"), ("content-type", "name")):
        value = _raw_8bit_param(part, header, param, hints)
        if value is None:
            value = part.get_param(param, header=header)
        if value is None:
            continue
        if isinstance(value, tuple):  # RFC 2231: (charset, language, percent-decoded text)
            charset, _language, text = value
            try:
                data = text.encode("latin-1")
            except UnicodeEncodeError:
                data = text.encode("utf-8", "surrogateescape")
            name, problem = decode_bytes(data, charset or "utf-8", hints)
            if problem:
                problems.append(f"attachment filename: {problem}")
        else:
            name, found = decode_header_text(value, hints)
            problems.extend(f"attachment filename: {p}" for p in found)
        name = _UNSAFE.sub("", name).replace("\\", "/").rsplit("/", 1)[-1].strip()
        if name:
            return name, problems
    return None, problems


def _raw_8bit_param(part: Message, header: str, param: str, hints: tuple[str, ...]) -> str | tuple | None:
    """Parameter ``param`` of ``header`` when the header carries raw 8-bit bytes, else None.

    The ``email`` package turns raw 8-bit header bytes into U+FFFD when it reads a
    parameter, so such a header is decoded first (UTF-8, as RFC 6532 allows, then the
    hints) and the parameter read from the decoded text.
    """
    raw = next((value for name, value in part.raw_items() if name.lower() == header), None)
    if raw is None or raw.isascii():
        return None
    text, _problems = raw_8bit_text(unfold(raw), hints)
    decoded = Message()
    decoded[header] = text
    return decoded.get_param(param, header=header)


class AttachmentCollector:
    """Decides which leaf parts are attachments and collects them under the caps."""

    def __init__(self, max_bytes: int, max_count: int) -> None:
        self.max_bytes = max_bytes
        self.max_count = max_count
        self.attachments: list[Attachment] = []
        self.problems: list[str] = []

    @staticmethod
    def is_attachment(part: Message, content_type: str) -> bool:
        """True unless ``part`` is a body: text/plain or text/html, not marked attachment, unnamed."""
        if content_type not in _BODY_TYPES:
            return True
        if part.get_content_disposition() == "attachment":
            return True
        return part.get_param("filename", header="content-disposition") is not None or part.get_param("name") is not None

    def add(self, part: Message, content_type: str, hints: tuple[str, ...]) -> Attachment:
        """Record ``part`` as an attachment, applying the caps; return what was recorded."""
        filename, found = attachment_filename(part, hints)
        self.problems.extend(found)
        data = _content(part)
        skipped = None
        if len(data) > self.max_bytes:
            skipped = f"over the {self.max_bytes}-byte attachment cap"
        elif len(self.attachments) >= self.max_count:
            skipped = f"past the {self.max_count}-attachment cap"
        if skipped:
            self.problems.append(f"attachment {filename or content_type!r} ({len(data)} bytes) not kept: {skipped}")
        cid = part.get("content-id")
        attachment = Attachment(
            filename=filename,
            content_type=content_type,
            size=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            content=None if skipped else data,
            skipped=skipped,
            inline=part.get_content_disposition() == "inline",
            content_id=str(cid).strip().strip("<>") if cid else None,
        )
        self.attachments.append(attachment)
        return attachment


def _as_bytes(message: Message) -> bytes:
    """An embedded message as bytes, never raising: the generator's output when it can write
    the message, else its header fields and body as they were parsed (the generator refuses
    headers that hold decoded non-ASCII text or look like they embed another header)."""
    for render in (message.as_bytes, lambda: message.as_string().encode("utf-8", "surrogateescape")):
        try:
            return render()
        except (UnicodeError, LookupError, ValueError, MessageError):
            continue
    head = "".join(f"{name}: {value}\r\n" for name, value in message.raw_items())
    payload = message.get_payload()
    if isinstance(payload, list):
        body = b"".join(_as_bytes(sub) for sub in payload)
    else:
        body = str(payload).encode("utf-8", "surrogateescape")
    return (head + "\r\n").encode("utf-8", "surrogateescape") + body


def _content(part: Message) -> bytes:
    """The decoded bytes of a leaf part; for ``message/*`` parts, the embedded text as sent."""
    if part.is_multipart():  # message/rfc822, message/delivery-status: payload is Message objects
        return b"".join(_as_bytes(sub) for sub in part.get_payload())
    payload = part.get_payload(decode=True)
    return payload if isinstance(payload, bytes) else b""
