"""Calls at once through the whole server, from the AGI request to Dial on the wire, on SQLite and PostgreSQL.

A simulated Asterisk runs in a child process (as the real one does), so the server has its own
process and the figures are taken on the PBX's side of the socket. It opens one FastAGI
connection per call, then writes every ``inbound`` request back to back (own uniqueid and caller
id, IVR digit 1: the billing queue) and plays each call as the dialplan of docs/telephony.md
does: every command is answered only once it has been received, one line at a time (``200
result=0`` for ``GET VARIABLE`` (unset) and ``SET MUSIC``, ``200 result=1`` for ``SET
VARIABLE``). Once ``CC_OUTCOME dial`` is received Asterisk would start Dial: after a ring of
0.2 s the agent's channel reports ``answered,<interaction id>`` (a FastAGI request of its own),
and after a talk of 0.5-1 s the caller channel's hangup handler reports ``hangup``.

Printed, per backend, for a burst of ``--calls`` calls:

* on as many available agents as calls: request -> Dial (from the first byte of the AGI
  environment to the receipt of ``SET VARIABLE CC_OUTCOME dial``) p50/p99/max, and its ratio
  to the ceiling below;
* on ``--agents`` agents (wrap-up 0 s): the callers beyond the agents hold with music and are
  served as agents free up. Request -> Dial over all calls, agent free -> next Dial (from the
  ``hangup`` request of an agent's call to the receipt of the next call's ``CC_OUTCOME dial``
  for that agent's phone), and the time until every call was dialled and until every call ended;
* the server process's CPU time per call (every thread: the reactor, the database's), which
  a busy machine stretches less than latency, and the peak resident memory (the server runs
  with the collector settings ``callcenter serve`` applies once serving);
* the interactions' states in the record afterwards, and any protocol fault the simulated
  Asterisk saw (commands sent before the previous one was answered, unknown commands).

The ceiling is the same simulated Asterisk against a bare ``FastAgiService`` whose application
returns a ``DialAgent`` at once, without a database: what FastAGI, Twisted and the sockets
cost alone. (That decision exists before the first command, so its sessions skip ``SET MUSIC
ON``/``OFF``.)

    .venv/bin/python bench/voice_bench.py [--calls N] [--agents N] [--backend sqlite|postgres|both] [--quick]

Defaults: 500 calls, 50 agents for the second burst, both backends; ``--quick`` makes it 100
calls and 10 agents. PostgreSQL is the server on 127.0.0.1:5432 (user postgres, trust), in a
database created for each burst and dropped afterwards; it is skipped if nothing answers.
"""

from __future__ import annotations

import argparse
import resource
import dataclasses
import json
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from twisted.internet.defer import Deferred, DeferredList, ensureDeferred  # noqa: E402
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol  # noqa: E402
from twisted.internet.protocol import Protocol  # noqa: E402
from twisted.internet.task import deferLater  # noqa: E402

from tests.support.agi_peer import agi_env  # noqa: E402

MAIN_LINE = "+18005550100"
RING_SECONDS = 0.2
TALK_SECONDS = (0.5, 1.0)
PBX_DEADLINE = 90.0        # seconds the simulated Asterisk waits for every call to end
QUICK = (100, 10)          # calls and agents of --quick


# --- the simulated Asterisk (child process) -------------------------------------------------

class AgiChannel(Protocol):
    """One FastAGI session as Asterisk runs it: the environment, then each command answered once
    received (see the module docstring). ``dialled`` is when ``CC_OUTCOME dial`` arrived."""

    def __init__(self, pbx: "SimulatedPbx", env: dict[str, str]) -> None:
        self.pbx = pbx
        self.uniqueid, self.caller = env["agi_uniqueid"], env["agi_callerid"]
        self.env = "".join(f"{k}: {v}\n" for k, v in env.items()).encode() + b"\n"
        self.variables: dict[str, str] = {}
        self.started = 0.0
        self.dialled: float | None = None
        self.closed: Deferred[None] = Deferred()
        self._buffer = b""

    def send_request(self) -> None:
        """Write the AGI environment; the clock of this call starts here."""
        self.started = time.perf_counter()
        self.transport.write(self.env)

    def dataReceived(self, data: bytes) -> None:  # noqa: N802 - twisted API
        self._buffer += data
        *lines, self._buffer = self._buffer.split(b"\n")
        # The server waits for each answer; more than one command in hand means it pipelined,
        # which a real Asterisk would not read (it polls the socket between commands).
        self.pbx.pipelined += max(0, len(lines) - 1)
        for line in lines:
            self.transport.write(self._answer(line.decode()))

    def connectionLost(self, reason: object = None) -> None:  # noqa: N802 - twisted API
        self.closed.callback(None)

    def _answer(self, command: str) -> bytes:
        if command.startswith("SET VARIABLE "):
            name, _, value = command[len("SET VARIABLE "):].partition(" ")
            self.variables[name] = value.strip('"')
            if name == "CC_OUTCOME" and value == "dial":
                self.dialled = time.perf_counter()
                self.pbx.dial_started(self.variables.get("CC_AGENT_ENDPOINT", ""), self.dialled)
            return b"200 result=1\n"
        if command.startswith(("SET MUSIC ", "GET VARIABLE ")):
            return b"200 result=0\n"
        self.pbx.unexpected.append(command)
        return b"510 Invalid or unknown command\n"


