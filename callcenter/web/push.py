"""Live events to browsers over Server-Sent Events (``GET /push``).

:class:`PushHub` numbers the events of each topic (``agent:<login>``, ``supervisors``) and keeps
the last ``replay`` of each in memory. :class:`PushResource` streams to an authenticated
principal the topics it may see: an agent only ``agent:<own login>``; a supervisor or an admin
``supervisors`` too (and their own agent topic when they are also an agent).

Every event carries an SSE ``id`` that is the connection's position in each of its topics
(``<epoch>,agent%3Aalice=12,supervisors=340``), so a browser reconnecting with
``Last-Event-ID`` (or ``?last_event_id=`` when a page reconnects by hand) is sent exactly what
it missed, in publication order. A cursor the buffer no longer covers, from another server
run (``epoch``) or naming other topics gets a ``resync`` event instead.

The snapshot hook closes the gap between "what happened before" and "what happens next": on a
fresh connection and on a resync, the hub registers the stream first, then awaits
``snapshot(principal)`` and sends it as a ``snapshot`` event before any live event published
meanwhile (those wait). The snapshot's id is the position at registration, so nothing
published after it is lost even if the link drops right after; an event may show in both
the snapshot and a later event, never in neither. ``resync`` events carry no id when a
snapshot follows, so a drop between the two resynchronises again.

Streams end with the sign-in that opened them. With ``signins`` (the
:class:`~callcenter.web.authn.Authenticator`), a stream remembers what signed its request in;
a logout in this process ends that session's streams at once, and every ``recheck`` seconds
(default 2) one read of the record ends the streams whose session or token no longer holds:
the user was disabled, their password changed or the token was revoked (also by the
``callcenter user`` command in another process), or the session reached its absolute
lifetime. A stream so ended gets a ``signed_out`` event and is closed; the browser's reconnect
is then refused with 401. Nothing is sent on a stream between the change and the next check
but events published in that window (at most ``recheck`` seconds).

Flow control: a stream registers as the request's push producer. While the socket's buffer is
full the hub queues that stream's events; past ``max_buffer`` queued bytes it drops the
connection (the browser reconnects and gets a replay or a resync). A comment line every
``keepalive`` seconds keeps proxies from closing idle streams. ``stopService`` ends every
stream cleanly and refuses new ones with 503. Everything runs on the reactor thread:
:meth:`PushHub.publish` must be called there, after the transaction that made the event
committed.
"""

from __future__ import annotations

import json
import re
import secrets
from collections import deque
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Iterable
from urllib.parse import quote, unquote

from twisted.application.service import Service
from twisted.internet.defer import Deferred
from twisted.logger import Logger
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request
from zope.interface import implementer
from twisted.internet.interfaces import IPushProducer

from callcenter.runtime.clock import Clock

log = Logger(namespace="callcenter.web.push")

SUPERVISORS = "supervisors"
KEEPALIVE_SECONDS = 15.0
RECHECK_SECONDS = 2.0
RETRY_MILLISECONDS = 2000
_KIND = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$")
_KEEPALIVE = b": keepalive\n\n"
_KINDS_SEEN: set[str] = set()  # kinds already checked against _KIND (the switchboard uses a dozen)

Snapshot = Callable[[Any], Awaitable[Any]]
PrincipalFor = Callable[[Request], Awaitable[Any]]


def agent_topic(login: str) -> str:
    """The topic of one agent's events."""
    return f"agent:{login}"


def topics_for(principal: Any) -> tuple[str, ...]:
    """The topics ``principal`` may read: its own agent topic, and ``supervisors`` for supervisors and admins."""
    topics = []
    if getattr(principal, "agent", None):
        topics.append(agent_topic(principal.agent))
    if getattr(principal, "role", None) in ("supervisor", "admin"):
        topics.append(SUPERVISORS)
    return tuple(topics)


