"""The FastAGI server: the requests of the documented dialplan, carried out for the application.

For ``agi://host:4573/inbound,<queue hint>,<IVR digits>`` a session

1. reads the channel variables named in :class:`HoldSettings.channel_variables` (``GET VARIABLE``),
2. builds an :class:`~channels.telephony.callhandling.InboundCall` and calls
   ``CallHandling.call_arrived``;
3. while no decision is there, holds the caller: ``SET MUSIC ON <class>`` (if a class is
   configured), then nothing: Asterisk plays the music while it waits for the next command and
   writes ``HANGUP`` if the caller goes. With ``announce_every`` the position variables
   ``CC_QUEUE_POSITION`` and ``CC_ESTIMATED_WAIT`` are refreshed on that timer;
4. carries the decision out at once: ``SET MUSIC OFF`` if music was started, then for
   :class:`DialAgent` ``CC_AGENT_ENDPOINT``, ``CC_DIAL_TIMEOUT``, ``CC_INTERACTION_ID``; for
   :class:`QueueClosed` ``CC_CLOSED_ANNOUNCEMENT``; last ``CC_OUTCOME`` (``dial``, ``closed``,
   ``release``); and closes the socket so the dialplan goes on.

The caller hanging up at any point (``HANGUP``, a command answering ``result=-1`` or 511, the
socket closed) ends the session and calls ``CallHandling.caller_hung_up`` once. So does a command
of ours that gets no answer within ``command_timeout`` seconds: the session is closed and the
caller reported gone. That timer runs only while a command is outstanding; the hold in step 3
sends nothing and has no timer, however long the caller waits.

For ``dialresult,<interaction id>,<DIALSTATUS>`` the session calls ``CallHandling.dial_result``
and sets ``CC_RETRY`` to 1 (route again) or 0. ``answered,<interaction id>`` (Dial's ``U()``
subroutine, on the agent's channel when it answers) calls ``CallHandling.call_answered``;
``hangup`` (the caller channel's hangup handler) calls ``CallHandling.channel_gone``. Neither
sends a command.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable
from twisted.application.service import Service
from twisted.internet.defer import Deferred, DeferredList, ensureDeferred
from twisted.internet.interfaces import IListeningPort, IReactorTime, IStreamServerEndpoint
from twisted.internet.protocol import ServerFactory
from twisted.logger import Logger

from callcenter.runtime.clock import Clock
from channels.telephony.agi_protocol import (
    AgiCommandError,
    AgiDeadChannel,
    AgiHangup,
    AgiProtocolError,
    AgiSessionProtocol,
)
from channels.telephony.callhandling import (
    CallHandling,
    CallInstruction,
    DialAgent,
    DialResult,
    InboundCall,
    QueueClosed,
    QueuePosition,
    ReleaseCall,
)
from channels.telephony.deadlines import Deadlines

log = Logger(namespace="channels.telephony.fastagi")

DEFAULT_PORT = 4573
# Asterisk answers GET/SET VARIABLE and SET MUSIC at once; an answer this late means the peer is gone.
DEFAULT_COMMAND_TIMEOUT = 30.0
_ENVIRONMENT = "the AGI environment"  # what a session awaits before its first command
# Every waiting caller holds one session, so this is also the most callers one server can hold.
DEFAULT_MAX_SESSIONS = 1000
SCRIPTS = ("inbound", "dialresult", "answered", "hangup")

# The channel variables the server sets; the dialplan in docs/telephony.md reads each of them.
VAR_AGENT_ENDPOINT = "CC_AGENT_ENDPOINT"
VAR_DIAL_TIMEOUT = "CC_DIAL_TIMEOUT"
VAR_INTERACTION_ID = "CC_INTERACTION_ID"
VAR_RETRY = "CC_RETRY"
VAR_CLOSED_ANNOUNCEMENT = "CC_CLOSED_ANNOUNCEMENT"
VAR_QUEUE_POSITION = "CC_QUEUE_POSITION"
VAR_ESTIMATED_WAIT = "CC_ESTIMATED_WAIT"
VAR_OUTCOME = "CC_OUTCOME"
DIALPLAN_VARIABLES = (VAR_AGENT_ENDPOINT, VAR_DIAL_TIMEOUT, VAR_INTERACTION_ID, VAR_RETRY, VAR_CLOSED_ANNOUNCEMENT,
                      VAR_OUTCOME)


@dataclass(frozen=True)
class HoldSettings:
    """How a waiting caller is held and what is read from the channel first.

    ``music_class`` None plays no music (the caller hears silence). ``announce_every`` seconds
    (None: never) the caller's place in line is set in ``CC_QUEUE_POSITION`` and
    ``CC_ESTIMATED_WAIT`` when it changed. The hold itself has no timer: a decision is carried
    out the moment it exists.
    """

    music_class: str | None = "default"
    announce_every: float | None = None
    channel_variables: tuple[str, ...] = ("IVR_DIGITS",)


class _CallerGone(Exception):
    """Internal: the channel is gone; stop talking to it."""


def _unknown_to_none(value: str | None) -> str | None:
    return None if value in (None, "", "unknown") else value


def _request_path(env: dict[str, str]) -> str:
    script = env.get("agi_network_script", "")
    return script.split("?", 1)[0].strip("/")


class FastAgiSession:
    """Runs one FastAGI request over an :class:`AgiSessionProtocol` (see the module docstring)."""

    def __init__(self, app: CallHandling, clock: Clock, settings: HoldSettings, environment_timeout: float = 10.0,
                 command_timeout: float = DEFAULT_COMMAND_TIMEOUT, environment_deadlines: Deadlines | None = None,
                 command_deadlines: Deadlines | None = None) -> None:
        self._app = app
        self._clock = clock
        self._settings = settings
        self.protocol = AgiSessionProtocol(self._environment, self._hangup)
        self.done: Deferred[None] = Deferred()
        self._hangup_reported = False
        self._call: InboundCall | None = None
        self._wake_on_hangup: Callable[[], None] = lambda: None
        # What is awaited has a deadline: the environment (a peer that never finishes it must
        # not hold a session forever), then the answer to each command in turn, and nothing in
        # between (a hold sends nothing, so nothing is awaited). The deadlines are the
        # factory's, shared by every session (see Deadlines); a session built alone has its own.
        if environment_deadlines is None:
            environment_deadlines = Deadlines(clock, environment_timeout, _environment_overdue)
        if command_deadlines is None:
            command_deadlines = Deadlines(clock, command_timeout, _command_overdue)
        self._env_deadlines, self._command_deadlines = environment_deadlines, command_deadlines
        self._command_timeout = self._command_deadlines.seconds
        self._awaiting: str | None = _ENVIRONMENT
        self._env_deadlines.start(self)
        self.protocol.closed.addBoth(self._cancel_deadline)

    def _await_within(self, what: str) -> None:
        self._awaiting = what
        self._command_deadlines.start(self)

    def _answered(self) -> None:
        self._awaiting = None
        self._command_deadlines.clear(self)

    def _environment_overdue(self) -> None:
        if self._awaiting == _ENVIRONMENT:
            self._awaiting = None
            log.warn("FastAGI peer sent no complete environment in time; closing")
            self.protocol.close()

    def _overdue(self) -> None:
        what, self._awaiting = self._awaiting, None
        if what is not None and what != _ENVIRONMENT:
            self._command_overdue(what)

    def _cancel_deadline(self, result: object) -> object:
        self._awaiting = None
        self._env_deadlines.clear(self)
        self._command_deadlines.clear(self)
        return result

    def _hangup(self) -> None:
        self._wake_on_hangup()
        if self._call is not None and not self._hangup_reported and not self.done.called:
            self._hangup_reported = True
            try:
                self._app.caller_hung_up(self._call, self._clock.now())
            except Exception:
                log.failure("caller_hung_up failed for {uniqueid}", uniqueid=self._call.uniqueid)

    def _environment(self, pairs: list[tuple[str, str]]) -> None:
        self._awaiting = None
        self._env_deadlines.clear(self)
        ensureDeferred(self._run(pairs)).addBoth(self._finished)

    def _finished(self, result: object) -> None:
        self.protocol.close()
        if not self.done.called:
            self.done.callback(None)

    async def _run(self, pairs: list[tuple[str, str]]) -> None:
        env = dict(pairs)
        path = _request_path(env)
        try:
            if path == "inbound":
                await self._inbound(env)
            elif path == "dialresult":
                await self._dial_result(env)
            elif path == "answered":
                self._app.call_answered(env.get("agi_arg_1", ""), env.get("agi_uniqueid", ""), self._clock.now())
            elif path == "hangup":
                self._app.channel_gone(env.get("agi_uniqueid", ""), self._clock.now())
            else:
                log.warn("FastAGI request for unknown script {path!r} closed", path=path)
        except (_CallerGone, AgiHangup, AgiDeadChannel):
            self._hangup()
        except (AgiCommandError, AgiProtocolError) as exc:
            log.error("FastAGI {path} session ended: {error}", path=path, error=str(exc))
        except Exception:
            log.failure("FastAGI {path} session failed", path=path)

    async def _command(self, verb: str, *args: str):
        if self.protocol.hung_up:
            raise _CallerGone()
        answer = self.protocol.command(verb, *args)
        self._await_within(verb)
        try:
            return await answer
        finally:
            self._answered()

    def _command_overdue(self, verb: str) -> None:
        reason = f"no answer to {verb} within {self._command_timeout:g} s"
        log.warn("FastAGI session closed: {reason}", reason=reason)
        # AgiHangup: _run reports the caller gone, as when the socket closes under us.
        self.protocol.give_up(AgiHangup(reason))

    async def _set(self, name: str, value: str) -> None:
        await self._command("SET VARIABLE", name, value)

    async def _inbound(self, env: dict[str, str]) -> None:
        variables = []
        for name in self._settings.channel_variables:
            response = await self._command("GET VARIABLE", name)
            if response.result == 1 and response.data is not None:
                variables.append((name, response.data))
        args = tuple(value for key, value in sorted(
            ((k, v) for k, v in env.items() if k.startswith("agi_arg_") and k[8:].isdigit()), key=lambda kv: int(kv[0][8:])
        ))
        call = InboundCall(
            uniqueid=env.get("agi_uniqueid", ""),
            channel=env.get("agi_channel", ""),
            caller_number=_unknown_to_none(env.get("agi_callerid")),
            caller_name=_unknown_to_none(env.get("agi_calleridname")),
            dialed_number=_unknown_to_none(env.get("agi_dnid")),
            extension=env.get("agi_extension", ""),
            context=env.get("agi_context", ""),
            language=env.get("agi_language", ""),
            queue_hint=args[0] if args and args[0] else None,
            ivr_digits=(args[1] if len(args) > 1 and args[1] else None) or dict(variables).get("IVR_DIGITS") or None,
            args=args,
            variables=tuple(variables),
            arrived_at=self._clock.now(),
        )
        self._call = call
        if self.protocol.hung_up:
            raise _CallerGone()
        decision = ensureDeferred(self._app.call_arrived(call))
        outcome: list[object] = []
        decision.addBoth(outcome.append)
        music = False
        if not outcome:
            # Hold without a timed Wait: music plays while the AGI waits for our next command,
            # and Asterisk writes HANGUP on this socket the moment the caller goes. The decision
            # is carried out as soon as it exists, not at the end of a hold slice.
            if self._settings.music_class is not None:
                await self._command("SET MUSIC ON", self._settings.music_class)
                music = True
            await self._hold(call, decision, outcome)
        if self.protocol.hung_up or self.protocol.aborted:
            raise _CallerGone()
        result = outcome[0]
        if not isinstance(result, (DialAgent, QueueClosed, ReleaseCall)):
            if music:
                await self._command("SET MUSIC OFF")
            if hasattr(result, "raiseException"):
                result.raiseException()  # type: ignore[union-attr]
            return
        await self._carry_out(result, music)

    async def _hold(self, call: InboundCall, decision: Deferred, outcome: list[object]) -> None:
        """Wait for the decision or the caller's hang-up, announcing the position on a timer."""
        wake: Deferred[None] = Deferred()

        def wake_up(_: object = None) -> None:
            if not wake.called:
                wake.callback(None)

        decision.addBoth(lambda result: (wake_up(), result)[1])
        self._wake_on_hangup = wake_up
        # A peer closed for breaking a limit mid-hold (an over-long line) must not leave the
        # caller queued with nobody to carry the decision out. A close on shutdown is no abandon:
        # the dialplan holds the caller and asks the next server.
        self.protocol.closed.addBoth(lambda result: (wake_up() if self.protocol.aborted else None, result)[1])
        announced: QueuePosition | None = None
        every = self._settings.announce_every
        while not outcome and not self.protocol.hung_up and not self.protocol.aborted:
            timer = self._clock.call_later(every, wake_up) if every else None
            await wake
            if timer is not None and timer.active():
                timer.cancel()
            wake = Deferred()
            if outcome or self.protocol.hung_up or self.protocol.aborted:
                return
            position = self._app.queue_position(call)
            if position is not None and position != announced:
                await self._announce(position)
                announced = position

    async def _announce(self, position: QueuePosition) -> None:
        await self._set(VAR_QUEUE_POSITION, str(position.position))
        if position.estimated_wait_seconds is not None:
            await self._set(VAR_ESTIMATED_WAIT, str(position.estimated_wait_seconds))

    async def _carry_out(self, instruction: CallInstruction, music: bool) -> None:
        commands: list[tuple[str, ...]] = [("SET MUSIC OFF",)] if music else []
        if isinstance(instruction, DialAgent):
            commands += [("SET VARIABLE", VAR_AGENT_ENDPOINT, instruction.endpoint),
                         ("SET VARIABLE", VAR_DIAL_TIMEOUT, str(instruction.timeout_seconds)),
                         ("SET VARIABLE", VAR_INTERACTION_ID, instruction.interaction_id)]
            outcome = "dial"
        elif isinstance(instruction, QueueClosed):
            commands.append(("SET VARIABLE", VAR_CLOSED_ANNOUNCEMENT, instruction.announcement))
            outcome = "closed"
        else:
            outcome = "release"
        # Set last: a session that ends without it (the server stopped or crashed mid-call) is
        # told apart by the dialplan, which holds the caller and asks again.
        commands.append(("SET VARIABLE", VAR_OUTCOME, outcome))
        # One at a time: Asterisk reads the socket through a stdio buffer and polls the descriptor
        # between commands, so a second line already in its buffer would never be seen (a live
        # Asterisk stopped there with the caller on silence when they were sent together).
        for command in commands:
            await self._command(*command)

    async def _dial_result(self, env: dict[str, str]) -> None:
        result = DialResult(
            interaction_id=env.get("agi_arg_1", ""),
            status=env.get("agi_arg_2", ""),
            uniqueid=env.get("agi_uniqueid", ""),
            channel=env.get("agi_channel", ""),
            at=self._clock.now(),
        )
        retry = await self._app.dial_result(result)
        await self._set(VAR_RETRY, "1" if retry else "0")