class SimulatedPbx:
    """Places ``calls`` calls on the FastAGI server at ``port`` and plays each to its end."""

    def __init__(self, reactor: Any, port: int, calls: int) -> None:
        self.reactor, self.port, self.calls = reactor, port, calls
        self.pipelined = 0
        self.unexpected: list[str] = []
        self.freed: dict[str, float] = {}       # agent phone -> when its last call's hangup was sent
        self.handoffs: list[float] = []
        self.ended: list[float] = []
        self._talk = random.Random(15)

    def dial_started(self, endpoint: str, at: float) -> None:
        """A call is dialled to ``endpoint``: if that phone's previous call just ended, note the hand-off."""
        freed = self.freed.pop(endpoint, None)
        if freed is not None:
            self.handoffs.append(at - freed)

    async def _connect(self, channel: AgiChannel) -> AgiChannel:
        await connectProtocol(TCP4ClientEndpoint(self.reactor, "127.0.0.1", self.port), channel)
        return channel

    async def _report(self, script: str, uniqueid: str, caller: str, args: tuple[str, ...] = ()) -> None:
        """A FastAGI request that expects no command (``answered``, ``hangup``): send, wait for the close."""
        channel = await self._connect(AgiChannel(self, agi_env(script, uniqueid, caller, MAIN_LINE, args)))
        channel.send_request()
        await channel.closed

    async def _after_dial(self, n: int, channel: AgiChannel) -> None:
        await channel.closed
        if channel.dialled is None:
            return
        talk = self._talk.uniform(*TALK_SECONDS)
        await deferLater(self.reactor, RING_SECONDS, lambda: None)
        await self._report("answered", f"1900000000.{n}", channel.caller, (channel.variables["CC_INTERACTION_ID"],))
        await deferLater(self.reactor, talk, lambda: None)
        self.freed[channel.variables["CC_AGENT_ENDPOINT"]] = time.perf_counter()
        await self._report("hangup", channel.uniqueid, channel.caller)
        self.ended.append(time.perf_counter())

    async def run(self) -> dict:
        """Connect every call, send every request at once, wait for every call to end (or the deadline)."""
        channels = [await self._connect(AgiChannel(self, agi_env("inbound", f"1800000000.{n}", f"+1415555{n:04d}",
                                                                 MAIN_LINE, ("", "1"))))
                    for n in range(self.calls)]
        began = time.perf_counter()
        for channel in channels:
            channel.send_request()
        everything = DeferredList([ensureDeferred(self._after_dial(n, c)) for n, c in enumerate(channels)],
                                  consumeErrors=True)
        deadline: Deferred[None] = Deferred()
        timer = self.reactor.callLater(PBX_DEADLINE, deadline.callback, None)
        await DeferredList([everything, deadline], fireOnOneCallback=True)
        if timer.active():
            timer.cancel()
        dials = [c.dialled for c in channels if c.dialled is not None]
        return {
            "calls": self.calls,
            "dial_ms": [(c.dialled - c.started) * 1000 for c in channels if c.dialled is not None],
            "handoff_ms": [s * 1000 for s in self.handoffs],
            "last_dial_s": (max(dials) - began) if dials else None,
            "ended": len(self.ended),
            "all_ended_s": (max(self.ended) - began) if len(self.ended) == self.calls else None,
            "pipelined": self.pipelined,
            "unexpected": self.unexpected[:5],
        }


def pbx_main(port: int, calls: int) -> None:
    """Child process: play the calls on the default reactor and print the figures as one JSON line."""
    from twisted.internet.task import react

    async def go(reactor: Any) -> None:
        print(json.dumps(await SimulatedPbx(reactor, port, calls).run()), flush=True)

    react(lambda reactor: ensureDeferred(go(reactor)))


