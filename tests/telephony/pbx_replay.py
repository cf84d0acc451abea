"""Replays a recorded PBX (the AMI link and every FastAGI session) against the whole server.

A recording (``tests/fixtures/asterisk/calls/<name>.jsonl``, made with
:mod:`tests.telephony.pbx_recorder` between a live Asterisk and the server) is played in its
recorded order on a virtual clock (:class:`tests.support.virtualtime.VirtualTimeReactor`): before
each chunk the clock moves to the chunk's recorded moment, so every timer of the server fires
when it did live. Asterisk's chunks are sent as recorded; at each chunk the server wrote, the
player waits until the server wrote the same bytes and fails on the first difference. The agents'
state changes of ``<name>.steps.json`` are made at their recorded moments.

The AMI link is the server's own outgoing connection: the player listens where the server's
configuration points it and binds each accepted connection to the next recorded AMI session; a
connection attempted while the recorded PBX was down is closed at once, as Asterisk's absence did.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.endpoints import TCP4ClientEndpoint, TCP4ServerEndpoint, connectProtocol
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.task import deferLater

from tests.telephony.transcripts import Chunk, fixtures_dir

CALLS_DIR = "calls"
BYTES_TIMEOUT = 10.0     # real seconds the server may take to write what the recording says it wrote
RECONNECT_SLACK = 0.5    # virtual seconds: an AMI connection this early still binds to the next session


def recording(name: str) -> tuple[list[Chunk], dict[str, Any]]:
    """The chunks and the steps file of recording ``name``."""
    base = fixtures_dir() / CALLS_DIR
    chunks = []
    with open(base / f"{name}.jsonl", encoding="utf-8") as fh:
        for line in fh:
            rec = json.loads(line)
            chunks.append(Chunk(rec["t"], rec["conn"], rec["dir"] == "from_asterisk", rec["data"].encode("latin-1")))
    return chunks, json.loads((base / f"{name}.steps.json").read_text(encoding="utf-8"))


def recordings() -> list[str]:
    """The names of every recorded call scenario."""
    return sorted(p.name[: -len(".jsonl")] for p in (fixtures_dir() / CALLS_DIR).glob("*.jsonl"))


class _Link(Protocol):
    """One connection seen from the PBX's side: collects what the server wrote."""

    def __init__(self) -> None:
        self.received = b""
        self.closed = False

    def connectionMade(self) -> None:  # noqa: N802 - twisted API
        # What the player writes must reach the server's socket at once: with Nagle's algorithm
        # a small write waits for the server's delayed ACK (up to 40 ms), the server finds
        # nothing unread, and the clock would move on past the moment the bytes stand for
        # (an Originate's Response then arrived after its 45 s timeout had fired).
        self.transport.setTcpNoDelay(True)

    def dataReceived(self, data: bytes) -> None:  # noqa: N802 - twisted API
        self.received += data

    def connectionLost(self, reason: object = None) -> None:  # noqa: N802 - twisted API
        self.closed = True


class _AmiListener(Factory):
    """Accepts the server's AMI connections; :class:`PbxPlayer` binds them to recorded sessions."""

    def __init__(self, player: "PbxPlayer") -> None:
        self.player = player

    def buildProtocol(self, addr: object) -> _Link:  # noqa: N802 - twisted API
        link = _Link()
        self.player.ami_connected(link)
        return link


@dataclass
class _Conn:
    link: _Link | None = None
    expected: int = 0        # bytes of the server's recorded writes matched so far
    first_t: float = 0.0
    last_t: float = 0.0
    ami: bool = False
    report: bool = False     # a FastAGI request the server only reads (answered, hangup)


