"""The supervisor dashboard on the seeded demo floor (``callcenter demo-floor``): 10 queues, 200
agents in every state and contacts waiting on every channel, read and worked in Chromium at
1366x768 and 1400x1000."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import pytest
from twisted.internet import reactor

from callcenter.demo import QUEUES, QUIET, seed_floor, write_config
from tests.support.browser import run_in_chromium
from tests.support.http import http_request
from tests.web.conftest import SHIPPED_CONFIG

PASSWORD = "demo floor for tests"
SIZES = ((1366, 768), (1400, 1000))
SHOTS = Path(os.environ.get("CALLCENTER_SHOTS", "/tmp/callcenter-shots"))


@pytest.fixture
def floor(run, make_app, tmp_path):
    """The app on the demo floor's configuration, seeded; (app, summary)."""
    app = make_app(config=write_config(tmp_path / "demo-config", SHIPPED_CONFIG))
    summary = run(seed_floor(app, PASSWORD), timeout=120)
    return app, summary


def base(app) -> str:
    """The site's base URL."""
    host, port = app.http.address
    return f"http://{host}:{port}"


def snapshot(run, app) -> dict:
    """The supervisor snapshot, as the dashboard reads it."""
    r = run(http_request(reactor, "POST", base(app) + "/login", json_body={"login": "supervisor", "password": PASSWORD}))
    cookie = {"cookie": r.headers["set-cookie"].split(";")[0]}
    return run(http_request(reactor, "GET", base(app) + "/api/supervisor/snapshot", headers=cookie)).json()


def test_the_floor_has_every_state_and_work_waiting_on_every_channel(run, floor):
    """200 agents in every state; contacts waiting on calls, emails and forms in the busy queues
    only, nobody free to take them; the quiet queues have the free agents and nothing waiting."""
    app, summary = floor
    snap = snapshot(run, app)
    states = Counter(a["state"] for a in snap["agents"])
    print(summary, states)
    assert len(snap["agents"]) == 200 and len(snap["queues"]) == len(QUEUES) == 10
    assert set(states) == {"logged_out", "not_ready", "available", "busy", "wrap_up"} and min(states.values()) >= 8
    waiting = {w["queue"] for w in snap["waiting"]}
    assert waiting and not waiting & set(QUIET)
    assert all(snap["queues"][q]["agents"]["available"] == 0 for q in waiting)
    assert set(summary.waiting) == {"call", "email", "form"}
