"""500 calls at once through the whole server: FastAGI -> switchboard -> record -> routing core.

The real application is built on a copy of the shipped configuration with ``--agents`` agents
(all available, each with billing, technical and sales skills) and SQLite in a temporary
directory. ``--calls`` simulated Asterisk sessions connect together on loopback, each with
its own caller id and the IVR digit 1 (the billing queue), and answer every command with
``200 result=0``. Measured per call, from the moment its environment is written:

  * "request -> decision": until the routing core offers the call to an agent (customer
    identified or created, interaction logged, routed), taken from the switchboard;
  * "request -> dialplan": until the session receives ``CC_INTERACTION_ID``, the last variable
    of the decision. The simulated PBX answers ``EXEC Wait n`` after n seconds as Asterisk does,
    and a decision taken during a hold slice reaches the dialplan when the slice ends.

With fewer agents than calls, the calls beyond the agents wait until the end of the run and
are reported as still waiting (their decision never comes); by default every call finds one.

    .venv/bin/python bench/voice_bench.py [--calls N] [--agents N]
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from callcenter.reactor import install_asyncio_reactor  # noqa: E402

install_asyncio_reactor()

from twisted.internet import reactor  # noqa: E402
from twisted.internet.defer import DeferredList, ensureDeferred  # noqa: E402
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol  # noqa: E402
from twisted.protocols.basic import LineOnlyReceiver  # noqa: E402

from callcenter.app import build_application  # noqa: E402
from callcenter.records.migrate import upgrade  # noqa: E402
from callcenter.settings import load_settings  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


class Caller(LineOnlyReceiver):
    """The PBX side of one call: the environment, then ``200 result=0`` to every command."""

    delimiter = b"\n"

    def __init__(self, env: bytes) -> None:
        self.env = env
        self.started = 0.0
        self.decided: float | None = None

    def connectionMade(self) -> None:  # noqa: N802 - twisted API
        self.started = time.perf_counter()
        self.transport.write(self.env)

    def lineReceived(self, line: bytes) -> None:  # noqa: N802 - twisted API
        if line.startswith(b"SET VARIABLE CC_INTERACTION_ID"):
            self.decided = time.perf_counter()
        if line.startswith(b"EXEC Wait "):
            # Asterisk answers Wait when the time is up: the caller hears the hold for real.
            seconds = float(line.split()[-1].strip(b'"'))
            reactor.callLater(seconds, self.sendLine, b"200 result=0")
            return
        self.sendLine(b"200 result=0")


def environment(n: int) -> bytes:
    """The AGI environment of call ``n`` (own uniqueid and caller id, IVR digit 1)."""
    fields = {
        "agi_network": "yes", "agi_network_script": "inbound", "agi_request": "agi://127.0.0.1/inbound",
        "agi_channel": f"PJSIP/trunk-{n:08x}", "agi_language": "en", "agi_type": "PJSIP",
        "agi_uniqueid": f"1800000000.{n}", "agi_version": "20.5.0", "agi_callerid": f"+1415555{n:04d}",
        "agi_calleridname": "unknown", "agi_dnid": "+18005550100", "agi_rdnis": "unknown",
        "agi_context": "from-trunk", "agi_extension": "+18005550100", "agi_priority": "2", "agi_enhanced": "0.0",
        "agi_accountcode": "", "agi_threadid": "1", "agi_arg_1": "", "agi_arg_2": "1",
    }
    return "".join(f"{k}: {v}\n" for k, v in fields.items()).encode() + b"\n"


def make_config(directory: Path, agents: int) -> Path:
    """The shipped config with ``agents`` generated agents serving every queue by skill."""
    config = directory / "config"
    shutil.copytree(ROOT / "config", config)
    lines = ["agents:"]
    for n in range(agents):
        lines += [f"  a{n:04d}:", f"    name: Agent {n}", "    skills: {billing: 5, technical: 4, sales: 3, mandarin: 3}",
                  "    languages: [en, zh]", f"    phone: PJSIP/{2000 + n}"]
    (config / "agents.yaml").write_text("\n".join(lines) + "\n")
    queues = (config / "queues.yaml").read_text()
    start = queues.index("      agents:\n        - alice")
    end = queues.index("    selection: longest_idle")
    (config / "queues.yaml").write_text(queues[:start] + "      skills: {billing: 1}\n" + queues[end:])
    return config


def percentiles(values: list[float]) -> dict:
    """count, p50, p99 and max of millisecond figures."""
    values = sorted(values)
    if not values:
        return {"n": 0}
    return {"n": len(values), "p50": round(statistics.median(values), 1),
            "p99": round(values[max(0, int(len(values) * 0.99) - 1)], 1), "max": round(values[-1], 1)}


async def run(calls: int, agents: int, directory: Path) -> dict:
    """Build and start the app, place the calls, return the figures."""
    config = make_config(directory, agents)
    url = f"sqlite:///{directory / 'bench.sqlite3'}"
    upgrade(url)
    settings = load_settings(config, {"http_port": 0, "fastagi_port": 0, "smtp_port": 0, "data_dir": directory})
    settings = dataclasses.replace(settings, queues={n: dataclasses.replace(q, schedule=None)
                                                     for n, q in settings.queues.items()})
    app = build_application(settings, reactor, url)
    app.service.startService()
    try:
        for login in sorted(settings.agents):
            app.switchboard.set_available(login)
        port = app.fastagi.port.getHost().port
        callers = [Caller(environment(n)) for n in range(calls)]
        offered: dict[int, float] = {}
        app.switchboard.on_offer(lambda decision: offered.setdefault(decision.interaction, time.perf_counter()))
        began = time.perf_counter()
        await DeferredList([connectProtocol(TCP4ClientEndpoint(reactor, "127.0.0.1", port), c) for c in callers])
        while any(c.decided is None for c in callers) and time.perf_counter() - began < 60:
            await app.switchboard.settled()
            from twisted.internet import task

            await task.deferLater(reactor, 0.01, lambda: None)
        elapsed = time.perf_counter() - began
        by_call = {f"1800000000.{n}": c for n, c in enumerate(callers)}
        decisions = [(offered[iid] - by_call[u].started) * 1000 for u, iid in app.voice.calls().items()
                     if iid in offered and u in by_call]
        wire = [(c.decided - c.started) * 1000 for c in callers if c.decided is not None]
        return {"calls": calls, "agents": agents, "seconds": round(elapsed, 2),
                "decision": percentiles(decisions), "dialplan": percentiles(wire)}
    finally:
        await app.service.stopService()


def main() -> None:
    """Print the figures of one run."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--agents", type=int, default=500)
    args = parser.parse_args()
    result: dict = {}

    async def go() -> None:
        with tempfile.TemporaryDirectory(prefix="voice-bench-") as tmp:
            result.update(await run(args.calls, args.agents, Path(tmp)))
        reactor.stop()

    def failed(failure) -> None:
        print(failure.getTraceback(), file=sys.stderr)
        reactor.stop()

    reactor.callWhenRunning(lambda: ensureDeferred(go()).addErrback(failed))
    reactor.run()
    if not result:
        sys.exit(1)
    print(f"{result['calls']} calls at once through FastAGI, switchboard, record (SQLite) and routing core, "
          f"{result['agents']} agents available")
    for label, key in (("request -> decision", "decision"), ("request -> dialplan", "dialplan")):
        f = result[key]
        print(f"{label}: n={f['n']} p50 {f.get('p50')} ms, p99 {f.get('p99')} ms, max {f.get('max')} ms")
    print(f"all calls decided within {result['seconds']} s")


if __name__ == "__main__":
    main()
