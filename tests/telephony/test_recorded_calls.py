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

    from callcenter.app import build_application
    from callcenter.settings import load_settings
    from callcenter.web.supervision import snapshot

    _, meta = recording(name)
    clock = VirtualTimeReactor(reactor, meta["epoch"])
    player = PbxPlayer(name, reactor, clock, 0, apply_step=None, settle=None)
    ami_port = run(player.listen_ami())
    overrides = {"http_port": 0, "fastagi_port": 0, "smtp_port": 0, "data_dir": tmp_path}
    settings = load_settings(lab_config(), overrides)
    telephony = dataclasses.replace(settings.telephony, ami=dataclasses.replace(settings.telephony.ami, port=ami_port))
    settings = dataclasses.replace(settings, telephony=telephony)
    app = build_application(settings, clock, url, overrides)
    run(app.service.startService() or _started(app))
    try:
        player.fastagi_port = app.fastagi.port.getHost().port
        board = app.switchboard
        player.apply_step = lambda step: _apply(app, step)
        player.settle = board.settled
        run(player.play(), timeout=120)
        run(player.finish(meta["snapshot_at"] - player.chunks[-1].t))
        shown = snapshot(board, app.clock)
    finally:
        player.close()
        run(app.service.stopService())
    return app, shown


def _apply(app, step: dict) -> None:
    """What a person did in the live run: a supervisor set an agent's state, an agent clicked to
    dial (the request lasts until the PBX answers, so it runs on while the replay goes on)."""
    from twisted.internet.defer import ensureDeferred

    if "dial" in step:
        ensureDeferred(app.click_to_dial.place(step["agent"], step["dial"])).addErrback(
            lambda f: f.printTraceback())
    else:
        app.switchboard.change_state(step["agent"], step["state"], step.get("reason"))


async def _started(app) -> None:
    from tests.telephony.pbx_replay import wait_for
    from twisted.internet import reactor

    for _ in range(500):
        if app.fastagi is not None and app.fastagi.port is not None:
            return
        await wait_for(reactor, 0.01)
    raise AssertionError("FastAGI never listened")


@pytest.mark.parametrize("name", recordings())
def test_recorded_pbx_replayed_against_the_server(name, run, tmp_path):
    """The server answers the recorded PBX byte for byte and ends with the live run's record,
    agents' states and dashboard counters."""
    from callcenter.records.migrate import upgrade

    url = f"sqlite:///{tmp_path / 'replay.sqlite3'}"
    upgrade(url)
    _, shown = replay(name, run, url, tmp_path)
    expected = _expected(name)
    record = record_summary(url)
    assert _exact(record) == _exact(expected["record"])
    for iid, live in expected["record"].items():
        # Live, a wait or a talk time also holds the server's and the PBX's own latency, which
        # the virtual clock of the replay does not pass: equal within a second.
        assert _close(record[iid]["wait"], live["wait"]) and _close(_talk(record[iid]), _talk(live)), iid
    assert {a["agent"]: a["state"] for a in shown["agents"]} == expected["agents"]
    today = {q: v["today"] for q, v in shown["queues"].items()}
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
