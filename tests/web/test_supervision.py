"""Supervisor actions, config reload through the admin API, /metrics, and the live dashboard."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest
from twisted.internet import reactor

from callcenter.intake.contact import Contact
from tests.support.browser import run_in_chromium
from tests.support.http import http_request

CONFIG = Path(__file__).resolve().parents[2] / "config"
PASSWORD = "supervise all the things"


@pytest.fixture
def app(run, make_app, tmp_path):
    """The app on a copy of the shipped config (always open), with a supervisor and an admin."""

    config = tmp_path / "config"
    shutil.copytree(CONFIG, config)
    for name in ("queues.yaml",):
        text = (config / name).read_text()
        # no overflow either: with its members logged in but not ready, work waits in its queue
        for overflow in ("    overflow: {after: 10m, to: support}\n", "    overflow: {after: 5m, to: support}\n"):
            text = text.replace(overflow, "")
        (config / name).write_text(text.replace("    hours: office\n", "").replace("    hours: sales\n", ""))
    application = make_app(config=config, always_open=False)
    run(application.users.create("sam", "supervisor", "Sam", password=PASSWORD))
    run(application.users.create("root", "admin", "Root", password=PASSWORD))
    application.config_dir = config
    application.switchboard.login("alice")   # logged in, not ready: billing work waits in billing
    return application


def base(app) -> str:
    """The site's base URL."""
    host, port = app.http.address
    return f"http://{host}:{port}"


def session(run, app, login):
    """(headers with cookie and CSRF token) of a JSON login."""
    r = run(http_request(reactor, "POST", base(app) + "/login", json_body={"login": login, "password": PASSWORD}))
    return {"cookie": r.headers["set-cookie"].split(";")[0], "x-csrf-token": r.json()["csrf_token"]}


def admit(run, app, phone, to="+18005550100", digits="1"):
    """A call that waits (nobody available)."""
    return run(app.intake.admit(Contact(channel="voice", contact_kind="phone", contact=phone, to=to, digits=digits))).interaction_id


def test_snapshot_shows_scores_and_actions_are_audited(run, app):
    """A waiting call shows with its score parts; a supervisor raises its priority and moves it;
    both land in the audit trail; an agent may not do either."""
    iid = admit(run, app, "+14155550101")
    sup = session(run, app, "sam")
    snap = run(http_request(reactor, "GET", base(app) + "/api/supervisor/snapshot", headers=sup)).json()
    (waiting,) = snap["waiting"]
    assert waiting["interaction"] == iid and waiting["queue"] == "billing"
    assert set(waiting["parts"]) >= {"aging", "priority_bonus", "tier_bonus"}
    assert snap["queues"]["billing"]["waiting"] == 1
    assert app.switchboard.waiting_view(iid).position == 1
    r = run(http_request(reactor, "POST", base(app) + f"/api/supervisor/interactions/{iid}/priority",
                         json_body={"priority": 3}, headers=sup))
    assert r.status == 200
    r = run(http_request(reactor, "POST", base(app) + f"/api/supervisor/interactions/{iid}/move",
                         json_body={"queue": "support"}, headers=sup))
    assert r.status == 200
    assert [w.queue for w in app.switchboard.router.waiting()] == ["support"]
    actions = [(e.action, e.actor) for e in run(app.store.recent_audit("interaction."))]
    assert actions == [("interaction.move", "sam"), ("interaction.priority", "sam")]
    run(app.users.sync_from_config([("alice", "Alice")]))
    run(app.users.set_password("alice", PASSWORD))
    iid = admit(run, app, "+14155550109")
    agent = session(run, app, "alice")
    r = run(http_request(reactor, "POST", base(app) + f"/api/supervisor/interactions/{iid}/priority",
                         json_body={"priority": 9}, headers=agent))
    assert r.status == 403


