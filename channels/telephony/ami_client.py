"""The AMI client protocol: actions out, responses correlated by ActionID, events up.

:class:`AmiClientProtocol` is a Twisted protocol over one AMI connection. Each action gets a
fresh ActionID from the injected id source and its own Deferred:

* fired with the ``Response`` message (:meth:`AmiClientProtocol.send_action`), or with an
  :class:`AmiListResult` for list actions that answer with events up to a ``...Complete`` event
  (:meth:`AmiClientProtocol.send_list_action`);
* failed with :class:`AmiActionError` on ``Response: Error`` (carrying Asterisk's ``Message``),
  :class:`AmiActionTimeout` when nothing came back in time (clock injected), or
  :class:`AmiConnectionLost` for every action still pending when the connection drops.

Events that answer no pending list action go to the ``on_event`` callback. Malformed input is
logged and skipped up to the next empty line; input that cannot be resynchronised (a line over
the length cap) is logged and the connection is closed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.internet.protocol import Protocol
from twisted.logger import Logger
from twisted.python.failure import Failure

from callcenter.runtime.clock import Clock
from channels.telephony.ami_protocol import (
    DEFAULT_MAX_LINE,
    AmiFrameParser,
    AmiMessage,
    encode_action,
)

log = Logger(namespace="channels.telephony.ami")

DEFAULT_ACTION_TIMEOUT = 10.0


class AmiActionError(Exception):
    """Asterisk answered ``Response: Error``; ``message`` is its ``Message`` header."""

    def __init__(self, action: str, message: str, response: AmiMessage | None = None) -> None:
        super().__init__(f"{action}: {message}")
        self.action = action
        self.message = message
        self.response = response


class AmiLoginFailed(AmiActionError):
    """The Login action was refused (wrong user or secret, or the address is not permitted)."""


class AmiActionTimeout(Exception):
    """No response to the action within its timeout; a late response is logged and dropped."""


class AmiConnectionLost(Exception):
    """The AMI connection closed while the action was pending (or before it could be sent)."""


@dataclass(frozen=True)
class AmiListResult:
    """A list action's answer: the ``Response`` and the events up to and including the final one."""

    response: AmiMessage
    events: tuple[AmiMessage, ...]

    @property
    def items(self) -> tuple[AmiMessage, ...]:
        """The list items, without the closing ``...Complete`` event."""
        return tuple(e for e in self.events if not _is_list_end(e))


def _is_list_end(message: AmiMessage) -> bool:
    return (message.get("EventList") or "").lower() == "complete" or message.name.endswith("Complete")


@dataclass
class _Pending:
    action: str
    deferred: Deferred
    timer: IDelayedCall | None
    is_list: bool
    await_event: str | None = None
    response: AmiMessage | None = None
    events: list[AmiMessage] | None = None


