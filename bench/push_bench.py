"""Push latency: many agent desktops connected to ``GET /push`` on loopback, in one process.

Builds the real stack on Twisted's asyncio reactor: a migrated SQLite database, one agent
user per connection, a logged-in session each, the authentication layer and the push hub
with a snapshot hook. Each client is a raw HTTP/1.1 connection with the session cookie
that parses the event stream. Then, with every stream open:

- **paced**: one event every ``--interval`` ms, to each agent topic in turn (the steady
  flow of offers a routing core produces);
- **burst**: one event to every agent topic at once, ``--rounds`` times (everybody gets an
  offer in the same reactor turn: the worst case).

Full cyclic garbage collections over the many long-lived connection objects cost this
process about 120-140 ms of CPU on the development machine and land in whichever phase is
running; ``--gc-freeze`` shows the figures without them.

Each event carries ``time.perf_counter()`` at publication; the client records the time the
event's bytes arrive. Prints p50/p99/max of publish -> arrival for each phase.

    .venv/bin/python bench/push_bench.py [--clients 1000] [--interval 2] [--rounds 5] [--gc-freeze]
"""

from __future__ import annotations

import argparse
import gc
import json
import re
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from callcenter.runtime.reactor import install_asyncio_reactor  # noqa: E402

install_asyncio_reactor()

from twisted.internet import reactor  # noqa: E402
from twisted.internet.defer import Deferred, ensureDeferred  # noqa: E402
from twisted.internet.protocol import ClientFactory, Protocol  # noqa: E402
from twisted.internet.task import deferLater  # noqa: E402
from twisted.web.resource import Resource  # noqa: E402

from callcenter.auth.passwords import ScryptCost  # noqa: E402
from callcenter.runtime.clock import Clock  # noqa: E402
from callcenter.runtime.events import EventBus  # noqa: E402
from callcenter.records.database import Database  # noqa: E402
from callcenter.records.migrate import upgrade  # noqa: E402
from callcenter.records.users import UserStore  # noqa: E402
from callcenter.web.authn import Authenticator  # noqa: E402
from callcenter.web.push import PushHub, PushResource, agent_topic  # noqa: E402
from callcenter.web.site import HttpService  # noqa: E402

BATCH = 25
DATA = re.compile(rb"event: (\w+)\ndata: ([^\n]*)\n")


class SseClient(Protocol):
    """Sends the GET, then records the arrival time of every benchmark event."""

    def __init__(self, cookie: str, host: str, port: int) -> None:
        self.request = (f"GET /push HTTP/1.1\r\nHost: {host}:{port}\r\nCookie: {cookie}\r\n"
                        "Accept: text/event-stream\r\n\r\n").encode()
        self.buffer = b""
        self.latencies: list[float] = []
        self.synced: Deferred = Deferred()
        self.waiter: tuple[int, Deferred] | None = None

    def connectionMade(self) -> None:  # noqa: N802 - twisted API
        self.transport.setTcpNoDelay(True)
        self.transport.write(self.request)

    def dataReceived(self, data: bytes) -> None:  # noqa: N802 - twisted API
        now = time.perf_counter()
        self.buffer += data
        end = 0
        for m in DATA.finditer(self.buffer):
            end = m.end()
            if m.group(1) == b"snapshot":
                if not self.synced.called:
                    self.synced.callback(None)
            elif m.group(1) == b"bench":
                self.latencies.append(now - json.loads(m.group(2))["t"])
        self.buffer = self.buffer[end:] if end else self.buffer[-4096:]
        if self.waiter is not None and len(self.latencies) >= self.waiter[0]:
            d, self.waiter = self.waiter[1], None
            d.callback(None)

    def wait_for(self, count: int) -> Deferred:
        """Fires once ``count`` benchmark events arrived."""
        d: Deferred = Deferred()
        if len(self.latencies) >= count:
            d.callback(None)
        else:
            self.waiter = (count, d)
        return d