def _environment_overdue(session: object) -> None:
    session._environment_overdue()  # type: ignore[attr-defined]  # noqa: SLF001


def _command_overdue(session: object) -> None:
    session._overdue()  # type: ignore[attr-defined]  # noqa: SLF001


class FastAgiFactory(ServerFactory):
    """Builds one :class:`FastAgiSession` per connection and remembers the live ones for draining.

    A connection that has not sent its whole environment within ``environment_timeout`` seconds
    is closed; so is one that leaves a command unanswered for ``command_timeout`` seconds. With
    ``max_sessions`` sessions open, a new connection is closed at once (Asterisk's dialplan goes
    on without the AGI), so a flood of connections cannot exhaust the process's descriptors.
    """

    def __init__(
        self, app: CallHandling, reactor: IReactorTime, settings: HoldSettings = HoldSettings(), environment_timeout: float = 10.0,
        command_timeout: float = DEFAULT_COMMAND_TIMEOUT, max_sessions: int = DEFAULT_MAX_SESSIONS,
    ) -> None:
        self._app = app
        self._clock = Clock(reactor)
        self.settings = settings
        self.environment_timeout = environment_timeout
        self.command_timeout = command_timeout
        self.max_sessions = max_sessions
        self.refused = 0
        self.sessions: set[FastAgiSession] = set()
        self._env_deadlines = Deadlines(self._clock, environment_timeout, _environment_overdue)
        self._command_deadlines = Deadlines(self._clock, command_timeout, _command_overdue)

    def buildProtocol(self, addr: object) -> AgiSessionProtocol | None:
        if len(self.sessions) >= self.max_sessions:
            self.refused += 1
            # Logged at the first refusal and then every 1,000th, so a flood cannot flood the log.
            if self.refused % 1000 == 1:
                log.warn("FastAGI connection refused: {max} sessions open ({refused} refused so far)",
                         max=self.max_sessions, refused=self.refused)
            return None
        if self._env_deadlines.seconds != self.environment_timeout:
            self._env_deadlines = Deadlines(self._clock, self.environment_timeout, _environment_overdue)
        if self._command_deadlines.seconds != self.command_timeout:
            self._command_deadlines = Deadlines(self._clock, self.command_timeout, _command_overdue)
        session = FastAgiSession(self._app, self._clock, self.settings, self.environment_timeout, self.command_timeout,
                                 self._env_deadlines, self._command_deadlines)
        self.sessions.add(session)
        session.protocol.closed.addBoth(lambda _: self.sessions.discard(session))
        session.protocol.factory = self
        return session.protocol


