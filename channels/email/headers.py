"""Header values as text: unfolding, RFC 2047 encoded words, addresses, message ids, dates.

These functions take header values as the ``email`` package's ``compat32`` policy keeps
them (folded, with raw 8-bit bytes carried as surrogate escapes) and never raise: what
cannot be decoded is decoded as well as possible and a problem sentence is returned with
it. RFC 2047 words of the same charset that follow each other are joined *before*
decoding, because real mailers split a multi-byte character across two encoded words.
"""

from __future__ import annotations

import binascii
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

from channels.email.charsets import decode_bytes, normalize_label

_FOLD = re.compile(r"\r?\n(?=[ \t])|\r?\n$")
_ENCODED_WORD = re.compile(r"=\?([^?\s*]+)(?:\*[^?\s]*)?\?([bBqQ])\?([^?\s]*)\?=")
_MSGID = re.compile(r"<([^<>\s]+)>")
_MSGID_CFWS = re.compile(r"<([^<>]+)>")
_COMMENTS = re.compile(r"\([^()]*\)")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_LINEBREAK = re.compile(r"[\r\n]+")


@dataclass(frozen=True)
class Address:
    """A mailbox: the decoded display ``name`` (may be empty) and the ``address``.

    ``address`` is stripped and lower-cased (mail systems treat the local part as
    case-insensitive in practice, and the customer record keys on the lower-cased form).
    """

    name: str
    address: str


def unfold(value: str) -> str:
    """``value`` with folding line breaks removed (RFC 5322 section 2.2.3)."""
    return _FOLD.sub("", value)


