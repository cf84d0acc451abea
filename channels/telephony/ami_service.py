"""The AMI link as a Twisted service: connect, log in, resynchronise, reconnect.

:class:`AmiService` keeps one AMI connection up through ``twisted.application.internet.ClientService``:
after each connect it logs in, then resynchronises (``CoreShowChannels`` and ``DeviceStateList``)
and hands the application, through ``on_event``, a :class:`ResyncStarted`, one
:class:`ChannelSnapshot` per live channel, one :class:`AgentPhonePresence` per device and a
:class:`ResyncFinished`. From then on every AMI event the application cares about arrives translated
(see :mod:`channels.telephony.ami_translate`). When the link drops, pending actions fail with
:class:`AmiConnectionLost`, the application gets :class:`AmiLinkLost`, and the service reconnects
with exponential backoff plus jitter from the injected source.

A refused login is logged as an error and retried with the same backoff (the secret may be fixed
in the PBX meanwhile); the service never gives up while running.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from twisted.application.internet import ClientService, backoffPolicy
from twisted.application.service import Service
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime, IStreamClientEndpoint
from twisted.internet.protocol import Factory
from twisted.logger import Logger

from callcenter.clock import Clock
from channels.telephony.ami_client import (
    DEFAULT_ACTION_TIMEOUT,
    AmiActionError,
    AmiClientProtocol,
    AmiConnectionLost,
)
from channels.telephony.ami_protocol import AmiMessage
from channels.telephony.ami_translate import channel_snapshot, device_presence, translate_event
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
    maximum: float = 60.0
    factor: float = 2.0


class AmiService(Service):
    """Keeps the AMI link up and turns it into :mod:`~channels.telephony.callevents` for ``on_event``.

    ``endpoint`` is where Asterisk listens (e.g. ``TCP4ClientEndpoint(reactor, host, 5038)``);
    ``ids`` makes ActionIDs; ``jitter`` returns the random part added to each reconnect delay.
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
        self._credentials = credentials
        self._reactor = reactor
        self._clock = Clock(reactor)
        self._on_event = on_event
        self._ids = ids
        self._action_timeout = action_timeout
        self._protocol: AmiClientProtocol | None = None
        factory = Factory.forProtocol(self._build_protocol)
        self._client = ClientService(
            endpoint,
            factory,
            retryPolicy=backoffPolicy(backoff.initial, backoff.maximum, backoff.factor, jitter),
            clock=reactor,
            prepareConnection=self._prepare,
        )

    def _build_protocol(self) -> AmiClientProtocol:
        return AmiClientProtocol(self._reactor, self._ids, self._event_received, self._action_timeout)

    # -- lifecycle ---------------------------------------------------------------------------

    def startService(self) -> None:
        """Start connecting; returns at once, the link comes up in the background."""
        super().startService()
        self._client.startService()

    def stopService(self) -> Deferred:
        """Log off politely if connected, then close and stop reconnecting."""
        super().stopService()
        return Deferred.fromCoroutine(self._stop())

    async def _stop(self) -> None:
        proto = self._protocol
        if proto is not None:
            try:
                await proto.send_action("Logoff", timeout=2.0)
            except Exception as exc:  # the link is going away anyway: say why, do not fail the stop
                log.info("AMI logoff skipped: {error}", error=str(exc))
        await self._client.stopService()

    @property
    def connected(self) -> bool:
        """True between a successful login and the loss of that connection."""
        return self._protocol is not None

    def whenReady(self) -> Deferred[AmiClientProtocol]:
        """A Deferred firing with the logged-in, resynchronised protocol (now or on the next connect)."""
        return self._client.whenConnected()

    # -- connect, login, resync --------------------------------------------------------------

    def _prepare(self, proto: AmiClientProtocol) -> Deferred:
        return Deferred.fromCoroutine(self._login_and_resync(proto))

    async def _login_and_resync(self, proto: AmiClientProtocol) -> None:
        proto.connection_closed.addCallback(self._connection_closed, proto)
        await proto.banner_received
        try:
            await proto.send_action("Login", [("Username", self._credentials.username), ("Secret", self._credentials.secret)])
        except AmiActionError as exc:
            log.error("AMI login refused: {message}", message=exc.message)
            proto.transport.loseConnection()
            raise
        self._protocol = proto
        await self.resynchronise(proto)

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

    def _connection_closed(self, _: None, proto: AmiClientProtocol) -> None:
        if self._protocol is proto:
            self._protocol = None
            self._emit(AmiLinkLost(at=self._clock.now(), reason="connection lost"))

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
        event = translate_event(result.events[0], self._clock.now())
        assert isinstance(event, OriginateResult)
        return event

    async def send_action(self, action: str, headers: list[tuple[str, str]] | None = None) -> AmiMessage:
        """Send any other action over the current link and return its ``Response``.

        Raises :class:`AmiConnectionLost` when the link is down, else as
        :meth:`AmiClientProtocol.send_action`.
        """
        proto = self._protocol
        if proto is None:
            raise AmiConnectionLost(f"{action}: AMI link is down")
        return await proto.send_action(action, headers or ())