def test_reload_keeps_waiting_work_and_a_bad_config_changes_nothing(run, app):
    """A valid edit is applied (and audited) with the call still waiting in place; a broken file is
    refused with its place, the running config stays; supervisors may not reload."""
    iid = admit(run, app, "+14155550102")
    admin = session(run, app, "root")
    queues = app.config_dir / "queues.yaml"
    queues.write_text(queues.read_text().replace("offer_timeout: 20s\n    wrap_up: 45s", "offer_timeout: 25s\n    wrap_up: 45s"))
    r = run(http_request(reactor, "POST", base(app) + "/api/admin/reload", headers=admin))
    assert r.status == 200 and r.json()["applied"] is True
    assert any("queues.billing" in line for line in r.json()["changes"])
    assert app.switchboard.settings.queues["billing"].offer_timeout == 25.0
    assert [w.interaction for w in app.switchboard.router.waiting()] == [iid]
    queues.write_text(queues.read_text().replace("selection: longest_idle", "selection: coin_flip"))
    r = run(http_request(reactor, "POST", base(app) + "/api/admin/reload", headers=admin))
    assert r.status == 422 and r.json()["applied"] is False
    assert any("queues.yaml:" in e and "selection" in e for e in r.json()["errors"])
    assert app.switchboard.settings.queues["billing"].selection == "longest_idle"
    assert [w.interaction for w in app.switchboard.router.waiting()] == [iid]
    assert [e.action for e in run(app.store.recent_audit("config."))] == ["config.reload_refused", "config.reload"]
    sup = session(run, app, "sam")
    assert run(http_request(reactor, "POST", base(app) + "/api/admin/reload", headers=sup)).status == 403


def test_reload_reads_the_files_away_from_the_reactor(run, app, monkeypatch):
    """The files are read and checked on a worker thread, so calls and requests go on meanwhile
    (a floor of thousands of agents takes a noticeable fraction of a second to check)."""
    import threading

    from callcenter.runtime import reload as reload_module

    threads = []

    def load(*args):
        threads.append(threading.current_thread())
        return real(*args)

    real = reload_module.load_settings
    monkeypatch.setattr(reload_module, "load_settings", load)
    r = run(http_request(reactor, "POST", base(app) + "/api/admin/reload", headers=session(run, app, "root")))
    assert r.status == 200 and r.json()["applied"] is True
    assert len(threads) == 1 and threads[0] is not threading.main_thread()


def test_metrics_expose_queues_agents_and_channels(run, app):
    """/metrics is Prometheus text with queue depth, longest wait, agents by state and channels."""
    admit(run, app, "+14155550103")
    app.switchboard.set_available("bob")
    r = run(http_request(reactor, "GET", base(app) + "/metrics"))
    assert 'callcenter_agents{state="not_ready"} 1' in r.body.decode()
    text = r.body.decode()
    assert r.status == 200 and r.headers["content-type"].startswith("text/plain")
    assert 'callcenter_queue_waiting{queue="billing"} 1' in text
    assert 'callcenter_agents{state="available"} 1' in text
    assert 'callcenter_channel_up{channel="fastagi"} 1' in text
    assert "# TYPE callcenter_queue_longest_wait_seconds gauge" in text


@pytest.mark.browser
def test_dashboard_updates_when_an_interaction_arrives(run, app, tmp_path):
    """The supervisor's dashboard shows a new waiting call without a reload of the page."""

    async def scenario(context):
        page = await context.new_page()
        await page.goto(base(app) + "/login?next=/supervisor")
        await page.fill("#login", "sam")
        await page.fill("#password", PASSWORD)
        await page.click("[data-testid=login-submit]")
        await page.wait_for_url("**/supervisor")
        cell = page.locator("[data-testid=waiting-billing]")
        await cell.wait_for()
        before = await cell.inner_text()
        from twisted.internet.defer import ensureDeferred

        arrival = app.intake.admit(Contact(channel="voice", contact_kind="phone", contact="+14155550104",
                                               to="+18005550100", digits="1"))
        await ensureDeferred(arrival).asFuture(asyncio.get_running_loop())
        # A locator, not wait_for_function: the page's CSP forbids the eval a polled predicate needs.
        from playwright.async_api import expect

        await expect(page.locator("[data-testid=waiting-billing]")).to_have_text("1", timeout=10000)
        return before, await page.locator("[data-testid=waiting] tbody tr").count()

    before, rows = run_in_chromium(scenario, tmp_path)
    assert (before, rows) == ("0", 1)


def test_long_wait_raises_an_alert_on_the_dashboard_and_clears_when_answered(run, app):
    """A call waiting past the 2-minute threshold raises one alert, pushed and in the snapshot;
    it clears once nobody waits that long."""
    now = app.clock.now()
    iid = run(app.intake.admit(Contact(channel="voice", contact_kind="phone", contact="+14155550111",
                                           to="+18005550100", digits="1", virtual_start=now - 600))).interaction_id
    changes = app.alerts.check()
    raised = [(a.queue, a.kind) for a in changes.raised]
    assert ("billing", "longest_wait") in raised
    assert app.alerts.check().raised == ()          # still active: not raised again
    sup = session(run, app, "sam")
    snap = run(http_request(reactor, "GET", base(app) + "/api/supervisor/snapshot", headers=sup)).json()
    assert any(a["queue"] == "billing" and a["kind"] == "longest_wait" for a in snap["alerts"])
    app.switchboard.customer_left(iid)
    cleared = [(a.queue, a.kind) for a in app.alerts.check().cleared]
    assert ("billing", "longest_wait") in cleared