# --- the server side (parent process) --------------------------------------------------------

async def play_calls(reactor: Any, port: int, calls: int) -> dict:
    """Run the simulated Asterisk against ``port`` in a child process and return its figures."""
    from twisted.internet.utils import getProcessOutputAndValue

    out, err, code = await getProcessOutputAndValue(
        sys.executable, [str(Path(__file__).resolve()), "--pbx-port", str(port), "--calls", str(calls)],
        env=dict(os.environ), reactor=reactor)
    if code != 0:
        raise RuntimeError(f"simulated Asterisk failed ({code}):\n{err.decode(errors='replace')}")
    return json.loads(out.decode().strip().splitlines()[-1])


def make_config(directory: Path, agents: int) -> Path:
    """The shipped config with ``agents`` generated agents, billing served by skill, no wrap-up."""
    import yaml

    config = directory / "config"
    shutil.copytree(ROOT / "config", config)
    (config / "agents.yaml").write_text(yaml.safe_dump({"agents": {
        f"a{n:04d}": {"name": f"Agent {n}", "skills": {"billing": 5, "technical": 4, "sales": 3, "mandarin": 3},
                      "languages": ["en", "zh"], "phone": f"PJSIP/{2000 + n}"} for n in range(agents)}}, sort_keys=False))
    queues = yaml.safe_load((config / "queues.yaml").read_text())
    for queue in queues["queues"].values():
        queue["wrap_up"] = "0s"   # agents are free again the moment a call ends
    queues["queues"]["billing"]["members"] = {"skills": {"billing": 1}}
    (config / "queues.yaml").write_text(yaml.safe_dump(queues, sort_keys=False))
    return config


def agent_rows(conn: Any) -> int:
    """Unit of work: how many agents the record knows (the start-up account sync writes them)."""
    from sqlalchemy import func, select

    from callcenter.records.schema import agents

    return conn.execute(select(func.count()).select_from(agents)).scalar_one()


def state_counts(conn: Any) -> dict[str, int]:
    """Unit of work: how many interactions are in each state."""
    from sqlalchemy import func, select

    from callcenter.records.schema import interactions

    return dict(conn.execute(select(interactions.c.state, func.count()).group_by(interactions.c.state)).all())


async def whole_server(reactor: Any, url: str, calls: int, agents: int) -> dict:
    """The application as ``callcenter serve`` builds it on ``url`` with ``agents`` agents, all
    available; ``calls`` calls played against it; its figures and the record's states."""
    from callcenter.app import build_application
    from callcenter.records.migrate import upgrade
    from callcenter.runtime.memory import settle_after_start_up
    from callcenter.settings import load_settings

    with tempfile.TemporaryDirectory(prefix="voice-bench-") as tmp:
        config = make_config(Path(tmp), agents)
        upgrade(url)
        settings = load_settings(config, {"http_port": 0, "fastagi_port": 0, "smtp_port": 0, "data_dir": tmp})
        settings = dataclasses.replace(settings, queues={n: dataclasses.replace(q, schedule=None)
                                                         for n, q in settings.queues.items()})
        app = build_application(settings, reactor, url)
        app.service.startService()
        try:
            await app.service.ready
            # The start-up account sync writes every agent after "ready": a burst in the middle of
            # it would measure the start-up, not the calls.
            while await app.database.read(agent_rows) < agents:
                await deferLater(reactor, 0.05, lambda: None)
            for login in sorted(settings.agents):
                app.switchboard.set_available(login)
            await app.switchboard.settled()
            settle_after_start_up()  # the collector's settings `callcenter serve` uses once serving
            before = cpu_seconds()
            result = await play_calls(reactor, app.fastagi.port.getHost().port, calls)
            await app.switchboard.settled()
            result["cpu_ms_per_call"] = (cpu_seconds() - before) * 1000 / calls
            states = await app.database.read(state_counts)
            result["outcome"] = "record: " + ", ".join(f"{k} {v}" for k, v in sorted(states.items()))
        finally:
            await app.service.stopService()
    return result