class AmiClientProtocol(Protocol):
    """One AMI connection; see the module docstring for the action/response contract.

    ``ids`` returns a new ActionID per call; ``reactor`` schedules the action timeouts;
    ``on_event(message)`` receives every event that is not part of a list action's answer.
    ``on_banner`` (optional) is called once with the banner line.
    """

    def __init__(
        self,
        reactor: IReactorTime,
        ids: Callable[[], str],
        on_event: Callable[[AmiMessage], object],
        action_timeout: float = DEFAULT_ACTION_TIMEOUT,
        max_line: int = DEFAULT_MAX_LINE,
    ) -> None:
        self._clock = Clock(reactor)
        self._ids = ids
        self._on_event = on_event
        self.action_timeout = action_timeout
        self._parser = AmiFrameParser(max_line=max_line)
        self._pending: dict[str, _Pending] = {}
        self._connected = False
        self.banner_received: Deferred[str] = Deferred()
        self.connection_closed: Deferred[None] = Deferred()

    # -- Twisted protocol ------------------------------------------------------------------

    def connectionMade(self) -> None:
        self._connected = True

    def dataReceived(self, data: bytes) -> None:
        had_banner = self._parser.banner is not None
        if self._parser.error is not None:
            return  # already closing: nothing after the unrecoverable point is trusted
        messages = self._parser.feed(data)
        for skipped in self._parser.take_skipped():
            log.warn("AMI input skipped: {reason}; resynchronised at the next empty line", reason=skipped.reason)
        if not had_banner and self._parser.banner is not None:
            if not self._parser.banner.startswith("Asterisk Call Manager/"):
                log.warn("unexpected AMI banner {banner!r}", banner=self._parser.banner)
            self.banner_received.callback(self._parser.banner)
        for message in messages:
            self._dispatch(message)
        if self._parser.error is not None:
            log.error("AMI framing lost ({reason}); closing the connection", reason=str(self._parser.error))
            self.transport.loseConnection()

    def connectionLost(self, reason: Failure = None) -> None:  # type: ignore[override]
        self._connected = False
        pending, self._pending = self._pending, {}
        for action_id, entry in pending.items():
            if entry.timer is not None and entry.timer.active():
                entry.timer.cancel()
            entry.deferred.errback(AmiConnectionLost(f"{entry.action} ({action_id}): connection lost"))
        if not self.banner_received.called:
            self.banner_received.errback(AmiConnectionLost("connection lost before the banner"))
        self.connection_closed.callback(None)

    # -- actions -----------------------------------------------------------------------------

    def send_action(self, action: str, headers: Iterable[tuple[str, str]] = (), timeout: float | None = None) -> Deferred[AmiMessage]:
        """Send ``action`` with ``headers``; the Deferred fires with its ``Response`` message.

        Raises :class:`~channels.telephony.ami_protocol.AmiHeaderInjection` synchronously (nothing
        written) for CR/LF/NUL in a header. Fails with the errors listed in the module docstring.
        """
        return self._send(action, headers, timeout, is_list=False)

    def send_list_action(
        self, action: str, headers: Iterable[tuple[str, str]] = (), timeout: float | None = None
    ) -> Deferred[AmiListResult]:
        """Send a list action (``CoreShowChannels``, ``DeviceStateList``, ``Status``...).

        The Deferred fires with an :class:`AmiListResult` once the event carrying
        ``EventList: Complete`` (or named ``...Complete``) arrives; the timeout covers the whole list.
        """
        return self._send(action, headers, timeout, is_list=True)

    def send_action_awaiting_event(
        self, action: str, event: str, headers: Iterable[tuple[str, str]] = (), timeout: float | None = None
    ) -> Deferred[AmiListResult]:
        """Send an action whose outcome is a later event with the same ActionID (``Originate``
        with ``Async: true`` -> ``OriginateResponse``).

        Fires with an :class:`AmiListResult` holding the ``Response`` and that one event once it
        arrives; the event is also passed to ``on_event`` like any other. The timeout covers both.
        """
        return self._send(action, headers, timeout, is_list=False, await_event=event)

    def _send(
        self,
        action: str,
        headers: Iterable[tuple[str, str]],
        timeout: float | None,
        is_list: bool,
        await_event: str | None = None,
    ) -> Deferred:
        if not self._connected:
            raise AmiConnectionLost(f"{action}: not connected")
        action_id = self._ids()
        data = encode_action(action, action_id, headers)
        deferred: Deferred = Deferred()
        delay = self.action_timeout if timeout is None else timeout
        timer = self._clock.call_later(delay, self._expire, action_id) if delay > 0 else None
        self._pending[action_id] = _Pending(action, deferred, timer, is_list, await_event, events=[] if is_list else None)
        self.transport.write(data)
        return deferred

    def _expire(self, action_id: str) -> None:
        entry = self._pending.pop(action_id, None)
        if entry is not None:
            log.warn("AMI action {action} ({action_id}) timed out", action=entry.action, action_id=action_id)
            entry.deferred.errback(AmiActionTimeout(f"{entry.action} ({action_id}): no response"))

    def _finish(self, action_id: str, entry: _Pending, result: object) -> None:
        del self._pending[action_id]
        if entry.timer is not None and entry.timer.active():
            entry.timer.cancel()
        if isinstance(result, Exception):
            entry.deferred.errback(result)
        else:
            entry.deferred.callback(result)

    def _dispatch(self, message: AmiMessage) -> None:
        action_id = message.action_id
        entry = self._pending.get(action_id) if action_id is not None else None
        if message.is_response:
            if entry is None:
                log.warn("AMI response for no pending action: {id!r} {name}", id=action_id, name=message.name)
                return
            if message.name.lower() == "error":
                err_type = AmiLoginFailed if entry.action.lower() == "login" else AmiActionError
                self._finish(action_id, entry, err_type(entry.action, message.get("Message", "") or "", message))
            elif entry.is_list or entry.await_event is not None:
                entry.response = message
            else:
                self._finish(action_id, entry, message)
            return
        if entry is not None and entry.is_list and entry.events is not None:
            entry.events.append(message)
            if _is_list_end(message):
                response = entry.response if entry.response is not None else message
                self._finish(action_id, entry, AmiListResult(response, tuple(entry.events)))
            return
        try:
            self._on_event(message)
        except Exception:
            # The application's bug must not cost us the connection or the following events.
            log.failure("AMI event consumer failed on {name}", name=message.name)
        # After on_event, so whoever awaits the action sees the event already delivered.
        if entry is not None and entry.await_event == message.name and entry.response is not None:
            self._finish(action_id, entry, AmiListResult(entry.response, (message,)))