def test_reload_that_removes_a_queue_hands_its_work_to_the_rule_fallback(run, app):
    """Removing the sales queue moves a waiting sales call to the rule's fallback (support), keeping
    its original start."""
    app.switchboard.login("erin")    # a sales member logged in (not ready): the call waits in sales
    iid = run(app.intake.admit(Contact(channel="voice", contact_kind="phone", contact="+14155550121",
                                           to="+18005550100", digits="2"))).interaction_id
    before = {w.interaction: w for w in app.switchboard.router.waiting()}
    assert before[iid].queue == "sales"
    cfg = app.config_dir
    text = (cfg / "queues.yaml").read_text()
    start = text.index("  sales:\n")
    (cfg / "queues.yaml").write_text(text[:start])
    routing = (cfg / "routing.yaml").read_text()
    routing = routing.replace("    queue: sales\n    fallback: support\n", "    queue: support\n")
    (cfg / "routing.yaml").write_text(routing)
    agents = (cfg / "agents.yaml").read_text().replace("    queues: [sales]\n", "")
    (cfg / "agents.yaml").write_text(agents)
    supervision = (cfg / "supervision.yaml").read_text().replace("      sales: {longest_wait_above: 1m}\n", "")
    (cfg / "supervision.yaml").write_text(supervision)
    outcome = run(app.reloader.reload("it-admin"))
    assert outcome.applied, outcome.errors
    after = {w.interaction: w for w in app.switchboard.router.waiting()}
    assert after[iid].queue == "support"
    assert after[iid].waited >= before[iid].waited


def test_supervisor_changes_an_agent_state_with_a_configured_reason_only(run, app):
    """Not ready needs a configured reason (422 naming it otherwise); the change is audited."""
    sup = session(run, app, "sam")
    url = base(app) + "/api/supervisor/agents/bob/state"
    r = run(http_request(reactor, "POST", url, json_body={"state": "not_ready", "reason": "nap"}, headers=sup))
    assert (r.status, r.json()["error"]["field"]) == (422, "reason")
    r = run(http_request(reactor, "POST", url, json_body={"state": "dancing"}, headers=sup))
    assert (r.status, r.json()["error"]["field"]) == (422, "state")
    r = run(http_request(reactor, "POST", url, json_body={"state": "not_ready", "reason": "lunch"}, headers=sup))
    assert r.status == 200 and (r.json()["state"], r.json()["reason"]) == ("not_ready", "lunch")
    (entry,) = run(app.store.recent_audit("agent."))
    assert (entry.actor, entry.details["agent"], entry.details["reason"]) == ("sam", "bob", "lunch")


def test_reload_that_would_remove_an_agent_holding_work_is_refused_whole(run, app):
    """Removing an agent who holds a call cannot be applied: the reload is refused with the reason
    and the running configuration (the agent, the queues) stays."""
    app.switchboard.set_available("alice")
    iid = admit(run, app, "+14155550131")
    app.switchboard.connected(iid, "alice")
    agents = app.config_dir / "agents.yaml"
    text = agents.read_text()
    start, end = text.index("  alice:\n"), text.index("  bob:\n")
    agents.write_text(text[:start] + text[end:])
    queues = app.config_dir / "queues.yaml"
    queues.write_text(queues.read_text().replace("        - alice\n", ""))
    outcome = run(app.reloader.reload("it-admin"))
    assert not outcome.applied and "alice" in outcome.errors[0]
    assert "alice" in app.switchboard.settings.agents
    assert app.switchboard.holding[iid] == "alice"


def test_reload_of_a_new_cti_token_says_it_needs_a_restart_and_mail_sees_new_templates(run, app):
    """A changed CTI token is reported in needs_restart (the running token stays in force until a
    restart); the mail flow is handed the new settings like the other live components."""
    channels = app.config_dir / "channels.yaml"
    channels.write_text(channels.read_text().replace("token: null", "token: rotated-token-0123456789"))
    outcome = run(app.reloader.reload("it-admin"))
    assert outcome.applied and outcome.needs_restart == ("telephony.cti_token: changed",)
    assert outcome.to_json()["needs_restart"] == ["telephony.cti_token: changed"]
    assert app.mailflow.settings is app.settings and app.settings.telephony.cti_token == "rotated-token-0123456789"
    r = run(http_request(reactor, "POST", base(app) + "/api/cti/rotated-token-0123456789", json_body={}))
    assert r.status == 404