@dataclass(frozen=True)
class _Event:
    topic: str
    seq: int
    order: int
    body: bytes  # "event: ...\ndata: ...\n", without the id line and the blank line


class _Topic:
    def __init__(self, replay: int, replay_bytes: int) -> None:
        self.seq = 0
        self.recent: deque[_Event] = deque()
        self.recent_bytes = 0
        self.replay = replay
        self.replay_bytes = replay_bytes
        self.streams: set[_Stream] = set()

    def keep(self, event: _Event) -> None:
        """Remember ``event`` for replay, forgetting the oldest past the count or byte budget."""
        self.recent.append(event)
        self.recent_bytes += len(event.body)
        while len(self.recent) > self.replay or (self.recent_bytes > self.replay_bytes and len(self.recent) > 1):
            self.recent_bytes -= len(self.recent.popleft().body)


# One encoder for every event: json.dumps with these options builds a new one per call.
_encode_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _body(kind: str, data: Any) -> bytes:
    # JSON escapes newlines, so the data is always a single "data:" line.
    return b"event: " + kind.encode("ascii") + b"\ndata: " + _encode_json(data).encode("utf-8") + b"\n"


@implementer(IPushProducer)
class _Stream:
    """One open ``/push`` response: its cursor, and what waits while it is paused or unsynchronised."""

    def __init__(self, hub: PushHub, request: Request, principal: Any, topics: tuple[str, ...],
                 cursor: dict[str, int], credential: Any = None) -> None:
        self.hub = hub
        self.request = request
        self.principal = principal
        self.credential = credential
        self.topics = topics
        self.cursor = cursor
        self.ready = False
        self.paused = False
        self.closed = False
        self.waiting: list[bytes] = []
        self.waiting_bytes = 0

    def event_id(self) -> bytes:
        """The SSE id for the current cursor."""
        parts = [self.hub.epoch] + [f"{quote(t, safe=':')}={self.cursor[t]}" for t in self.topics]
        return ",".join(parts).encode("ascii")

    def frame(self, event: _Event) -> bytes:
        """Advance the cursor past ``event`` and return its bytes on this stream."""
        self.cursor[event.topic] = event.seq
        return b"id: " + self.event_id() + b"\n" + event.body + b"\n"

    def send(self, data: bytes) -> None:
        """Write now, or queue while paused/unsynchronised; drop the client past the cap."""
        if self.closed:
            return
        if self.ready and not self.paused:
            self.request.write(data)
            return
        self.waiting.append(data)
        self.waiting_bytes += len(data)
        if self.waiting_bytes > self.hub.max_buffer:
            log.info("dropping a slow push client of {login}", login=getattr(self.principal, "login", "?"))
            self.hub.drop(self)

    def flush(self) -> None:
        """Write what waited, once ready and not paused."""
        if self.closed or not self.ready or self.paused or not self.waiting:
            return
        waiting, self.waiting, self.waiting_bytes = self.waiting, [], 0
        self.request.write(b"".join(waiting))

    # IPushProducer: the HTTP channel tells us when the socket's buffer is full or drained.
    def pauseProducing(self) -> None:  # noqa: N802 - twisted API
        self.paused = True

    def resumeProducing(self) -> None:  # noqa: N802 - twisted API
        self.paused = False
        self.flush()

    def stopProducing(self) -> None:  # noqa: N802 - twisted API
        self.hub.forget(self)