@dataclass
class PbxPlayer:
    """Plays recording ``name`` against a started application built on ``vreactor``.

    ``apply_step(step)`` does what a person did at that moment (a step of the steps file: an
    agent state change, a click to dial, the server stopped and started again; it may return
    an awaitable, which is awaited); ``settle()`` waits until the server's record writes are
    done and ``quiesce()`` (optional) until it has read all that was sent to it (both called
    before each move of the clock).
    """

    name: str
    real_reactor: Any
    vreactor: Any
    fastagi_port: int
    apply_step: Any
    settle: Any
    quiesce: Any = None
    chunks: list[Chunk] = field(default_factory=list)
    steps: list[dict[str, Any]] = field(default_factory=list)
    epoch: float = 0.0
    _conns: dict[int, _Conn] = field(default_factory=dict)
    _pending_ami: list[_Link] = field(default_factory=list)
    _fresh_server: bool = True

    def __post_init__(self) -> None:
        chunks, meta = recording(self.name)
        # What the live server wrote after its dashboard was read is its shutdown (AMI Logoff).
        self.chunks = [c for c in chunks if c.t <= meta["snapshot_at"]]
        self.epoch, self.steps = meta["epoch"], list(meta["steps"])
        for chunk in self.chunks:
            conn = self._conns.get(chunk.conn)
            if conn is None:
                conn = self._conns[chunk.conn] = _Conn(first_t=chunk.t)
                conn.ami = chunk.from_asterisk and chunk.data.startswith(b"Asterisk Call Manager")
            if chunk.from_asterisk and (b"agi_network_script: answered\n" in chunk.data
                                        or b"agi_network_script: hangup\n" in chunk.data):
                conn.report = True
            conn.last_t = chunk.t

    async def listen_ami(self) -> int:
        """Start the AMI listener; returns its port (point the server's AMI settings there)."""
        port = await TCP4ServerEndpoint(self.real_reactor, 0, interface="127.0.0.1").listen(_AmiListener(self))
        self._ami_port = port
        return port.getHost().port

    def server_started(self) -> None:
        """A server (the first, or the next after a recorded restart) was started: its first AMI
        connection takes the next recorded session (the live one got its banner a little later)."""
        self._fresh_server = True

    def ami_connected(self, link: _Link) -> None:
        """A server AMI connection arrived: kept for the next recorded session if one is due now
        (or it is a new server's first), else closed at once (the recorded PBX was not there)."""
        now = self.vreactor.seconds() - self.epoch
        due = [c for c in self._conns.values() if c.ami and c.link is None]
        if due and (self._fresh_server or min(c.first_t for c in due) <= now + RECONNECT_SLACK):
            self._fresh_server = False
            self._pending_ami.append(link)
        else:
            self.real_reactor.callLater(0, lambda: link.transport.loseConnection())

    async def play(self) -> None:
        """Play every chunk; raises AssertionError at the first byte the server wrote differently."""
        steps = list(self.steps)
        for index, chunk in enumerate(self.chunks):
            while steps and steps[0]["t"] <= chunk.t:
                step = steps.pop(0)
                await self._move_to(step["t"])
                await self._apply(step)
            await self._move_to(chunk.t)
            conn = self._conns[chunk.conn]
            if conn.link is None:
                conn.link = await self._open(chunk.conn, conn)
            if chunk.from_asterisk:
                conn.link.transport.write(chunk.data)
                if conn.report and chunk.t == conn.last_t:
                    await self._until_closed(conn)
            else:
                await self._expect(chunk, conn)
            if conn.ami and chunk.t == conn.last_t and self._later_ami(conn):
                # The PBX went away after this (its next session is a new connection).
                conn.link.transport.loseConnection()
        for step in steps:
            await self._move_to(step["t"])
            await self._apply(step)

    async def finish(self, extra: float) -> None:
        """Let ``extra`` more recorded seconds pass after the last chunk (timers: wrap-up...)."""
        # The server may still be reading the last chunks (a busy machine): let it go quiet.
        for _ in range(5):
            await deferLater(self.real_reactor, 0.05, lambda: None)
            await self.settle()
        await self._move_to(self.chunks[-1].t + extra)
        await self.settle()

    def close(self) -> None:
        """Close every connection and the AMI listener."""
        for conn in self._conns.values():
            if conn.link is not None and not conn.link.closed:
                conn.link.transport.loseConnection()
        for link in self._pending_ami:
            link.transport.loseConnection()
        if getattr(self, "_ami_port", None) is not None:
            self._ami_port.stopListening()

    async def _until_closed(self, conn: _Conn) -> None:
        # An answered or hangup request is handled the moment its environment is read, and the
        # server then closes it: wait for that, so the report counts at its recorded moment.
        for _ in range(int(BYTES_TIMEOUT / 0.002)):
            if conn.link is None or conn.link.closed:
                return
            await deferLater(self.real_reactor, 0.002, lambda: None)

    async def _apply(self, step: dict[str, Any]) -> None:
        outcome = self.apply_step(step)
        if outcome is not None:
            await outcome

    def _later_ami(self, conn: _Conn) -> bool:
        return any(c.ami and c.first_t > conn.first_t for c in self._conns.values())

    async def _move_to(self, t: float) -> None:
        # The server reads what was just sent on its next reactor turns: let it, so every event
        # is taken at the moment it was recorded, before the clock moves on (on a busy machine
        # that takes longer; ``quiesce`` waits until its sockets hold nothing unread).
        await deferLater(self.real_reactor, 0.002, lambda: None)
        if self.quiesce is not None:
            await self.quiesce()
        await self.settle()
        self.vreactor.advance_to(self.epoch + t)
        # Let the reactor carry what the timers wrote before the next chunk goes out.
        await deferLater(self.real_reactor, 0, lambda: None)
        await self.settle()

    async def _open(self, number: int, conn: _Conn) -> _Link:
        if conn.ami:
            for _ in range(int(BYTES_TIMEOUT / 0.005)):
                if self._pending_ami:
                    link = self._pending_ami.pop()
                    for older in self._pending_ami:
                        older.transport.loseConnection()
                    self._pending_ami.clear()
                    return link
                # The server reconnects on its own (virtual) backoff timer.
                self.vreactor.advance_to(self.vreactor.seconds() + 0.1)
                await deferLater(self.real_reactor, 0.005, lambda: None)
            raise AssertionError(f"{self.name}: the server never opened AMI session {number}")
        link = _Link()
        await connectProtocol(TCP4ClientEndpoint(self.real_reactor, "127.0.0.1", self.fastagi_port), link)
        return link

    async def _expect(self, chunk: Chunk, conn: _Conn) -> None:
        assert conn.link is not None
        want_end = conn.expected + len(chunk.data)
        for _ in range(int(BYTES_TIMEOUT / 0.002)):
            got = conn.link.received[conn.expected:want_end]
            if got != chunk.data[: len(got)]:
                break
            if len(got) == len(chunk.data):
                conn.expected = want_end
                return
            await deferLater(self.real_reactor, 0.002, lambda: None)
        got = conn.link.received[conn.expected:want_end]
        raise AssertionError(f"{self.name} conn {chunk.conn} at t={chunk.t}: expected {chunk.data!r}, server wrote {got!r}")


