"""Every recorded PBX scenario replayed against the whole server, as `callcenter serve` builds it.

The recordings were made on a live Asterisk with the server running (see
tests/fixtures/asterisk/calls/README.md). Each replay must make the server write to the PBX the
bytes it wrote live, and leave the record, the agents and the dashboard as the live run left them
(``<name>.expected.json``, read off the live server and checked by hand against Asterisk's log).
"""

from __future__ import annotations

import dataclasses
import json

import pytest

from tests.support.virtualtime import VirtualTimeReactor
from tests.telephony.pbx_replay import PbxPlayer, lab_config, record_summary, recording, recordings
from tests.telephony.transcripts import fixtures_dir

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _expected(name: str) -> dict:
    return json.loads((fixtures_dir() / "calls" / f"{name}.expected.json").read_text(encoding="utf-8"))


def replay(name: str, run, url: str, tmp_path) -> tuple[object, dict]:
    """Build the server on the lab configuration and a virtual clock, play ``name`` against it,
    and return the application and the dashboard snapshot at the moment the live one was read."""
    from twisted.internet import reactor

    from callcenter.settings import load_settings
    from callcenter.web.supervision import snapshot

    _, meta = recording(name)
    clock = VirtualTimeReactor(reactor, meta["epoch"])
    player = PbxPlayer(name, reactor, clock, 0, apply_step=None, settle=None)
    ami_port = run(player.listen_ami())
    overrides = {"http_port": 0, "fastagi_port": 0, "smtp_port": 0, "data_dir": tmp_path}
    settings = load_settings(lab_config(), overrides)
    telephony = dataclasses.replace(settings.telephony, ami=dataclasses.replace(settings.telephony.ami, port=ami_port))
    servers = Servers(dataclasses.replace(settings, telephony=telephony), clock, url, overrides, player)
    run(servers.start())
    try:
        player.apply_step = servers.apply
        player.settle = servers.settle
        player.quiesce = servers.quiesce
        run(player.play(), timeout=120)
        run(player.finish(meta["snapshot_at"] - player.chunks[-1].t))
        shown = snapshot(servers.app.switchboard, servers.app.clock)
    finally:
        player.close()
        run(servers.stop())
    return servers.app, shown