class PushHub(Service):
    """Numbered, replayable events per topic and the streams that read them.

    ``clock`` schedules keep-alives; ``replay`` is how many recent events of each topic are
    kept for reconnecting clients, within ``replay_bytes`` per topic (memory stays bounded
    when events carry whole screen pops); ``max_buffer`` the bytes a stalled client may have queued
    before it is dropped; ``snapshot(principal)`` (optional, async) returns the principal's
    current state, sent first on connect and on resync; ``epoch`` names this run of the hub
    in event ids (random by default); ``max_streams`` caps the open streams of one user;
    ``signins`` (``credential_of(request)``, async ``ended(credentials)``,
    ``on_sign_out(listener)``: the Authenticator) ends streams whose sign-in ended, checked
    every ``recheck`` seconds (see the module docstring).
    """

    def __init__(self, clock: Clock, replay: int = 256, max_buffer: int = 1024 * 1024,
                 snapshot: Snapshot | None = None, keepalive: float = KEEPALIVE_SECONDS,
                 epoch: str | None = None, max_streams: int = 8, replay_bytes: int = 128 * 1024,
                 signins: Any = None, recheck: float = RECHECK_SECONDS) -> None:
        if replay < 1 or max_buffer < 1 or keepalive <= 0 or replay_bytes < 1 or recheck <= 0:
            raise ValueError("replay, replay_bytes, max_buffer, keepalive and recheck must be positive")
        self.setName("push")
        self.clock = clock
        self.replay = replay
        self.replay_bytes = replay_bytes
        self.max_buffer = max_buffer
        self.snapshot = snapshot
        self.keepalive = keepalive
        self.epoch = epoch or secrets.token_hex(4)
        self.max_streams = max_streams
        self._topics: dict[str, _Topic] = {}
        self._streams: set[_Stream] = set()
        self._order = 0
        self._timer: Any = None
        self._recheck_timer: Any = None
        self.signins = signins
        self.recheck = recheck
        if signins is not None:
            signins.on_sign_out(self._signed_out)
        self.accepting = False

    # --- publishing ---

    def publish(self, topic: str, kind: str, data: Any) -> int:
        """Send ``kind`` with JSON-able ``data`` to ``topic``'s readers; return its number in the topic.

        ValueError for a kind that is not a short identifier (it goes into the SSE framing);
        TypeError for data JSON cannot encode. Call on the reactor thread, after commit.
        """
        if kind not in _KINDS_SEEN:
            if not _KIND.match(kind):
                raise ValueError(f"bad event kind {kind!r}")
            if len(_KINDS_SEEN) < 1024:
                _KINDS_SEEN.add(kind)
        body = _body(kind, data)
        state = self._topic(topic)
        state.seq += 1
        self._order += 1
        event = _Event(topic, state.seq, self._order, body)
        state.keep(event)
        for stream in list(state.streams):
            stream.send(stream.frame(event))
        return state.seq

    def last_seq(self, topic: str) -> int:
        """The number of the last event published to ``topic`` (0 if none)."""
        state = self._topics.get(topic)
        return state.seq if state else 0

    def connections(self) -> int:
        """How many streams are open."""
        return len(self._streams)

    def _topic(self, topic: str) -> _Topic:
        state = self._topics.get(topic)
        if state is None:
            state = self._topics[topic] = _Topic(self.replay, self.replay_bytes)
        return state

    # --- streams ---

    def open(self, request: Request, principal: Any, topics: Iterable[str], last_event_id: str | None) -> _Stream:
        """Start streaming ``topics`` to ``request`` from ``last_event_id`` (see the module docstring)."""
        topics = tuple(topics)
        credential = self.signins.credential_of(request) if self.signins is not None else None
        stream = _Stream(self, request, principal, topics, {t: self._topic(t).seq for t in topics}, credential)
        missed = self._missed(topics, last_event_id)
        request.setHeader(b"content-type", b"text/event-stream; charset=utf-8")
        request.setHeader(b"cache-control", b"no-store")
        request.setHeader(b"x-accel-buffering", b"no")
        transport = getattr(request.channel, "transport", None)
        if transport is not None and hasattr(transport, "setTcpNoDelay"):
            transport.setTcpNoDelay(True)
        request.write(b"retry: %d\n\n" % RETRY_MILLISECONDS)
        request.registerProducer(stream, True)
        self._streams.add(stream)
        for t in topics:
            self._topics[t].streams.add(stream)
        request.notifyFinish().addBoth(lambda _: self.forget(stream))
        if missed is not None:
            stream.cursor = dict(missed[0])
            stream.ready = True
            for event in missed[1]:
                request.write(stream.frame(event))
        else:
            self._synchronise(stream, resync=last_event_id is not None)
        return stream

    def _missed(self, topics: tuple[str, ...], last_event_id: str | None) -> tuple[dict[str, int], list[_Event]] | None:
        """(client cursor, events to replay in publication order), or None when a snapshot is needed."""
        if not last_event_id:
            return None
        parts = last_event_id.strip().split(",")
        if parts[0] != self.epoch:
            return None
        cursor: dict[str, int] = {}
        for part in parts[1:]:
            name, sep, seq = part.partition("=")
            if not sep or not seq.isdigit() or len(seq) > 18:
                return None
            cursor[unquote(name)] = int(seq)
        if set(cursor) != set(topics):
            return None
        events: list[_Event] = []
        for t in topics:
            state, seen = self._topics[t], cursor[t]
            if seen > state.seq:
                return None
            if seen < state.seq:
                if not state.recent or state.recent[0].seq > seen + 1:
                    return None
                events.extend(e for e in state.recent if e.seq > seen)
        events.sort(key=lambda e: e.order)
        return cursor, events

    def _synchronise(self, stream: _Stream, resync: bool) -> None:
        if self.snapshot is None:
            stream.ready = True
            if resync:
                stream.request.write(b"id: " + stream.event_id() + b"\n" + _body("resync", {}) + b"\n")
            return
        if resync:
            stream.request.write(_body("resync", {}) + b"\n")
        at = stream.event_id()
        d = Deferred.fromCoroutine(self._send_snapshot(stream, at))
        d.addErrback(lambda f: (log.failure("push snapshot failed", f), self.drop(stream)))

    async def _send_snapshot(self, stream: _Stream, at: bytes) -> None:
        state = await self.snapshot(stream.principal)
        if stream.closed:
            return
        # The snapshot jumps the queue: everything waiting was published after it was taken.
        stream.request.write(b"id: " + at + b"\n" + _body("snapshot", state) + b"\n")
        stream.ready = True
        stream.flush()

    def streams_of(self, user_id: Any) -> int:
        """How many streams ``user_id``'s principals hold open."""
        return sum(1 for s in self._streams if getattr(s.principal, "user_id", None) == user_id)

    def forget(self, stream: _Stream) -> None:
        """Unregister ``stream`` (its connection ended); harmless twice."""
        if stream.closed:
            return
        stream.closed = True
        stream.waiting, stream.waiting_bytes = [], 0
        self._streams.discard(stream)
        for t in stream.topics:
            self._topics[t].streams.discard(stream)

    def end(self, stream: _Stream, last: bytes = b"") -> None:
        """End a stream cleanly, writing ``last`` first (the browser reconnects when it wants)."""
        self.forget(stream)
        if not stream.request.finished:
            if last:
                stream.request.write(last)
            stream.request.unregisterProducer()
            stream.request.finish()

    def _sign_out(self, streams: Iterable[_Stream]) -> None:
        for stream in list(streams):
            log.info("push stream of {login} ended: signed out", login=getattr(stream.principal, "login", "?"))
            self.end(stream, _body("signed_out", {}) + b"\n")

    def _signed_out(self, key: str) -> None:
        self._sign_out(s for s in self._streams if s.credential is not None and s.credential.key == key)

    async def recheck_signins(self) -> int:
        """End every stream whose sign-in no longer holds (one check for all); returns how many ended."""
        if self.signins is None:
            return 0
        credentials = {s.credential for s in self._streams if s.credential is not None}
        if not credentials:
            return 0
        ended = await self.signins.ended(credentials)
        gone = [s for s in self._streams if s.credential in ended]
        self._sign_out(gone)
        return len(gone)

    def _schedule_recheck(self, _: object = None) -> None:
        if self.accepting and self.signins is not None:
            self._recheck_timer = self.clock.call_later(self.recheck, self._recheck)

    def _recheck(self) -> None:
        # The next check is scheduled only when this one is done: a slow database never piles them up.
        d = Deferred.fromCoroutine(self.recheck_signins())
        d.addErrback(lambda f: log.failure("push sign-in check failed", f))
        d.addBoth(self._schedule_recheck)

    def drop(self, stream: _Stream) -> None:
        """Cut a stream's connection at once (slow client, failed snapshot)."""
        self.forget(stream)
        transport = getattr(stream.request.channel, "transport", None)
        if transport is not None:
            transport.abortConnection()

    # --- service ---

    def startService(self) -> None:  # noqa: N802 - twisted API
        """Accept streams and start the keep-alive timer."""
        Service.startService(self)
        self.accepting = True
        self._timer = self.clock.call_later(self.keepalive, self._keep_alive)
        self._schedule_recheck()

    def stopService(self) -> None:  # noqa: N802 - twisted API
        """Refuse new streams and end every open one cleanly (the browsers reconnect later)."""
        Service.stopService(self)
        self.accepting = False
        for timer in (self._timer, self._recheck_timer):
            if timer is not None and timer.active():
                timer.cancel()
        self._timer = self._recheck_timer = None
        for stream in list(self._streams):
            self.end(stream)

    def _keep_alive(self) -> None:
        for stream in list(self._streams):
            if stream.ready and not stream.paused:
                stream.request.write(_KEEPALIVE)
        self._timer = self.clock.call_later(self.keepalive, self._keep_alive)