def wait_for(real_reactor: Any, seconds: float) -> Deferred:
    """A Deferred firing after ``seconds`` of real time."""
    return deferLater(real_reactor, seconds, lambda: None)


def lab_config() -> Path:
    """The server configuration the recordings were made with."""
    return fixtures_dir() / "lab" / "callcenter"


def record_summary(database_url: str) -> dict[str, Any]:
    """What the record says of every interaction, in a form two runs of one recording share:
    final state, agent and queue, the steps of its life with their agents, whether it was
    answered and ended, its wait and the call summary's talk time (seconds, to 0.1) and cause."""
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    try:
        with engine.connect() as db:
            rows = db.execute(text(
                "select id, state, agent, queue, created_at, answered_at, ended_at, channel, direction "
                "from interactions order by id")).all()
            events = db.execute(text(
                "select interaction_id, kind, actor, details from interaction_events order by id")).all()
    finally:
        engine.dispose()
    out: dict[str, Any] = {}
    for row in rows:
        mine = [e for e in events if e.interaction_id == row.id]
        steps = []
        summary = None
        for e in mine:
            details = e.details if isinstance(e.details, dict) else json.loads(e.details or "{}")
            if e.kind == "state" and details.get("step"):
                steps.append(f"{details['step']}:{details.get('agent') or ''}")
            elif e.kind == "call_summary":
                summary = {"talk": round(details["talk_seconds"], 1), "cause": details["cause"]}
        wait = None
        if row.answered_at is not None and row.direction == "inbound":   # an outbound call waits in no queue
            wait = round(_seconds(row.answered_at) - _seconds(row.created_at), 1)
        out[str(row.id)] = {"state": row.state, "agent": row.agent, "queue": row.queue, "channel": row.channel,
                            "direction": row.direction, "steps": steps, "answered": row.answered_at is not None,
                            "ended": row.ended_at is not None, "wait": wait, "call": summary}
    return out


def _seconds(value: Any) -> float:
    from datetime import datetime, timezone

    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.timestamp()
