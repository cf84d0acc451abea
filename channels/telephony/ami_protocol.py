"""Asterisk Manager Interface wire format: bytes <-> messages, no I/O.

AMI is a line protocol: lines end in CRLF, a message is a run of ``Key: Value`` lines ended by an
empty line, and the very first line of a connection is a banner (``Asterisk Call Manager/13.0.0``).
Keys repeat (``ChanVariable``, ``Variable``, ``Output``), so a message is kept as the ordered list
of its pairs: :class:`AmiMessage`.

:class:`AmiFrameParser` is fed chunks exactly as ``recv()`` returns them (several messages, or half
of one) and returns the whole messages found so far. A message it cannot understand is skipped up
to the next empty line and reported, so the stream resynchronises; a line longer than the cap
cannot be resynchronised: the parser keeps the messages completed before it, records an
:class:`AmiFramingError` in :attr:`AmiFrameParser.error` and accepts nothing more (the caller
closes the connection).

:func:`encode_action` writes an action; it raises :class:`AmiHeaderInjection` for CR, LF or NUL
in any header name or value, so caller-controlled text can never smuggle a second header or action.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

CRLF = b"\r\n"
_END = b"\r\n\r\n"
# Legacy "Response: Follows" (the Command action before Asterisk 14) carries raw output that may
# hold empty lines; only this trailer ends it.
_FOLLOWS = b"Response: Follows\r\n"
_FOLLOWS_END = b"--END COMMAND--\r\n\r\n"
_FOLLOWS_HEADERS = frozenset({"privilege", "actionid", "message"})
_FORBIDDEN = ("\r", "\n", "\x00")

DEFAULT_MAX_LINE = 8192
# One message, headers and (legacy) command output together. Asterisk's largest replies (a
# Command's output on a busy PBX) stay far below; a peer that never ends a message must not
# grow the buffer without bound, nor make every read rescan it.
DEFAULT_MAX_MESSAGE = 4 * 1024 * 1024


class AmiFramingError(Exception):
    """The byte stream cannot be split into messages any more (e.g. a line over the length cap)."""


class AmiHeaderInjection(ValueError):
    """An action header name or value holds CR, LF or NUL and was refused, never written."""


@dataclass(frozen=True)
class AmiMessage:
    """One AMI message: its ``(key, value)`` pairs in wire order, repeated keys kept.

    Lookups by key are case-insensitive (Asterisk is not consistent: ``ActionID``/``ActionId``).
    """

    fields: tuple[tuple[str, str], ...]
    _index: dict[str, str] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        index: dict[str, str] = {}
        for key, value in self.fields:
            index.setdefault(key.lower(), value)
        object.__setattr__(self, "_index", index)

    def get(self, key: str, default: str | None = None) -> str | None:
        """The first value of ``key``, or ``default`` when absent."""
        return self._index.get(key.lower(), default)

    def __getitem__(self, key: str) -> str:
        """The first value of ``key``; ``KeyError`` when absent."""
        return self._index[key.lower()]

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self._index

    def get_all(self, key: str) -> list[str]:
        """Every value of ``key``, in wire order (``[]`` when absent)."""
        wanted = key.lower()
        return [value for k, value in self.fields if k.lower() == wanted]

    def variables(self, key: str = "ChanVariable") -> dict[str, str]:
        """``name=value`` pairs of a repeated key (``ChanVariable``, ``Variable``) as a dict.

        Asterisk also writes ``ChanVariable(name): value`` in some versions; both forms are read.
        """
        result: dict[str, str] = {}
        wanted = key.lower()
        prefix = wanted + "("
        for k, value in self.fields:
            low = k.lower()
            if low == wanted:
                name, _, val = value.partition("=")
                result[name] = val
            elif low.startswith(prefix) and low.endswith(")"):
                result[k[len(prefix) : -1]] = value
        return result

    @property
    def is_event(self) -> bool:
        """True for an ``Event:`` message."""
        return "event" in self._index

    @property
    def is_response(self) -> bool:
        """True for a ``Response:`` message (the answer to an action)."""
        return "response" in self._index and "event" not in self._index

    @property
    def name(self) -> str:
        """The event name, or the response status (``Success``, ``Error``, ``Follows``, ``Goodbye``)."""
        return self._index.get("event") or self._index.get("response", "")

    @property
    def action_id(self) -> str | None:
        """The ``ActionID`` this message answers, if any."""
        return self._index.get("actionid")


@dataclass(frozen=True)
class SkippedInput:
    """A malformed message the parser dropped, with the reason, for a clear log line."""

    reason: str
    raw: bytes


class AmiFrameParser:
    """Incremental AMI splitter: :meth:`feed` chunks, get whole :class:`AmiMessage` objects back.

    ``banner`` holds the first line once it arrived. Dropped malformed messages are collected in
    :attr:`skipped` until the caller takes them with :meth:`take_skipped`.
    """

    def __init__(self, max_line: int = DEFAULT_MAX_LINE, expect_banner: bool = True,
                 max_message: int = DEFAULT_MAX_MESSAGE) -> None:
        self.max_line = max_line
        self.max_message = max_message
        self.banner: str | None = None if expect_banner else ""
        self._buffer = b""
        self.skipped: list[SkippedInput] = []
        self.error: AmiFramingError | None = None
        self._partial: list[AmiMessage] = []

    def feed(self, data: bytes) -> list[AmiMessage]:
        """Add ``data`` and return every message completed by it, in order.

        When a line exceeds ``max_line`` bytes, or an unfinished message ``max_message`` bytes,
        the messages completed before it are still returned, :attr:`error` is set and every
        later call returns nothing.
        """
        if self.error is not None:
            return []
        try:
            return self._feed(data)
        except AmiFramingError as exc:
            self.error = exc
            self._buffer = b""
            return self._partial

    def _feed(self, data: bytes) -> list[AmiMessage]:
        buf = self._buffer + data if self._buffer else data
        messages: list[AmiMessage] = []
        self._partial = messages
        pos = 0
        if self.banner is None:
            nl = buf.find(CRLF)
            if nl < 0:
                self._buffer = buf
                self._check_line(buf)
                return messages
            self.banner = buf[:nl].decode("utf-8", "surrogateescape")
            pos = nl + 2
        while True:
            if buf.startswith(_FOLLOWS, pos):
                end = buf.find(_FOLLOWS_END, pos)
                if end < 0:
                    break
                stop = end + len(_FOLLOWS_END)
                messages.append(_parse_follows(buf[pos:stop]))
                pos = stop
                continue
            end = buf.find(_END, pos)
            if end < 0:
                break
            block = buf[pos:end]
            pos = end + 4
            # An empty block is a stray blank line between messages: harmless, skip it.
            while block.startswith(CRLF):
                block = block[2:]
            if block:
                message = self._parse_block(block)
                if message is not None:
                    messages.append(message)
        self._buffer = buf[pos:]
        self._check_line(self._buffer)
        return messages

    def take_skipped(self) -> list[SkippedInput]:
        """Return and forget the malformed messages dropped since the last call."""
        skipped, self.skipped = self.skipped, []
        return skipped

    def _check_line(self, rest: bytes) -> None:
        # Only the unfinished tail can hold an over-long line: finished messages were checked.
        if len(rest) > self.max_message:
            raise AmiFramingError(f"message longer than {self.max_message} bytes without its end")
        if len(rest) > self.max_line and max(len(line) for line in rest.split(CRLF)) > self.max_line:
            raise AmiFramingError(f"line longer than {self.max_line} bytes")

    def _parse_block(self, block: bytes) -> AmiMessage | None:
        pairs: list[tuple[str, str]] = []
        for raw in block.split(CRLF):
            if len(raw) > self.max_line:
                raise AmiFramingError(f"line longer than {self.max_line} bytes")
            key, sep, value = raw.partition(b":")
            if not sep or not key or b" " in key:
                self.skipped.append(SkippedInput(f"line without 'Key: Value': {raw[:80]!r}", block))
                return None
            if value.startswith(b" "):
                value = value[1:]
            pairs.append((key.decode("utf-8", "surrogateescape"), value.decode("utf-8", "surrogateescape")))
        low = pairs[0][0].lower()
        if low not in ("event", "response") and not any(k.lower() in ("event", "response") for k, _ in pairs):
            self.skipped.append(SkippedInput("message with neither Event nor Response", block))
            return None
        return AmiMessage(tuple(pairs))


def _parse_follows(raw: bytes) -> AmiMessage:
    """A legacy ``Response: Follows`` message: headers, then raw output lines as ``Output`` pairs."""
    body = raw[: -len(_FOLLOWS_END)].decode("utf-8", "surrogateescape")
    pairs: list[tuple[str, str]] = []
    in_headers = True
    for line in body.replace("\r\n", "\n").split("\n"):
        key, sep, value = line.partition(":")
        if in_headers and sep and (key.lower() in _FOLLOWS_HEADERS or key == "Response"):
            pairs.append((key, value[1:] if value.startswith(" ") else value))
            continue
        in_headers = False
        pairs.append(("Output", line))
    if pairs and pairs[-1] == ("Output", ""):
        pairs.pop()
    return AmiMessage(tuple(pairs))


def check_header(name: str, value: str) -> None:
    """Raise :class:`AmiHeaderInjection` unless ``name``/``value`` are safe to write on one line."""
    if not name or ":" in name or name != name.strip():
        raise AmiHeaderInjection(f"invalid AMI header name {name!r}")
    for text in (name, value):
        if any(ch in text for ch in _FORBIDDEN):
            raise AmiHeaderInjection(f"CR, LF or NUL in AMI header {name!r}")


def encode_action(action: str, action_id: str, headers: Iterable[tuple[str, str]] = ()) -> bytes:
    """Serialise one action: ``Action``, ``ActionID``, then ``headers`` in order, then a blank line.

    Raises :class:`AmiHeaderInjection` (and writes nothing) if any name or value holds CR, LF or NUL.
    """
    lines = [("Action", action), ("ActionID", action_id), *headers]
    for name, value in lines:
        check_header(name, value)
    text = "".join(f"{name}: {value}\r\n" for name, value in lines) + "\r\n"
    return text.encode("utf-8")