async def bare_fastagi(reactor: Any, calls: int) -> dict:
    """The ceiling: the same calls against a FastAgiService whose application dials at once."""
    from twisted.internet.endpoints import TCP4ServerEndpoint

    from channels.telephony.callhandling import DialAgent
    from channels.telephony.fastagi import FastAgiService
    from tests.telephony.fakes import ScriptedCallHandling

    app = ScriptedCallHandling([DialAgent(f"PJSIP/{2000 + n}", 20, str(n + 1)) for n in range(calls)])
    service = FastAgiService(TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1"), app, reactor)
    port = (await service.startService()).getHost().port
    try:
        before = cpu_seconds()
        result = await play_calls(reactor, port, calls)
        result["cpu_ms_per_call"] = (cpu_seconds() - before) * 1000 / calls
    finally:
        await service.stopService()
    result["outcome"] = f"application told of {len(app.answered)} answers, {len(app.gone)} hang-ups"
    return result


def cpu_seconds() -> float:
    """CPU time (user + system) this process has used so far, every thread included."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def peak_rss_mb() -> float:
    """The highest resident memory this process has had, in MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def spread(values: list[float]) -> str:
    """p50/p99/max of millisecond figures, as printed."""
    from fastagi_bench import percentile

    if not values:
        return "none"
    return (f"p50 {percentile(values, 50):7.1f} ms  p99 {percentile(values, 99):7.1f} ms  "
            f"max {max(values):7.1f} ms  (n={len(values)})")


def report(label: str, result: dict, ceiling: dict | None = None) -> None:
    """Print one burst's figures (and, given the ceiling's, the ratio of the p50s and p99s)."""
    from fastagi_bench import percentile

    dials = result["dial_ms"]
    print(f"{label}: request -> Dial {spread(dials)}", flush=True)
    if ceiling is not None and dials:
        ratio = [percentile(dials, p) / percentile(ceiling["dial_ms"], p) for p in (50, 99)]
        print(f"{'':{len(label)}}  whole server / bare FastAGI: p50 {ratio[0]:.1f}x, p99 {ratio[1]:.1f}x", flush=True)
    cpu = f"server CPU {result['cpu_ms_per_call']:.2f} ms per call"
    if ceiling is not None:
        cpu += f" ({result['cpu_ms_per_call'] / ceiling['cpu_ms_per_call']:.1f}x the bare FastAGI's)"
    print(f"{'':{len(label)}}  {cpu}; peak RSS {peak_rss_mb():.0f} MiB so far", flush=True)
    if result["handoff_ms"]:
        print(f"{'':{len(label)}}  agent free -> next Dial {spread(result['handoff_ms'])}", flush=True)
    last, ended = result["last_dial_s"], result["all_ended_s"]
    served = f"all ended {ended:.2f} s" if ended is not None else f"only {result['ended']} of {result['calls']} ended"
    print(f"{'':{len(label)}}  last Dial {last if last is None else round(last, 2)} s after the burst, {served}; "
          f"{result['outcome']}", flush=True)
    if result["pipelined"] or result["unexpected"]:
        print(f"{'':{len(label)}}  PROTOCOL FAULTS: {result['pipelined']} pipelined commands, "
              f"unknown commands {result['unexpected']}", flush=True)


async def main(reactor: Any, args: argparse.Namespace) -> None:
    """The ceiling, then both bursts on each requested backend."""
    from recovery_bench import scratch_database

    calls = args.calls or (QUICK[0] if args.quick else 500)
    agents = args.agents or (QUICK[1] if args.quick else 50)
    print(f"{calls} calls at once; ring {RING_SECONDS} s, talk {TALK_SECONDS[0]}-{TALK_SECONDS[1]} s, "
          f"simulated Asterisk in its own process", flush=True)
    ceiling = await bare_fastagi(reactor, calls)
    report(f"{'ceiling':9s} bare FastAGI, instant DialAgent", ceiling)
    for backend in ("sqlite", "postgres") if args.backend == "both" else (args.backend,):
        for count in (calls, agents):
            with scratch_database(backend) as url:
                if url is None:
                    print(f"{backend:9s} skipped: nothing answers on 127.0.0.1:5432", flush=True)
                    break
                result = await whole_server(reactor, url, calls, count)
            report(f"{backend:9s} {calls} calls on {count:>3} agents", result, ceiling if count >= calls else None)


def cli() -> None:
    """Parse the options; run the benchmark (or, with ``--pbx-port``, the simulated Asterisk)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, help="calls in the burst (default 500, --quick 100)")
    parser.add_argument("--agents", type=int, help="agents of the second burst (default 50, --quick 10)")
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--quick", action="store_true", help="100 calls, 10 agents")
    parser.add_argument("--pbx-port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.pbx_port is not None:
        pbx_main(args.pbx_port, args.calls)
        return
    from callcenter.runtime.reactor import install_asyncio_reactor

    install_asyncio_reactor()
    from twisted.internet.task import react

    react(lambda reactor: ensureDeferred(main(reactor, args)))


if __name__ == "__main__":
    cli()