class Servers:
    """The server under replay, as `callcenter serve` builds it; a recorded restart stops it and
    starts the next one on the same record, as an operator's restart did live."""

    def __init__(self, settings, clock, url: str, overrides: dict, player: PbxPlayer) -> None:
        self._settings, self._clock, self._url, self._overrides, self._player = settings, clock, url, overrides, player
        self.app = None
        self._stopping = None

    async def start(self) -> None:
        """Build and start a server; the player dials its FastAGI port from now on."""
        from callcenter.app import build_application
        from tests.telephony.pbx_replay import wait_for
        from twisted.internet import reactor

        self._player.server_started()
        self.app = build_application(self._settings, self._clock, self._url, self._overrides)
        self.app.service.startService()
        for _ in range(500):
            if self.app.fastagi is not None and self.app.fastagi.port is not None:
                break
            await wait_for(reactor, 0.01)
        else:
            raise AssertionError("FastAGI never listened")
        self._player.fastagi_port = self.app.fastagi.port.getHost().port

    async def stop(self) -> None:
        """Stop the server if it runs (what SIGTERM does)."""
        if self.app is not None and self.app.service.running:
            await self.app.service.stopService()

    async def settle(self) -> None:
        """Wait until the running server has nothing in flight: no call being admitted (its record
        writes), no write queued, no decision's writes pending. The recorded clock must not move
        while the server is still doing what the last chunk asked for."""
        from tests.telephony.pbx_replay import wait_for
        from twisted.internet import reactor

        for _ in range(5000):
            if self.app is None or not self.app.service.running:
                return
            await self.app.switchboard.settled()
            await self.app.store.drain()
            if not self.app.voice.admitting():
                await self.app.switchboard.settled()
                return
            await wait_for(reactor, 0.001)

    async def quiesce(self) -> None:
        """Wait until the running server's PBX sockets hold no byte it has not read yet."""
        import fcntl
        import struct
        import termios

        from tests.telephony.pbx_replay import wait_for
        from twisted.internet import reactor

        if self.app is None or not self.app.service.running:
            return
        for _ in range(5000):
            sessions = list(self.app.fastagi.factory.sessions) if self.app.fastagi is not None else []
            links = [s.protocol.transport for s in sessions]
            ami = getattr(self.app.ami, "_current", None) if self.app.ami is not None else None
            if ami is not None:
                links.append(ami.transport)
            unread = 0
            for transport in links:
                try:
                    handle = transport.getHandle()
                    unread += struct.unpack("i", fcntl.ioctl(handle.fileno(), termios.FIONREAD, b"\0" * 4))[0]
                except (AttributeError, OSError, ValueError):
                    continue
            if not unread:
                return
            await wait_for(reactor, 0.001)

    def apply(self, step: dict):
        """What a person did in the live run: a supervisor set an agent's state, an agent clicked
        to dial (the request lasts until the PBX answers, so it runs on while the replay goes on),
        an operator stopped the server (its drain runs on the recorded clock) and started it again."""
        from twisted.internet.defer import ensureDeferred

        if step.get("server") == "stopping":
            self._stopping = ensureDeferred(self.stop())
            return None
        if step.get("server") == "stopped":
            return self._stopping
        if step.get("server") == "starting":
            return ensureDeferred(self.start())
        if "dial" in step:
            ensureDeferred(self.app.click_to_dial.place(step["agent"], step["dial"])).addErrback(
                lambda f: f.printTraceback())
        else:
            self.app.switchboard.change_state(step["agent"], step["state"], step.get("reason"))
        return None


@pytest.mark.parametrize("name", recordings())
def test_recorded_pbx_replayed_against_the_server(name, run, tmp_path):
    """The server answers the recorded PBX byte for byte and ends with the live run's record,
    agents' states and dashboard counters."""
    from callcenter.records.migrate import upgrade

    expected = _expected(name)
    url = f"sqlite:///{tmp_path / 'replay.sqlite3'}"
    upgrade(url)
    _, shown = replay(name, run, url, tmp_path)
    record = record_summary(url)
    assert _exact(record) == _exact(expected["record"])
    for iid, live in expected["record"].items():
        # Live, a wait or a talk time also holds the server's and the PBX's own latency, which
        # the virtual clock of the replay does not pass: equal within a second.
        assert _close(record[iid]["wait"], live["wait"]) and _close(_talk(record[iid]), _talk(live)), iid
    assert {a["agent"]: a["state"] for a in shown["agents"]} == expected["agents"]
    # The figures the live run read (the dashboard has more since; docs/reports.md defines them all).
    today = {q: {k: v["today"][k] for k in expected["today"].get(q, v["today"])} for q, v in shown["queues"].items()}
    assert _counts(today) == _counts(expected["today"]), json.dumps(today, sort_keys=True)
    for queue, figures in expected["today"].items():
        for kpi in TIMED_KPIS:
            # Live, these include the server's own write latency, which virtual time does not pass.
            assert _close(figures[kpi], today[queue][kpi]), (queue, kpi)


TIMED_KPIS = ("asa", "aht")


def _exact(record: dict) -> dict:
    return {iid: {**fields, "wait": fields["wait"] is not None,
                  "call": None if fields["call"] is None else fields["call"]["cause"]}
            for iid, fields in record.items()}


def _talk(fields: dict) -> float | None:
    return None if fields["call"] is None else fields["call"]["talk"]


def _close(a: float | None, b: float | None) -> bool:
    return a == b or (a is not None and b is not None and abs(a - b) <= 1.0)


def _counts(today: dict) -> dict:
    return {q: {k: v for k, v in figures.items() if k not in TIMED_KPIS} for q, figures in today.items()}