class PushResource(Resource):
    """``GET /push``: the event stream of the authenticated principal.

    ``principal_for(request)`` returns the principal or None (401 JSON); ``topics``
    maps a principal to the topics it may read (default :func:`topics_for`). 503 while the
    hub is not running, 429 when the user already holds ``hub.max_streams`` streams.
    """

    isLeaf = True

    def __init__(self, hub: PushHub, principal_for: PrincipalFor,
                 topics: Callable[[Any], tuple[str, ...]] = topics_for) -> None:
        super().__init__()
        self._hub = hub
        self._principal_for = principal_for
        self._topics = topics

    def render_GET(self, request: Request) -> object:  # noqa: N802 - twisted API
        d = Deferred.fromCoroutine(self._serve(request))
        d.addErrback(lambda f: (log.failure("push request failed", f), _error(request, 500, "internal_error",
                                                                              "internal server error")))
        return NOT_DONE_YET

    async def _serve(self, request: Request) -> None:
        gone: list = []
        request.notifyFinish().addBoth(gone.append)
        principal = await self._principal_for(request)
        if gone:
            return
        if principal is None:
            return _error(request, 401, "unauthenticated", "log in first")
        if not self._hub.accepting:
            return _error(request, 503, "unavailable", "the server is stopping")
        topics = self._topics(principal)
        if not topics:
            return _error(request, 403, "forbidden", "nothing to stream for this user")
        if self._hub.streams_of(getattr(principal, "user_id", None)) >= self._hub.max_streams:
            request.setHeader(b"retry-after", b"30")
            return _error(request, 429, "too_many_streams", "too many open push streams for this user")
        header = request.getHeader(b"last-event-id")
        last = header.decode("ascii", "replace") if header else None
        if last is None:
            last = request.args.get(b"last_event_id", [b""])[0].decode("ascii", "replace") or None
        self._hub.open(request, principal, topics, last)


def _error(request: Request, status: int, code: str, message: str) -> None:
    if request.finished or request.startedWriting:
        return
    request.setResponseCode(status)
    request.setHeader(b"content-type", b"application/json; charset=utf-8")
    request.setHeader(b"cache-control", b"no-store")
    request.write(json.dumps({"error": {"code": code, "message": message}}).encode("utf-8"))
    request.finish()
