"""The FastAGI wire protocol, server side: environment in, commands out, responses back.

Asterisk connects and sends ``agi_key: value`` lines up to an empty line (the environment);
then the server writes one command per LF-terminated line and Asterisk answers each with:

* ``200 result=<n> [(<data>)] [endpos=<n>]``: done (:class:`AgiResponse`);
* ``510 Invalid or unknown command``: :class:`AgiInvalidCommand`;
* ``511 Command Not Permitted on a dead channel...``: :class:`AgiDeadChannel`;
* ``520-...`` usage lines ended by ``520 End of proper usage.``: :class:`AgiUsageError`.

``HANGUP`` may arrive between responses at any time when the caller hangs up; it answers no
command. The socket closing means the channel is gone: every pending command fails with
:class:`AgiHangup`.

The environment is bounded: more than ``max_env_lines`` lines or ``max_env_bytes`` bytes before
the empty line closes the session at once (nothing more is buffered). Lines that are not
``agi_`` variables, and lines that answer no command, are counted: the first of each kind is
logged, the count when the session ends, so a peer cannot make the log grow faster than it sends.

Arguments are written bare when they are plain words and double-quoted (with ``\\`` escapes)
otherwise; CR, LF and NUL are refused with :class:`AgiArgumentError` so no caller-controlled text
can start a second command.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass
from typing import Callable

from twisted.internet.defer import Deferred
from twisted.internet.protocol import Protocol
from twisted.logger import Logger
from twisted.python.failure import Failure

log = Logger(namespace="channels.telephony.fastagi")

DEFAULT_MAX_LINE = 8192
# A live Asterisk sends about 25 variables plus one per argument (at most 128), each a short line.
DEFAULT_MAX_ENV_LINES = 256
DEFAULT_MAX_ENV_BYTES = 64 * 1024
# Asterisk's longest usage text (a 520 answer) is a few dozen lines.
MAX_USAGE_LINES = 256
_BARE = re.compile(r"[A-Za-z0-9_.:+\-]+")
_VERB = re.compile(r"[A-Z]+( [A-Z]+)*")
_FORBIDDEN = re.compile(r"[\r\n\x00]")
_RESULT = re.compile(r"200 result=(-?\d+)(?: \((.*)\))?(?: endpos=(-?\d+))?")


class AgiArgumentError(ValueError):
    """An AGI command or argument holds CR, LF or NUL; nothing was written."""


class AgiHangup(Exception):
    """The channel hung up (socket closed) before the command got its answer."""


class AgiProtocolError(Exception):
    """Asterisk's answer could not be understood; the session is closed."""


class AgiCommandError(Exception):
    """Asterisk refused a command; ``code`` is the status (510, 511, 520), ``text`` its words."""

    def __init__(self, command: str, code: int, text: str) -> None:
        super().__init__(f"{command.strip()}: {code} {text}")
        self.command = command
        self.code = code
        self.text = text


class AgiInvalidCommand(AgiCommandError):
    """510: Asterisk does not know the command."""


class AgiDeadChannel(AgiCommandError):
    """511: the command is not permitted on a dead (hung-up) channel."""


class AgiUsageError(AgiCommandError):
    """520: wrong syntax; ``text`` holds Asterisk's usage text."""


_ERRORS = {510: AgiInvalidCommand, 511: AgiDeadChannel, 520: AgiUsageError}


@dataclass(frozen=True)
class AgiResponse:
    """A ``200`` answer: ``result`` as an int, optional parenthesised ``data`` and ``endpos``."""

    result: int
    data: str | None = None
    endpos: int | None = None


def parse_response(line: str) -> AgiResponse:
    """Parse one ``200 result=...`` line; raise :class:`AgiProtocolError` for anything else."""
    match = _RESULT.fullmatch(line)
    if match is None:
        raise AgiProtocolError(f"unparseable AGI response {line[:80]!r}")
    endpos = match.group(3)
    return AgiResponse(int(match.group(1)), match.group(2), int(endpos) if endpos is not None else None)


