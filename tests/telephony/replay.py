"""A peer that plays one side of a recorded Asterisk conversation over a real socket.

Steps are ``("send", bytes)``, ``("expect", bytes)`` and ``("close", b"")``. The peer sends what
it should, and compares what it receives byte for byte with what the recording says the other
side wrote; ``finished`` fires with the bytes received after the last expectation once the
connection closes, or fails with an AssertionError naming the first mismatch.
"""

from __future__ import annotations

from collections import deque
from typing import Iterable

from twisted.internet.defer import Deferred
from twisted.internet.protocol import Factory, Protocol

from tests.telephony.transcripts import load

Step = tuple[str, bytes]


def steps_for(scenario: str, conn: int, peer_is_asterisk: bool = True, last_send: int | None = None) -> list[Step]:
    """The recorded steps of ``conn`` from Asterisk's point of view (``send`` what Asterisk sent).

    ``last_send`` cuts the script after that many sends (the rest is replaced by the caller).
    """
    steps: list[Step] = []
    sends = 0
    for chunk in load(scenario):
        if chunk.conn != conn:
            continue
        if last_send is not None and sends == last_send:
            break
        if chunk.from_asterisk == peer_is_asterisk:
            sends += 1
            steps.append(("send", chunk.data))
        else:
            steps.append(("expect", chunk.data))
    return steps


class ScriptedPeer(Protocol):
    """Plays ``steps`` on one connection (see the module docstring)."""

    def __init__(self, steps: Iterable[Step]) -> None:
        self.steps = deque(steps)
        self.received = b""
        self.finished: Deferred[bytes] = Deferred()
        self.opened: Deferred[None] = Deferred()

    def connectionMade(self) -> None:
        self.opened.callback(None)
        self._advance()

    def dataReceived(self, data: bytes) -> None:
        self.received += data
        self._advance()

    def _advance(self) -> None:
        while self.steps and not self.finished.called:
            kind, payload = self.steps[0]
            if kind == "send":
                self.transport.write(payload)
            elif kind == "close":
                self.steps.popleft()
                self.transport.loseConnection()
                return
            else:
                head = self.received[: len(payload)]
                if head != payload[: len(head)]:
                    self.finished.errback(AssertionError(f"expected {payload!r}, got {self.received!r}"))
                    self.transport.loseConnection()
                    return
                if len(head) < len(payload):
                    return
                self.received = self.received[len(payload) :]
            self.steps.popleft()

    def connectionLost(self, reason: object = None) -> None:
        if self.finished.called:
            return
        if self.steps and self.steps[0][0] != "close":
            self.finished.errback(AssertionError(f"closed with steps left: {list(self.steps)[:2]!r}; got {self.received!r}"))
        else:
            self.finished.callback(self.received)


class ScriptedAsterisk(Factory):
    """Serves one script per accepted connection, in order; ``peers`` lists them as they come."""

    def __init__(self, scripts: list[list[Step]]) -> None:
        self.scripts = deque(scripts)
        self.peers: list[ScriptedPeer] = []

    def buildProtocol(self, addr: object) -> ScriptedPeer:
        peer = ScriptedPeer(self.scripts.popleft() if self.scripts else [])
        self.peers.append(peer)
        return peer
