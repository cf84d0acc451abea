"""The supervisor dashboard on the seeded demo floor (``callcenter demo-floor``): 10 queues, 200
agents in every state and contacts waiting on every channel, read and worked in Chromium at
1366x768 and 1400x1000."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.request
from collections import Counter
from pathlib import Path

import pytest
from twisted.internet import reactor

from callcenter.demo import QUEUES, QUIET
from tests.support.browser import run_in_chromium
from tests.support.http import http_request
from tests.support.webpages import SHOTS, SIZES, seeded_floor, sign_in, site_url, watch
from tests.web.test_first_run import ROOT, free_port, read_until, stop

PASSWORD = "demo floor for tests"


@pytest.fixture
def floor(run, make_app, tmp_path):
    """The app on the seeded demo floor; (app, summary)."""
    app, summary = seeded_floor(run, make_app, tmp_path, PASSWORD)
    # The alerts of the seeded floor, raised now rather than at the first periodic check (5 s
    # after start): a fast machine would otherwise read the page before it.
    app.alerts.check()
    yield app, summary
    summary.stop_timers()


def snapshot(run, app) -> dict:
    """The supervisor snapshot, as the dashboard reads it."""
    r = run(http_request(reactor, "POST", site_url(app) + "/login", json_body={"login": "supervisor", "password": PASSWORD}))
    cookie = {"cookie": r.headers["set-cookie"].split(";")[0]}
    return run(http_request(reactor, "GET", site_url(app) + "/api/supervisor/snapshot", headers=cookie)).json()


def test_the_floor_has_every_state_and_work_waiting_on_every_channel(run, floor):
    """200 agents in every state; contacts waiting on calls, emails and forms in the busy queues
    only, nobody free to take them; the quiet queues have the free agents and nothing waiting."""
    app, summary = floor
    snap = snapshot(run, app)
    states = Counter(a["state"] for a in snap["agents"])
    assert len(snap["agents"]) == 200 and len(snap["queues"]) == len(QUEUES) == 10
    assert set(states) == {"logged_out", "not_ready", "available", "busy", "wrap_up"} and min(states.values()) >= 8
    waiting = {w["queue"] for w in snap["waiting"]}
    assert waiting and not waiting & set(QUIET)
    assert all(snap["queues"][q]["agents"]["available"] == 0 for q in waiting)
    assert set(summary.waiting) == {"call", "email", "form"}


MEASURE = """() => {
    const panels = Array.from(document.querySelectorAll('main .panel'));
    const cut = panels.filter(p => p.scrollWidth > p.clientWidth + 1).map(p => p.getAttribute('aria-labelledby'));
    const scrolled = Array.from(document.querySelectorAll('main .scroll'))
        .filter(s => s.scrollWidth > s.clientWidth + 1).map(s => s.closest('.panel').getAttribute('aria-labelledby'));
    const rows = Array.from(document.querySelectorAll('tr[data-agent]'));
    const order = panels.map(p => p.getAttribute('aria-labelledby'));
    return {cut, scrolled, order, pageOverflow: document.documentElement.scrollWidth - window.innerWidth,
            agents: rows.length, tallest: Math.max(...rows.map(r => r.getBoundingClientRect().height)),
            queueRows: document.querySelectorAll('#queue-rows tr').length,
            queuesBottom: document.querySelector('[data-testid=queues]').getBoundingClientRect().bottom,
            height: window.innerHeight,
            sl: Array.from(document.querySelectorAll('#queue-rows td.sl')).map(td => td.className),
            alerts: Array.from(document.querySelectorAll('#alerts li')).map(li => li.getAttribute('data-testid'))};
}"""


@pytest.mark.browser
def test_the_wallboard_reads_and_works_at_both_sizes_with_200_agents(run, floor, tmp_path):
    """At 1366x768 and 1400x1000: queues first (all ten on the first screen), then the waiting
    list, then the agents; no card cut or scrolled sideways, no page overflow, every agent row one
    compact line, service level coloured against the target, one alert line per queue; sorting by state puts busy agents
    first and again reversed, and the filter finds agents by name and by state."""
    app, _ = floor

    async def scenario(context):
        page = await context.new_page()
        problems: list[str] = []
        watch(page, problems)
        await sign_in(page, site_url(app), "supervisor", PASSWORD)
        await page.locator("tr[data-agent]").nth(199).wait_for()
        measures = {}
        SHOTS.mkdir(parents=True, exist_ok=True)
        for width, height in SIZES:
            await page.set_viewport_size({"width": width, "height": height})
            await page.wait_for_timeout(300)
            await page.screenshot(path=str(SHOTS / f"dashboard-floor-{width}x{height}.png"))
            measures[width] = await page.evaluate(MEASURE)
        await page.set_viewport_size({"width": 1366, "height": 768})
        for part in ("waiting", "agents"):
            await page.evaluate(f"document.getElementById('{part}-h').scrollIntoView()")
            await page.screenshot(path=str(SHOTS / f"dashboard-floor-1366x768-{part}.png"))
        states = "els => els.map(e => e.querySelector('span.state').className.replace('state ', ''))"
        await page.click("th[data-sort=state]")
        up = await page.locator("tr[data-agent]").evaluate_all(states)
        await page.click("th[data-sort=state]")
        down = await page.locator("tr[data-agent]").evaluate_all(states)
        sort_mark = await page.get_attribute("th[data-sort=state]", "aria-sort")
        await page.fill("[data-testid=agent-filter]", "wrap")
        by_state = await page.locator("tr[data-agent]").evaluate_all(states)
        name = await page.locator("tr[data-agent] td.name").first.inner_text()
        await page.fill("[data-testid=agent-filter]", name)
        by_name = await page.locator("tr[data-agent] td.name").all_inner_texts()
        count = await page.locator("#agent-count").inner_text()
        await page.screenshot(path=str(SHOTS / "dashboard-floor-filtered.png"))
        return measures, up, down, sort_mark, by_state, name, by_name, count, problems

    measures, up, down, sort_mark, by_state, name, by_name, count, problems = run_in_chromium(scenario, tmp_path,
                                                                                          timeout=120)
    alerting = sorted({f"alert-{a['queue']}" for a in snapshot(run, app)["alerts"]})
    for width, m in measures.items():
        assert m["order"] == ["queues-h", "waiting-h", "agents-h"], width
        assert (m["cut"], m["scrolled"], m["pageOverflow"]) == ([], [], 0), (width, m)
        assert m["queueRows"] == 10 and m["agents"] == 200 and m["tallest"] <= 32, (width, m)
        assert sorted(m["alerts"]) == alerting, (width, m["alerts"])  # one line per queue
        assert m["queuesBottom"] <= m["height"] and {"good", "warn", "bad"} & {c.split()[-1] for c in m["sl"]}, (width, m)
    order = ["busy", "wrap_up", "available", "not_ready", "logged_out"]
    assert up == sorted(up, key=order.index) and up[0] == "busy" and down == up[::-1] and sort_mark == "descending"
    assert set(by_state) == {"wrap_up"} and len(by_state) >= 8
    assert name in by_name and count == f"({len(by_name)}/200)"
    assert problems == []


def test_the_demo_floor_command_serves_and_cleans_up(tmp_path):
    """``callcenter demo-floor`` prints where it runs, serves the seeded floor with the password
    it was given (the dashboard answers the supervisor), and deletes its directory when stopped."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "callcenter.cli", "demo-floor", "--http-port", str(port),
                                "--password", PASSWORD, "--log-format", "json"],
                               cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        out = read_until(process.stdout.fileno(), b"    admin ", timeout=180).decode()
        scratch = Path(re.search(r"demo floor in (\S+) ", out).group(1))
        assert scratch.is_dir() and "demo floor ready: 10 queues" in out
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
        url = f"http://127.0.0.1:{port}"
        opener.open(urllib.request.Request(url + "/login", data=json.dumps(
            {"login": "supervisor", "password": PASSWORD}).encode(), headers={"content-type": "application/json"}))
        snap = json.load(opener.open(url + "/api/supervisor/snapshot"))
    finally:
        stop(process)
    assert len(snap["agents"]) == 200 and len(snap["queues"]) == 10 and snap["waiting"]
    assert process.returncode == 0 and not scratch.exists()
