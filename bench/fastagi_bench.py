"""500 concurrent FastAGI calls on loopback against the real FastAGI service.

Each simulated Asterisk connects, writes the environment recorded in inbound-answered.jsonl (with
its own uniqueid) and answers every command at once the way Asterisk does (``200 result=1 (2)``
for GET VARIABLE, ``200 result=1`` otherwise). The application is trivial: ``call_arrived`` notes
the time and returns a DialAgent at once, so what is measured is the server's own overhead under
500 calls arriving together.

Measured per call, with time.perf_counter in this one process, from the moment the simulated
Asterisk writes the first byte of the AGI request (the socket is already connected):
  * "request -> call_arrived": until the application's call_arrived is invoked (the environment
    parsed, GET VARIABLE IVR_DIGITS sent and answered, the InboundCall built);
  * "request -> decision":     until the simulated Asterisk has received the last SET VARIABLE
    of the routing decision (CC_INTERACTION_ID), i.e. the decision is on the wire.

    .venv/bin/python bench/fastagi_bench.py [--calls N]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from callcenter.runtime.reactor import install_asyncio_reactor  # noqa: E402

install_asyncio_reactor()

from twisted.internet import reactor  # noqa: E402
from twisted.internet.defer import Deferred, DeferredList, ensureDeferred  # noqa: E402
from twisted.internet.endpoints import TCP4ClientEndpoint, TCP4ServerEndpoint, connectProtocol  # noqa: E402
from twisted.internet.protocol import Protocol  # noqa: E402

from channels.telephony.callhandling import CallInstruction, DialAgent, DialResult, InboundCall, QueuePosition  # noqa: E402
from channels.telephony.fastagi import FastAgiService  # noqa: E402


def recorded_environment() -> bytes:
    """The AGI environment Asterisk sent in inbound-answered.jsonl (connection 2)."""
    base = Path(os.environ.get("CALLCENTER_FIXTURES") or Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "asterisk")
    data = b""
    for line in (base / "inbound-answered.jsonl").read_text(encoding="utf-8").splitlines():
        rec = json.loads(line)
        if rec["conn"] == 2 and rec["dir"] == "from_asterisk":
            data += rec["data"].encode("latin-1")
    return data[: data.index(b"\n\n") + 2]


class InstantRouting:
    """A trivial CallHandling: decides at once and notes when each call reached it."""

    def __init__(self) -> None:
        self.invoked: dict[str, float] = {}

    async def call_arrived(self, call: InboundCall) -> CallInstruction:
        """Note the time; dial a fixed agent."""
        self.invoked[call.uniqueid] = time.perf_counter()
        return DialAgent("PJSIP/1001", 20, call.uniqueid)

    def queue_position(self, call: InboundCall) -> QueuePosition | None:
        """No announcements."""
        return None

    def caller_hung_up(self, call: InboundCall, at: float) -> None:
        """Not expected in this benchmark."""

    async def dial_result(self, result: DialResult) -> bool:
        """Not used in this benchmark."""
        return False


class SimulatedAsterisk(Protocol):
    """Sends one request and answers commands like Asterisk; records when the decision arrived."""

    def __init__(self, env: bytes) -> None:
        self.env = env
        self.buffer = b""
        self.started = 0.0
        self.decided = 0.0
        self.done: Deferred[None] = Deferred()

    def send_request(self) -> None:
        self.started = time.perf_counter()
        self.transport.write(self.env)

    def dataReceived(self, data: bytes) -> None:
        self.buffer += data
        *lines, self.buffer = self.buffer.split(b"\n")
        for line in lines:
            if line.startswith(b"GET VARIABLE"):
                self.transport.write(b"200 result=1 (2)\n")
            else:
                if line.startswith(b"SET VARIABLE CC_INTERACTION_ID"):
                    self.decided = time.perf_counter()
                self.transport.write(b"200 result=1\n")

    def connectionLost(self, reason: object = None) -> None:
        self.done.callback(None)


def percentile(values: list[float], p: float) -> float:
    """The p-th percentile (nearest rank) of ``values``."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


async def bench(calls: int) -> None:
    """Run ``calls`` concurrent calls and print the figures."""
    app = InstantRouting()
    service = FastAgiService(TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1", backlog=calls), app, reactor)
    port = (await service.startService()).getHost().port
    template = recorded_environment()
    peers = []
    for n in range(calls):
        env = template.replace(b"agi_uniqueid: 1795371123.1", b"agi_uniqueid: bench.%d" % n)
        peer = SimulatedAsterisk(env)
        await connectProtocol(TCP4ClientEndpoint(reactor, "127.0.0.1", port), peer)
        peers.append(peer)
    wall = time.perf_counter()
    for peer in peers:
        peer.send_request()
    await DeferredList([p.done for p in peers])
    wall = time.perf_counter() - wall
    await service.stopService()
    to_app = [(app.invoked[f"bench.{n}"] - p.started) * 1000 for n, p in enumerate(peers)]
    to_decision = [(p.decided - p.started) * 1000 for p in peers]
    print(f"{calls} concurrent FastAGI calls on loopback, all requests written back to back; {wall:.3f} s until all sessions closed")
    for label, values in (("request -> call_arrived", to_app), ("request -> decision", to_decision)):
        print(f"{label:24s}: p50 {statistics.median(values):7.2f} ms   p99 {percentile(values, 99):7.2f} ms   max {max(values):7.2f} ms")


def main() -> None:
    """Parse options, run the reactor until the benchmark ends."""
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--calls", type=int, default=500)
    opts = args.parse_args()

    def run() -> None:
        ensureDeferred(bench(opts.calls)).addErrback(lambda f: f.printTraceback()).addBoth(lambda _: reactor.stop())

    reactor.callWhenRunning(run)
    reactor.run()


if __name__ == "__main__":
    main()