class FastAgiService(Service):
    """Listens on ``endpoint`` (default port 4573) with a :class:`FastAgiFactory`.

    ``stopService`` stops accepting, waits up to ``drain_timeout`` seconds for sessions in
    progress to finish, then closes the rest (their callers continue in the dialplan).
    """

    def __init__(
        self,
        endpoint: IStreamServerEndpoint,
        app: CallHandling,
        reactor: IReactorTime,
        settings: HoldSettings = HoldSettings(),
        drain_timeout: float = 5.0,
    ) -> None:
        self._endpoint = endpoint
        self._clock = Clock(reactor)
        self.factory = FastAgiFactory(app, reactor, settings)
        self._drain_timeout = drain_timeout
        self.port: IListeningPort | None = None

    def startService(self) -> Deferred[IListeningPort]:  # type: ignore[override]
        """Start listening; the Deferred fires with the listening port."""
        super().startService()

        def listening(port: IListeningPort) -> IListeningPort:
            self.port = port
            return port

        return self._endpoint.listen(self.factory).addCallback(listening)

    def stopService(self) -> Deferred:
        """Stop listening, drain in-flight sessions, close stragglers."""
        super().stopService()
        return ensureDeferred(self._stop())

    async def _stop(self) -> None:
        if self.port is not None:
            await self.port.stopListening()
        pending = [s.protocol.closed for s in self.factory.sessions]
        if not pending:
            return
        timer = self._clock.call_later(self._drain_timeout, self._close_all)
        await DeferredList(pending)
        if timer.active():
            timer.cancel()

    def _close_all(self) -> None:
        for session in list(self.factory.sessions):
            log.warn("FastAGI session of {channel} closed on shutdown", channel=session.protocol.transport)
            session.protocol.close()


def tcp_fastagi_service(
    reactor: IReactorTime, app: CallHandling, port: int = DEFAULT_PORT, interface: str = "127.0.0.1", settings: HoldSettings = HoldSettings()
) -> FastAgiService:
    """A :class:`FastAgiService` on TCP ``interface:port`` (``reactor`` must also be an ``IReactorTCP``)."""
    from twisted.internet.endpoints import TCP4ServerEndpoint

    return FastAgiService(TCP4ServerEndpoint(reactor, port, interface=interface), app, reactor, settings)