def percentile(values: list[float], q: float) -> float:
    """The q-quantile (0..1) of ``values``, nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(round(q * len(ordered))) - 1))]


def report(name: str, values: list[float]) -> None:
    """Print p50/p99/max in milliseconds."""
    ms = [v * 1000 for v in values]
    print(f"{name:>6}: {len(ms)} events  p50 {percentile(ms, 0.50):.2f} ms  p99 {percentile(ms, 0.99):.2f} ms  "
          f"max {max(ms):.2f} ms  mean {statistics.fmean(ms):.2f} ms", flush=True)


def settle(args: argparse.Namespace) -> None:
    """With --gc-freeze: move every live object out of the cyclic collector's reach before a phase."""
    if args.gc_freeze:
        gc.collect()
        gc.freeze()


async def main(args: argparse.Namespace) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="push-bench-"))
    url = f"sqlite:///{tmp / 'bench.sqlite'}"
    upgrade(url)
    db = Database(url, reactor, EventBus())
    db.start()
    clock = Clock(reactor)
    users = UserStore(db, clock, cost=ScryptCost(n=2 ** 4))
    logins = [f"agent{n:04d}" for n in range(args.clients)]
    await users.sync_from_config((login, login) for login in logins)
    authn = Authenticator(users, clock)
    by_login = {u.login: u for u in await users.list()}

    async def snapshot(principal):
        return {"agent": principal.agent, "offers": []}

    hub = PushHub(clock, replay=64, snapshot=snapshot, max_streams=2)
    root = Resource()
    root.putChild(b"push", PushResource(hub, authn.principal_for))
    http = HttpService(reactor, root, "127.0.0.1", 0)
    hub.startService()
    http.startService()
    host, port = http.address

    started = time.perf_counter()
    clients: dict[str, SseClient] = {}
    for i in range(0, len(logins), BATCH):  # in batches: past the listen backlog (50) SYNs wait 1 s
        batch = []
        for login in logins[i:i + BATCH]:
            session = authn.sessions.create(str(by_login[login].id), "agent", clock.now())
            client = clients[login] = SseClient(f"cc_session={session.token}", host, port)
            factory = ClientFactory.forProtocol(lambda c=client: c)
            reactor.connectTCP(host, port, factory)
            batch.append(client.synced)
        for d in batch:
            await d
    print(f"{len(clients)} streams open and synchronised in {time.perf_counter() - started:.2f} s "
          f"({hub.connections()} on the hub)", flush=True)

    settle(args)
    # paced: one event every interval, round-robin over the agents
    total = len(logins)
    for n, login in enumerate(logins):
        hub.publish(agent_topic(login), "bench", {"t": time.perf_counter(), "n": n})
        await deferLater(reactor, args.interval / 1000)
    for client in clients.values():
        await client.wait_for(1)
    paced = [c.latencies[0] for c in clients.values()]
    report("paced", paced)

    settle(args)
    burst: list[float] = []
    for r in range(args.rounds):
        expected = 2 + r
        loop_started, loop_cpu = time.perf_counter(), time.process_time()
        for n, login in enumerate(logins):
            hub.publish(agent_topic(login), "bench", {"t": time.perf_counter(), "n": total + n})
        publishing, publishing_cpu = time.perf_counter() - loop_started, time.process_time() - loop_cpu
        for client in clients.values():
            await client.wait_for(expected)
        print(f"    #{r + 1}: publishing to {total} topics took {publishing * 1000:.2f} ms "
              f"({publishing_cpu * 1000:.2f} ms of this process's CPU)", flush=True)
        this_round = [c.latencies[expected - 1] for c in clients.values()]
        report(f"#{r + 1}", this_round)
        burst.extend(this_round)
        await deferLater(reactor, 0.2)
    report("burst", burst)

    hub.stopService()
    await http.stopService()
    await db.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--interval", type=float, default=2.0, help="ms between paced events")
    parser.add_argument("--rounds", type=int, default=5, help="bursts to every agent")
    parser.add_argument("--gc-freeze", action="store_true",
                        help="gc.freeze() before each phase, as a server may do once started, so a full "
                             "collection does not rescan the long-lived connection objects")
    options = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 4 * options.clients + 256
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
    outcome: list = []
    d = ensureDeferred(main(options))
    d.addBoth(outcome.append)
    d.addBoth(lambda _: reactor.stop())
    reactor.run()
    if outcome and hasattr(outcome[0], "raiseException"):
        outcome[0].raiseException()