def quote_argument(value: str) -> str:
    """One AGI argument: bare if it is a plain word, else double-quoted with ``\\`` and ``"`` escaped.

    Raises :class:`AgiArgumentError` for CR, LF or NUL.
    """
    if _BARE.fullmatch(value):
        return value
    if _FORBIDDEN.search(value):
        raise AgiArgumentError(f"CR, LF or NUL in AGI argument {value[:40]!r}")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def encode_command(verb: str, *args: str) -> bytes:
    """``verb`` (e.g. ``SET VARIABLE``) followed by its quoted arguments and LF.

    Raises :class:`AgiArgumentError` for CR/LF/NUL in the verb or any argument.
    """
    if not _VERB.fullmatch(verb):
        raise AgiArgumentError(f"invalid AGI command {verb!r}")
    if not args:
        return (verb + "\n").encode("utf-8")
    return (" ".join([verb, *[quote_argument(a) for a in args]]) + "\n").encode("utf-8")


class _SkippedLines:
    """Counts lines of one kind that were ignored: logs the first, the total once at the end."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.count = 0

    def skip(self, line: str) -> None:
        """Count ``line``; only the first one of the session is written to the log."""
        self.count += 1
        if self.count == 1:
            log.warn("{what} ignored: {line!r} (further ones are only counted)", what=self.what, line=line[:80])

    def report(self) -> None:
        """Log how many were ignored when there was more than the one already logged."""
        if self.count > 1:
            log.warn("{what}: {count} ignored in this session", count=self.count, what=self.what)
            self.count = 1


class _Pending:
    """A command written and awaiting its answer; its text is decoded only for an error."""

    __slots__ = ("line", "deferred")

    def __init__(self, line: bytes, deferred: Deferred) -> None:
        self.line = line
        self.deferred = deferred

    @property
    def command(self) -> str:
        return self.line.decode("utf-8")


class AgiSessionProtocol(Protocol):
    """One FastAGI connection.

    ``on_environment(env)`` is called once with the environment as an ordered list of
    ``(key, value)`` pairs (keys as sent, ``agi_`` included). ``on_hangup()`` is called once when
    the channel is known to be gone: a ``HANGUP`` line or the socket closing under us.
    Commands (:meth:`command`) may be issued once the environment arrived.

    An environment of more than ``max_env_lines`` lines or ``max_env_bytes`` bytes (line ends
    included, skipped lines too) closes the session with an error logged once.
    """

    def __init__(
        self,
        on_environment: Callable[[list[tuple[str, str]]], object],
        on_hangup: Callable[[], object],
        max_line: int = DEFAULT_MAX_LINE,
        max_env_lines: int = DEFAULT_MAX_ENV_LINES,
        max_env_bytes: int = DEFAULT_MAX_ENV_BYTES,
    ) -> None:
        self._on_environment = on_environment
        self._on_hangup = on_hangup
        self.max_line = max_line
        self.max_env_lines = max_env_lines
        self.max_env_bytes = max_env_bytes
        self._buffer = b""
        self._env: list[tuple[str, str]] | None = []
        self._env_lines = 0
        self._env_bytes = 0
        self._skipped_env = _SkippedLines("AGI environment line")
        self._unsolicited = _SkippedLines("AGI line with no command pending")
        self._pending: deque[_Pending] = deque()
        self._usage: list[str] | None = None
        self.hung_up = False
        self.aborted = False  # closed by us for breaking the protocol or a limit (see _abort, give_up)
        self._closing = False
        self.closed: Deferred[None] = Deferred()

    def dataReceived(self, data: bytes) -> None:
        if self._closing:
            return
        self._buffer += data
        *lines, self._buffer = self._buffer.split(b"\n")
        for raw in lines:
            if self._closing:
                return
            if len(raw) > self.max_line:
                self._abort(f"line longer than {self.max_line} bytes")
                return
            if self._env is not None and not self._env_within_limits(len(raw) + 1):
                return
            self._line(raw.rstrip(b"\r").decode("utf-8", "surrogateescape"))
        if len(self._buffer) > self.max_line:
            self._abort(f"line longer than {self.max_line} bytes without LF")
        elif self._env is not None and self._env_bytes + len(self._buffer) > self.max_env_bytes:
            self._abort(f"AGI environment longer than {self.max_env_bytes} bytes")

    def _env_within_limits(self, size: int) -> bool:
        """Count one environment line of ``size`` bytes; close the session past either cap."""
        self._env_lines += 1
        self._env_bytes += size
        if self._env_lines > self.max_env_lines:
            self._abort(f"AGI environment longer than {self.max_env_lines} lines")
            return False
        if self._env_bytes > self.max_env_bytes:
            self._abort(f"AGI environment longer than {self.max_env_bytes} bytes")
            return False
        return True

    def _line(self, line: str) -> None:
        if self._env is not None:
            if line == "":
                env, self._env = self._env, None
                self._skipped_env.report()
                self._on_environment(env)
                return
            key, sep, value = line.partition(": ")
            if not sep or not key.startswith("agi_"):
                key, sep, value = line.partition(":")
                if not sep or not key.startswith("agi_"):
                    self._skipped_env.skip(line)
                    return
            self._env.append((key, value))
            return
        if line == "HANGUP":
            self._mark_hung_up()
            return
        if self._usage is not None:
            self._usage.append(line[4:] if line[:4] in ("520 ", "520-") else line)
            if line.startswith("520 "):
                text, self._usage = "\n".join(self._usage), None
                self._answer(error=(520, text))
            elif len(self._usage) > MAX_USAGE_LINES:
                self._abort(f"AGI usage text longer than {MAX_USAGE_LINES} lines")
            return
        if not self._pending:
            self._unsolicited.skip(line)
            return
        if line.startswith("520-"):
            self._usage = [line[4:]]
            return
        code = line[:3]
        if code.isdigit() and int(code) in _ERRORS and line[3:4] in (" ", ""):
            self._answer(error=(int(code), line[4:]))
            return
        try:
            response = parse_response(line)
        except AgiProtocolError as exc:
            self._abort(str(exc))
            return
        self._answer(response=response)

    def _answer(self, response: AgiResponse | None = None, error: tuple[int, str] | None = None) -> None:
        if not self._pending:
            log.warn("AGI answer with no command pending ignored")
            return
        entry = self._pending.popleft()
        if error is not None:
            code, text = error
            entry.deferred.errback(_ERRORS[code](entry.command, code, text))
        else:
            entry.deferred.callback(response)

    def _mark_hung_up(self) -> None:
        if not self.hung_up:
            self.hung_up = True
            self._on_hangup()

    def _abort(self, reason: str) -> None:
        log.error("AGI session closed: {reason}", reason=reason)
        self.aborted = True
        self._fail_pending(AgiProtocolError(reason))
        self.close()

    def _fail_pending(self, exc: Exception) -> None:
        pending, self._pending = self._pending, deque()
        for entry in pending:
            entry.deferred.errback(exc)

    def command(self, verb: str, *args: str) -> Deferred[AgiResponse]:
        """Send ``verb args...``; fires with the :class:`AgiResponse`.

        Raises :class:`AgiArgumentError` synchronously (nothing written) for CR/LF/NUL, and
        :class:`AgiHangup` if the connection is already gone. Fails with an
        :class:`AgiCommandError` subclass, :class:`AgiProtocolError` or :class:`AgiHangup`.
        """
        data = encode_command(verb, *args)
        if self._closing or self.transport is None:
            raise AgiHangup(f"{verb}: session closed")
        deferred: Deferred[AgiResponse] = Deferred()
        self._pending.append(_Pending(data, deferred))
        self.transport.write(data)
        return deferred

    def give_up(self, error: Exception) -> None:
        """Fail every pending command with ``error`` and close the session (e.g. no answer in time)."""
        self.aborted = True
        self._fail_pending(error)
        self.close()

    def close(self) -> None:
        """End the session from our side (Asterisk then goes on in the dialplan)."""
        if not self._closing:
            self._closing = True
            if self.transport is not None:
                self.transport.loseConnection()

    def connectionLost(self, reason: Failure = None) -> None:  # type: ignore[override]
        self._skipped_env.report()
        self._unsolicited.report()
        self._fail_pending(AgiHangup("connection closed"))
        if not self._closing:
            # Asterisk closing the socket is how a hung-up channel ends a FastAGI session.
            self._closing = True
            self._mark_hung_up()
        self.closed.callback(None)
