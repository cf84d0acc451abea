"""The AMI link as a Twisted service: connect, log in, resynchronise, reconnect.

:class:`AmiService` keeps one AMI connection up: after each connect it logs in, then resynchronises (``CoreShowChannels`` and ``DeviceStateList``)
and hands the application, through ``on_event``, a :class:`ResyncStarted`, one
:class:`ChannelSnapshot` per live channel, one :class:`AgentPhonePresence` per device and a
:class:`ResyncFinished`. From then on every AMI event the application cares about arrives translated
(see :mod:`channels.telephony.ami_translate`). When the link drops, pending actions fail with
:class:`AmiConnectionLost`, the application gets :class:`AmiLinkLost`, and the service reconnects
with exponential backoff plus jitter from the injected source. (The loop is written out here
rather than using ``ClientService``, whose ``prepareConnection`` cannot take a connection that
drops or is refused during login.)

A refused login is logged as an error and retried with the same backoff (the secret may be fixed
in the PBX meanwhile); the service never gives up while running.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable

from twisted.application.service import Service
from twisted.internet.defer import CancelledError, Deferred, succeed
from twisted.internet.endpoints import connectProtocol
from twisted.internet.interfaces import IReactorTime, IStreamClientEndpoint
from twisted.logger import Logger

from callcenter.runtime.clock import Clock
from channels.telephony.ami_client import (
    DEFAULT_ACTION_TIMEOUT,
    AmiActionError,
    AmiActionTimeout,
    AmiClientProtocol,
    AmiConnectionLost,
    AmiLoginFailed,
)
from channels.telephony.ami_protocol import AmiMessage
from channels.telephony.ami_translate import channel_snapshot, device_presence, originate_result, translate_event
from channels.telephony.callevents import (
    AmiLinkLost,
    OriginateResult,
    ResyncFinished,
    ResyncStarted,
    TelephonyEvent,
)
from channels.telephony.originate import ClickToDial

log = Logger(namespace="channels.telephony.ami")

# The ring time of the agent's phone is Asterisk's to enforce; this margin only guards against
# an OriginateResponse that never comes.
_ORIGINATE_MARGIN = 15.0


@dataclass(frozen=True)
class AmiCredentials:
    """The AMI account (``manager.conf`` section name and its ``secret``)."""

    username: str
    secret: str


@dataclass(frozen=True)
class Backoff:
    """Reconnect delays: ``initial * factor**attempt`` capped at ``maximum``, plus ``jitter()``."""

    initial: float = 1.0
    maximum: float = 10.0
    factor: float = 2.0


class AmiService(Service):
    """Keeps the AMI link up and turns it into :mod:`~channels.telephony.callevents` for ``on_event``.

    ``endpoint`` is where Asterisk listens (e.g. ``TCP4ClientEndpoint(reactor, host, 5038)``);
    ``ids`` makes ActionIDs; ``jitter`` returns the random part added to each reconnect delay.
    The backoff grows with consecutive failures (connect refused, login refused, link lost before
    the resync finished) and starts again from ``backoff.initial`` after a successful resync.
    """

    def __init__(
        self,
        endpoint: IStreamClientEndpoint,
        credentials: AmiCredentials,
        reactor: IReactorTime,
        on_event: Callable[[TelephonyEvent], object],
        ids: Callable[[], str],
        jitter: Callable[[], float],
        backoff: Backoff = Backoff(),
        action_timeout: float = DEFAULT_ACTION_TIMEOUT,
    ) -> None:
        self._endpoint = endpoint
        self._credentials = credentials
        self._reactor = reactor
        self._clock = Clock(reactor)
        self._on_event = on_event
        self._ids = ids
        self._jitter = jitter
        self._backoff = backoff
        self._action_timeout = action_timeout
        self._protocol: AmiClientProtocol | None = None
        self._current: AmiClientProtocol | None = None
        self._sleeping: Deferred[None] | None = None
        self._loop: Deferred[None] | None = None
        self._ready_waiters: list[Deferred[AmiClientProtocol]] = []
        self.problem: str | None = "not connected yet"
        self.since: float = self._clock.now()

    def _set_problem(self, problem: str | None) -> None:
        if problem != self.problem:
            self.problem, self.since = problem, self._clock.now()

    def status(self) -> tuple[bool, str]:
        """``(up, detail)`` for /health: why the link is down and since when, or since when it is up."""
        since = datetime.fromtimestamp(self.since, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        if self._protocol is not None:
            return True, f"up since {since}"
        return False, f"{self.problem or 'down'} since {since}"

    def retry_delay(self, failures: int) -> float:
        """Seconds to wait after ``failures`` consecutive failures (1 for the first)."""
        b = self._backoff
        return min(b.initial * b.factor ** max(failures - 1, 0), b.maximum) + self._jitter()

    # -- lifecycle ---------------------------------------------------------------------------

    def startService(self) -> None:
        """Start connecting; returns at once, the link comes up in the background."""
        super().startService()
        self._loop = Deferred.fromCoroutine(self._keep_connected())
        self._loop.addErrback(lambda f: log.failure("AMI connection loop failed", f))

    def stopService(self) -> Deferred:
        """Log off politely if logged in, close the link and stop reconnecting."""
        super().stopService()
        return Deferred.fromCoroutine(self._stop())

    async def _stop(self) -> None:
        proto = self._protocol
        if proto is not None:
            try:
                await proto.send_action("Logoff", timeout=2.0)
            except Exception as exc:  # the link is going away anyway: say why, do not fail the stop
                log.info("AMI logoff skipped: {error}", error=str(exc))
        if self._sleeping is not None:
            self._sleeping.cancel()
        if self._current is not None and self._current.transport is not None:
            self._current.transport.loseConnection()
        if self._loop is not None:
            await self._loop
        for waiter in self._ready_waiters:
            waiter.errback(AmiConnectionLost("AMI service stopped"))
        self._ready_waiters = []

    @property
    def connected(self) -> bool:
        """True between a successful login and the loss of that connection."""
        return self._protocol is not None

    def whenReady(self) -> Deferred[AmiClientProtocol]:
        """A Deferred firing with the logged-in, resynchronised protocol (now or on the next connect)."""
        if self._protocol is not None:
            return succeed(self._protocol)
        waiter: Deferred[AmiClientProtocol] = Deferred()
        self._ready_waiters.append(waiter)
        return waiter

    # -- connect, login, resync --------------------------------------------------------------

    async def _keep_connected(self) -> None:
        failures = 0
        while self.running:
            proto = AmiClientProtocol(self._reactor, self._ids, self._event_received, self._action_timeout)
            try:
                await connectProtocol(self._endpoint, proto)
            except Exception as exc:
                log.warn("AMI connect failed: {error}", error=str(exc))
                self._set_problem(f"cannot connect ({exc.__class__.__name__})")
            else:
                self._current = proto
                if await self._session(proto):
                    failures = 0
                await proto.connection_closed
                self._current = None
                if self._protocol is proto:
                    self._protocol = None
                    self._set_problem("connection lost")
                    self._emit(AmiLinkLost(at=self._clock.now(), reason="connection lost"))
            if not self.running:
                return
            failures += 1
            delay = self.retry_delay(failures)
            log.info("AMI reconnect in {delay:.2f}s", delay=delay)
            self._sleeping = self._sleep(delay)
            try:
                await self._sleeping
            except CancelledError:
                return
            finally:
                self._sleeping = None

    def _sleep(self, delay: float) -> Deferred[None]:
        sleeping: Deferred[None] = Deferred(lambda _: call.cancel())
        call = self._clock.call_later(delay, sleeping.callback, None)
        return sleeping

    async def _session(self, proto: AmiClientProtocol) -> bool:
        """Log in and resynchronise; True once the link is usable. Closes the link on failure."""
        try:
            await proto.banner_received
            await proto.send_action("Login", [("Username", self._credentials.username), ("Secret", self._credentials.secret)])
            self._protocol = proto
            await self.resynchronise(proto)
        except AmiLoginFailed as exc:
            log.error("AMI login refused: {message}", message=exc.message)
            self._set_problem(f"login refused ({exc.message})")
            proto.transport.loseConnection()
            return False
        except (AmiConnectionLost, AmiActionTimeout) as exc:
            log.warn("AMI link lost during login/resync: {error}", error=str(exc))
            self._set_problem("link lost during login")
            proto.transport.loseConnection()
            return False
        except Exception:
            # Whatever went wrong, the loop must live on and retry with backoff.
            log.failure("AMI login/resync failed")
            proto.transport.loseConnection()
            return False
        self._set_problem(None)
        log.info("AMI link up and resynchronised")
        waiters, self._ready_waiters = self._ready_waiters, []
        for waiter in waiters:
            waiter.callback(proto)
        return True

    async def resynchronise(self, proto: AmiClientProtocol) -> None:
        """Deliver the PBX's current channels and device states, framed by Resync events.

        A list action Asterisk refuses (e.g. missing permission) is logged and skipped; the link
        stays up with what could be learnt.
        """
        self._emit(ResyncStarted(at=self._clock.now()))
        channels = devices = 0
        for action, translate in (("CoreShowChannels", channel_snapshot), ("DeviceStateList", device_presence)):
            try:
                result = await proto.send_list_action(action)
            except AmiActionError as exc:
                log.warn("AMI resync {action} refused: {message}", action=action, message=exc.message)
                continue
            now = self._clock.now()
            for item in result.items:
                self._emit(translate(item, now))
            if action == "CoreShowChannels":
                channels = len(result.items)
            else:
                devices = len(result.items)
        self._emit(ResyncFinished(at=self._clock.now(), channels=channels, devices=devices))

    # -- events and actions ------------------------------------------------------------------

    def _event_received(self, message: AmiMessage) -> None:
        event = translate_event(message, self._clock.now())
        if event is not None:
            self._emit(event)

    def _emit(self, event: TelephonyEvent) -> None:
        try:
            self._on_event(event)
        except Exception:
            log.failure("telephony event consumer failed on {event!r}", event=event)

    async def click_to_dial(self, request: ClickToDial) -> OriginateResult:
        """Originate ``request``: ring the agent's phone, then the customer.

        Returns the correlated :class:`OriginateResult` (``success`` False when the agent did not
        answer or the call could not be placed). Raises :class:`AmiConnectionLost` when the link
        is down, :class:`AmiActionError` if Asterisk refuses the action, ``InvalidDialNumber`` or
        ``AmiHeaderInjection`` before anything is written.
        """
        headers = request.headers()
        proto = self._protocol
        if proto is None:
            raise AmiConnectionLost("Originate: AMI link is down")
        timeout = (request.ring_timeout or 30.0) + _ORIGINATE_MARGIN
        result = await proto.send_action_awaiting_event("Originate", "OriginateResponse", headers, timeout=timeout)
        return originate_result(result.events[0], self._clock.now())

    async def send_action(self, action: str, headers: list[tuple[str, str]] | None = None) -> AmiMessage:
        """Send any other action over the current link and return its ``Response``.

        Raises :class:`AmiConnectionLost` when the link is down, else as
        :meth:`AmiClientProtocol.send_action`.
        """
        proto = self._protocol
        if proto is None:
            raise AmiConnectionLost(f"{action}: AMI link is down")
        return await proto.send_action(action, headers or ())