def _has_surrogates(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def raw_8bit_text(value: str, hints: tuple[str, ...] = ()) -> tuple[str, list[str]]:
    """Turn a value carrying raw 8-bit bytes (as surrogate escapes) into text.

    Raw UTF-8 in headers is allowed by RFC 6532, so UTF-8 is tried first, then ``hints``.
    """
    if not _has_surrogates(value):
        return value, []
    data = value.encode("utf-8", "surrogateescape")
    text, problem = decode_bytes(data, "utf-8", hints)
    return text, ([f"raw 8-bit header: {problem}"] if problem else [])


def _word_bytes(encoding: str, payload: str) -> bytes | None:
    try:
        if encoding in "bB":
            padded = payload + "=" * (-len(payload) % 4)
            return binascii.a2b_base64(padded.encode("ascii"))
        return binascii.a2b_qp(payload.encode("ascii"), header=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        return None


def decode_header_text(value: str, hints: tuple[str, ...] = ()) -> tuple[str, list[str]]:
    """Decode a raw header value to text: unfold, raw 8-bit bytes, RFC 2047 words.

    Returns ``(text, problems)``. White space between two encoded words is dropped as RFC
    2047 requires; an encoded word that does not decode is kept literally. Control
    characters are removed and line breaks become spaces, so a decoded value is one line.
    """
    text, problems = raw_8bit_text(unfold(value), hints)
    if "=?" not in text:
        return _clean(text), problems
    pieces: list[list] = []  # [is_word, data (bytes for words, str for text), charset]
    pos = 0
    for m in _ENCODED_WORD.finditer(text):
        between = text[pos:m.start()]
        previous_is_word = bool(pieces) and pieces[-1][0]
        if between and not (between.isspace() and previous_is_word):
            pieces.append([False, between, None])
        data = _word_bytes(m.group(2), m.group(3))
        charset = normalize_label(m.group(1))
        if data is None:
            problems.append(f"undecodable encoded word {m.group(0)!r}")
            pieces.append([False, m.group(0), None])
        elif pieces and pieces[-1][0] and pieces[-1][2] == charset:
            pieces[-1][1] += data
        else:
            pieces.append([True, data, charset])
        pos = m.end()
    if text[pos:]:
        pieces.append([False, text[pos:], None])
    out: list[str] = []
    for is_word, data, charset in pieces:
        if is_word:
            decoded, problem = decode_bytes(data, charset, hints)
            if problem:
                problems.append(f"encoded word: {problem}")
            out.append(decoded)
        else:
            out.append(data)
    return _clean("".join(out)), problems


def _clean(text: str) -> str:
    """Control characters removed, line breaks (which could only come from encoded words) as spaces."""
    return _LINEBREAK.sub(" ", _CONTROL.sub("", text))


def normalize_address(address: str) -> str:
    """``address`` stripped of white space and angle brackets, lower-cased."""
    return address.strip().strip("<>").strip().lower()


# Characters never allowed unquoted in an address (RFC 5322 specials and white space);
# anything else, UTF-8 included (RFC 6532), may appear in a local part or a domain label.
_LOCAL_ATOM = re.compile(r"^[^\s\"(),:;<>@\[\\\]]+$")
_QUOTED_LOCAL = re.compile(r'^"(?:[^"\\\r\n]|\\.)*"$')
_DOMAIN_LABEL = re.compile(r"^[^\s\"(),:;<>@\[\\\].]+$")
_PLAIN_SEPARATORS = re.compile(r"[,;]")
_DOMAIN_LITERAL = re.compile(r"^\[[^\[\]\\\s]+\]$")


def valid_address(address: str) -> bool:
    """True when ``address`` is a syntactically valid ``local@domain`` (RFC 5322, RFC 6532).

    Dotless domains (``root@localhost``), quoted local parts, address literals and UTF-8 in
    either part are valid; deliverability is not judged here.
    """
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain or len(address) > 998:
        return False
    if not (_QUOTED_LOCAL.match(local) or (
            _LOCAL_ATOM.match(local) and not local.startswith(".") and not local.endswith(".")
            and ".." not in local)):
        return False
    if _DOMAIN_LITERAL.match(domain):
        return True
    labels = domain.rstrip(".").split(".")
    return all(label and _DOMAIN_LABEL.match(label) for label in labels)


def _split_top_level(text: str) -> list[str]:
    """``text`` cut at commas and semicolons outside quotes, comments and angle brackets."""
    if '"' not in text and "(" not in text and "<" not in text:  # the common case, at C speed
        return [p for p in (p.strip() for p in _PLAIN_SEPARATORS.split(text)) if p]
    parts: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    comment = angle = 0
    for ch in text:
        if escaped:
            escaped = False
        elif ch == "\\" and (quoted or comment):
            escaped = True
        elif quoted:
            quoted = ch != '"'
        elif ch == '"' and not comment:
            quoted = True
        elif ch == "(":
            comment += 1
        elif ch == ")" and comment:
            comment -= 1
        elif comment:
            pass
        elif ch == "<":
            angle += 1
        elif ch == ">" and angle:
            angle -= 1
        elif ch in ",;" and not angle:
            parts.append("".join(current))
            current = []
            continue
        current.append(ch)
    parts.append("".join(current))
    return [p for p in (p.strip() for p in parts) if p]


def _strip_comments(text: str) -> tuple[str, list[str]]:
    """``text`` without its (comments) outside quotes, and the comments' texts."""
    if "(" not in text:
        return text, []
    out: list[str] = []
    comments: list[str] = []
    buf: list[str] = []
    quoted = escaped = False
    depth = 0
    for ch in text:
        if depth:
            if escaped:
                escaped = False
                buf.append(ch)
            elif ch == "\\":
                escaped = True
            elif ch == "(":
                depth += 1
                buf.append(ch)
            elif ch == ")":
                depth -= 1
                if depth:
                    buf.append(ch)
                else:
                    comments.append("".join(buf).strip())
                    buf = []
                    out.append(" ")
            else:
                buf.append(ch)
            continue
        if escaped:
            escaped = False
        elif ch == "\\" and quoted:
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif ch == "(" and not quoted:
            depth = 1
            continue
        out.append(ch)
    return "".join(out), [c for c in comments if c]


def _unquote(text: str) -> str:
    """A display name without its double quotes and the backslashes of quoted pairs."""
    out: list[str] = []
    quoted = escaped = False
    for ch in text:
        if escaped:
            escaped = False
        elif ch == "\\" and quoted:
            escaped = True
            continue
        elif ch == '"':
            quoted = not quoted
            continue
        out.append(ch)
    return " ".join("".join(out).split())


def _route_free(address: str) -> str:
    """An angle address without an obsolete source route (``@a,@b:user@host``)."""
    if address.startswith("@") and ":" in address:
        return address.split(":", 1)[1]
    return address


def _mailboxes(chunk: str) -> tuple[list[tuple[str, str]], list[str]]:
    """The ``(raw name, address)`` pairs in one comma-separated piece of an address list."""
    text, comments = _strip_comments(chunk)
    angle = re.search(r"<([^<>]*)>\s*$", text) or re.search(r"<([^<>]*)>", text)
    if angle is None:
        group = re.match(r'^([^"<@:]*):(.*)$', text)
        if group is not None:  # a group ("Team: a@x, b@y;"): the part after the colon
            text = group.group(2)
    if angle is not None:
        # RFC 5322: the angle address is the address, whatever the display text looks like
        # (``jang@xyzlinu <jang@xyzlinux12345678.it>``).
        inside = angle.group(1).strip()
        # White space left where comments were inside the brackets is no part of the address
        # (a quoted local part keeps its own).
        address = _route_free(inside if '"' in inside else "".join(inside.split()))
        name = (text[: angle.start()] + " " + text[angle.end():]).strip() or " ".join(comments)
        if not address:
            return [], []
        if not valid_address(address):
            return [], [f"invalid address {address[:80]!r}"]
        return [(name, address)], []
    tokens = text.split()
    found = [t for t in tokens if "@" in t]
    if not found:
        return [], ([f"no address in {chunk.strip()[:80]!r}"] if chunk.strip() and ":" not in chunk else [])
    out: list[tuple[str, str]] = []
    problems: list[str] = []
    if len(found) > 1:
        problems.append(f"several addresses without commas in {chunk.strip()[:80]!r}")
    for token in found:
        address = token.strip("<>\"'")
        if valid_address(address):
            out.append((" ".join(comments) if len(found) == 1 else "", address))
        else:
            problems.append(f"invalid address {address[:80]!r}")
    return out, problems


def parse_addresses(values: list[str], hints: tuple[str, ...] = ()) -> tuple[tuple[Address, ...], list[str]]:
    """The valid mailboxes in the raw header ``values`` (e.g. every ``To`` header), in order.

    Follows RFC 5322 with the common breakage real mail has: the angle address wins over
    display text that looks like an address; several addresses separated by white space
    instead of commas are each taken; groups are flattened; a name in a trailing comment
    (``a@x (Name)``) is the display name; raw UTF-8 (RFC 6532) and encoded words in names
    are decoded. Invalid entries are skipped with a problem sentence. Display names are
    decoded after splitting, so an encoded comma in a name cannot split an address.
    """
    problems: list[str] = []
    out: list[Address] = []
    for value in values:
        text, found = raw_8bit_text(unfold(value), hints)
        problems.extend(found)
        for chunk in _split_top_level(text):
            pairs, found = _mailboxes(chunk)
            problems.extend(found)
            for name, address in pairs:
                decoded, found = decode_header_text(_unquote(name), hints)
                problems.extend(found)
                out.append(Address(decoded.strip(), normalize_address(address)))
    return tuple(out), problems


def message_ids(value: object) -> list[str]:
    """The message ids in a Message-ID/In-Reply-To/References value, without angle brackets.

    Order is kept and repeats dropped. Some mailers omit the brackets: a value with no
    bracketed id yields its bare tokens that contain ``@`` (stray ``<``, ``>``, commas and
    comments removed), or, when the whole value is one bare token, that token.
    """
    if not value:
        return []
    # compat32 hands back an email.header.Header for a value with raw 8-bit bytes.
    value = unfold(value if isinstance(value, str) else str(value))
    found = _MSGID.findall(value)
    if not found:  # RFC 5322 obsolete syntax allows comments and white space inside the brackets
        found = [m for m in (re.sub(r"\s+", "", _COMMENTS.sub("", m)) for m in _MSGID_CFWS.findall(value)) if m]
    if not found:
        bare = [t.strip("<>,;") for t in re.sub(r"\([^()]*\)", " ", unfold(value)).split()]
        bare = [t for t in bare if t and t.isprintable()]
        found = [t for t in bare if "@" in t] or (bare if len(bare) == 1 else [])
    seen: dict[str, None] = {}
    for mid in found:
        seen.setdefault(mid, None)
    return list(seen)


def parse_date(value: str | None) -> tuple[datetime | None, list[str]]:
    """The Date header as an aware datetime (UTC when the zone is missing), or None."""
    if not value:
        return None, ["no Date header"]
    text = " ".join(_COMMENTS.sub(" ", unfold(value)).split())
    text = re.sub(r"\s*:\s*", ":", text)  # obsolete syntax: "09 :  55 : 06"
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None, [f"unreadable Date {value.strip()[:80]!r}"]
    if when is None:
        return None, [f"unreadable Date {value.strip()[:80]!r}"]
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when, []
