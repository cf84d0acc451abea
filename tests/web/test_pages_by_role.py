"""Where each role lands and what it can open: ``/`` for everyone, the shared page header, and a
supervisor dashboard that stays readable with 10 queues and 200 agents (each role's journey
through every page and chart is in test_journeys.py)."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from twisted.internet import reactor

from callcenter.settings.model import QueueMember
from callcenter.web.principal import Principal
from callcenter.web.i18n import labels
from callcenter.web.pages import home_of, page_links
from tests.support.browser import run_in_chromium
from tests.support.http import http_request

PASSWORD = "pages for every role"
SIZES = ((1366, 768), (1400, 1000))
SHOTS = Path("/tmp")
PEOPLE = {"alice": "agent", "sam": "supervisor", "root": "admin"}


@pytest.fixture
def app(run, make_app):
    """The app on the shipped config with an agent (alice), a supervisor (sam) and an admin (root)."""
    application = make_app()
    run(application.users.sync_from_config([("alice", "Alice Martin")]))
    run(application.users.set_password("alice", PASSWORD))
    run(application.users.create("sam", "supervisor", "Sam", password=PASSWORD))
    run(application.users.create("root", "admin", "Root", password=PASSWORD))
    return application


def base(app) -> str:
    """The site's base URL."""
    host, port = app.http.address
    return f"http://{host}:{port}"


def cookie_of(run, app, login: str) -> dict[str, str]:
    """The session cookie header of a JSON login."""
    r = run(http_request(reactor, "POST", base(app) + "/login", json_body={"login": login, "password": PASSWORD}))
    assert r.status == 200, r.body
    return {"cookie": r.headers["set-cookie"].split(";")[0]}


def test_home_and_links_follow_the_role():
    """An agent starts at the desktop, supervisors and admins at the dashboard, nobody at sign-in;
    the header links only what the role may open."""
    agent, boss = Principal(1, "alice", "agent", "alice"), Principal(2, "sam", "supervisor", None)
    both = Principal(3, "max", "supervisor", "max")
    assert [home_of(p) for p in (None, agent, boss, Principal(4, "root", "admin", None), both)] == [
        "/login", "/desktop", "/supervisor", "/supervisor", "/supervisor"]
    table = labels("en")
    assert page_links(agent, table, "/desktop") == [("/desktop", "Desktop", True)]
    assert [href for href, _, _ in page_links(boss, table, "/supervisor")] == ["/supervisor", "/reports/", "/reports/erlang"]
    assert [href for href, _, _ in page_links(both, table, "/supervisor")][0] == "/desktop"
    assert ("/supervisor#configuration", "Configuration", False) in page_links(
        Principal(4, "root", "admin", None), table, "/supervisor")


def test_root_sends_each_person_to_their_page(run, app):
    """``/`` answers 303: to sign-in without a session, else to the role's page (never a 404)."""
    r = run(http_request(reactor, "GET", base(app) + "/"))
    assert (r.status, r.headers["location"]) == (303, "/login")
    landing = {login: run(http_request(reactor, "GET", base(app) + "/", headers=cookie_of(run, app, login))).headers["location"]
               for login in PEOPLE}
    assert landing == {"alice": "/desktop", "sam": "/supervisor", "root": "/supervisor"}


def test_a_form_sign_in_goes_straight_to_the_role_page(run, app):
    """Signing in on the form without ``next`` answers 303 to the role's own page (no stop at ``/``)."""
    form = run(http_request(reactor, "GET", base(app) + "/login"))
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.body.decode()).group(1)
    cookie = form.headers["set-cookie"].split(";")[0]
    landing = {}
    for login in PEOPLE:
        r = run(http_request(reactor, "POST", base(app) + "/login", headers={
            "cookie": cookie, "content-type": "application/x-www-form-urlencoded"},
            body=f"login={login}&password={PASSWORD.replace(' ', '+')}&csrf_token={token}".encode()))
        landing[login] = (r.status, r.headers.get("location"))
    assert landing == {"alice": (303, "/desktop"), "sam": (303, "/supervisor"), "root": (303, "/supervisor")}


def test_a_supervisor_on_the_desktop_url_goes_to_the_dashboard(run, app):
    """A signed-in supervisor without an agent who opens /desktop is sent to the dashboard, not to sign-in."""
    r = run(http_request(reactor, "GET", base(app) + "/desktop", headers=cookie_of(run, app, "sam")))
    assert (r.status, r.headers["location"]) == (303, "/supervisor")


def test_reports_lead_a_stranger_to_sign_in_and_refuse_an_agent(run, app):
    """Nobody signed in: the report pages answer 303 to sign-in and back (the CSV stays 403);
    an agent gets 403."""
    r = run(http_request(reactor, "GET", base(app) + "/reports/erlang?date=2026-03-02&start=09:00"))
    assert (r.status, r.headers["location"]) == (303, "/login?next=/reports/erlang%3Fdate%3D2026-03-02%26start%3D09%3A00")
    assert run(http_request(reactor, "GET", base(app) + "/reports/export.csv")).status == 403
    assert run(http_request(reactor, "GET", base(app) + "/reports", headers=cookie_of(run, app, "alice"))).status == 403


def test_logged_out_agents_have_no_time_in_state(run, app):
    """The snapshot gives no time in state for a logged-out agent (not seconds since 1970) and a
    small, growing one for a logged-in agent."""
    app.switchboard.login("alice")
    snap = run(http_request(reactor, "GET", base(app) + "/api/supervisor/snapshot", headers=cookie_of(run, app, "sam"))).json()
    since = {a["agent"]: (a["state"], a["since_seconds"]) for a in snap["agents"]}
    assert since["bob"] == ("logged_out", None)
    assert since["alice"][0] == "not_ready" and 0 <= since["alice"][1] < 60


def test_reports_link_by_absolute_paths_from_both_urls(run, app):
    """``/reports`` and ``/reports/`` give the same page whose charts, CSV and staffing links all answer 200."""
    headers = cookie_of(run, app, "sam")
    pages = {path: run(http_request(reactor, "GET", base(app) + path, headers=headers)) for path in ("/reports", "/reports/")}
    assert {r.status for r in pages.values()} == {200}
    html = pages["/reports"].body.decode()
    assert html == pages["/reports/"].body.decode()
    targets = set(re.findall(r'(?:href|src)="(/[^"]*)"', html))
    assert {"/reports/erlang", "/static/desktop.css"} <= {t.split("?")[0] for t in targets}
    assert any(t.startswith("/reports/chart/volume.svg?") for t in targets)
    for target in targets:
        r = run(http_request(reactor, "GET", base(app) + target.replace("&amp;", "&"), headers=headers))
        assert r.status == 200, target


async def sign_in_at_root(page, url: str, login: str) -> str:
    """Open ``/``, sign in on the page it leads to, return the path landed on."""
    await page.goto(url + "/")
    await page.fill("#login", login)
    await page.fill("#password", PASSWORD)
    await page.click("[data-testid=login-submit]")
    await page.wait_for_load_state("networkidle")
    return urlsplit(page.url).path


def watch(page, problems: list[str]) -> None:
    """Collect every 4xx/5xx response, console error and uncaught page error of ``page``."""
    page.on("response", lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    page.on("console", lambda m: problems.append(f"console: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))


def crowded(settings):
    """The shipped settings with 10 queues and 200 agents (a busy floor)."""
    template = settings.agents["alice"]
    agents = {f"a{n:03d}": dataclasses.replace(template, login=f"a{n:03d}", name=f"Agent Number {n:03d}")
              for n in range(200)}
    agents.update(settings.agents)
    queues = dict(settings.queues)
    first = queues["billing"]
    for n in range(10 - len(queues)):
        name = f"extra{n}"
        queues[name] = dataclasses.replace(first, name=name, label=f"Overflow line {n}",
                                           members=tuple(QueueMember(a, 0, 0.0) for a in list(agents)[n::7]))
    return dataclasses.replace(settings, agents=agents, queues=queues)


@pytest.mark.browser
def test_the_dashboard_stays_readable_with_10_queues_and_200_agents(run, make_app, tmp_path):
    """At 1366x768 and 1400x1000 the queue table fits its card, every agent row is one compact line
    with its state control inside it, and time in state reads '–' only for logged-out agents."""
    app = make_app(adjust=crowded)
    run(app.users.create("sam", "supervisor", "Sam", password=PASSWORD))
    for n in range(0, 200, 3):
        app.switchboard.login(f"a{n:03d}")

    async def scenario(context):
        page = await context.new_page()
        problems: list[str] = []
        watch(page, problems)
        assert await sign_in_at_root(page, base(app), "sam") == "/supervisor"
        await page.locator("tr[data-agent]").nth(199).wait_for()
        measures = []
        for width, height in SIZES:
            await page.set_viewport_size({"width": width, "height": height})
            await page.wait_for_timeout(300)
            await page.screenshot(path=str(SHOTS / f"role-dashboard-crowded-{width}x{height}.png"))
            measures.append(await page.evaluate("""() => {
                const wrap = document.querySelector('[data-testid=queues]').parentElement;
                const rows = Array.from(document.querySelectorAll('tr[data-agent]'));
                return {queueOverflow: wrap.scrollWidth - wrap.clientWidth,
                        queues: document.querySelectorAll('#queue-rows tr').length,
                        rows: rows.length, tallest: Math.max(...rows.map(r => r.getBoundingClientRect().height)),
                        controlsInRow: rows.filter(r => r.querySelector('select[data-testid^=set-state-]')).length,
                        pageOverflow: document.documentElement.scrollWidth - window.innerWidth};
            }"""))
        since = await page.evaluate("""() => Array.from(document.querySelectorAll('tr[data-agent]')).map(
            r => [r.querySelector('span.state').className, r.querySelector('[data-testid^=since-]').textContent])""")
        await page.fill("[data-testid=agent-filter]", "Number 00")
        filtered = await page.locator("tr[data-agent]").count()
        return measures, since, filtered, problems

    measures, since, filtered, problems = run_in_chromium(scenario, tmp_path, timeout=120)
    for m in measures:
        assert m["queueOverflow"] <= 0 and m["pageOverflow"] <= 0 and m["queues"] == 10
        assert m["rows"] == m["controlsInRow"] == 205 and m["tallest"] <= 40
    assert all((text == "–") == ("logged_out" in cls) for cls, text in since)
    assert filtered == 10 and problems == []


@pytest.mark.browser
def test_a_web_form_with_long_values_stays_inside_its_card(run, app, tmp_path):
    """A form whose name, address, message and consent label are long unbroken text is shown with
    every field inside the offer's card at 1366x768 (no element sticks out on the right)."""
    from channels.webform.submission import FormSubmission

    long_name = "Wolfeschlegelsteinhausenbergerdorff" * 4
    address = "a.very.long.address.without.any.spaces.for.testing@example-subdomain-of-something.example.net"
    fields = {"name": long_name, "email": address, "topic": "billing", "consent": "true",
              "message": "https://example.com/" + "x" * 300 + "\nSecond line."}
    app.switchboard.set_available("alice")
    run(app.forms.submit_form(FormSubmission(form="contact", fields=fields, email=address, phone=None, name=long_name,
                                             attributes={"topic": "billing"}, attachments=(),
                                             client_ip="127.0.0.1", language="en")))

    async def scenario(context):
        page = await context.new_page()
        problems: list[str] = []
        watch(page, problems)
        await page.set_viewport_size({"width": 1366, "height": 768})
        assert await sign_in_at_root(page, base(app), "alice") == "/desktop"
        card = page.locator(".pop", has_text="Second line")
        await card.wait_for(timeout=15000)
        await card.screenshot(path=str(SHOTS / "role-desktop-long-form-card.png"))
        sticking_out = await card.evaluate("""card => { const edge = card.getBoundingClientRect().right;
            return Array.from(card.querySelectorAll('*')).filter(e => e.getBoundingClientRect().right > edge + 1)
                        .map(e => e.tagName); }""")
        height = (await card.bounding_box())["height"]
        return sticking_out, height, problems

    sticking_out, height, problems = run_in_chromium(scenario, tmp_path)
    assert sticking_out == [] and height < 2000 and problems == []


@pytest.mark.browser
def test_an_admin_checks_and_reloads_the_configuration_from_the_dashboard(app, tmp_path):
    """The admin's dashboard has the configuration panel; reloading config/ (whose business hours
    the test app had dropped) says it was applied and lists the changes; a supervisor has no panel."""

    async def scenario(context):
        page = await context.new_page()
        problems: list[str] = []
        watch(page, problems)
        await sign_in_at_root(page, base(app), "sam")
        supervisor_panels = await page.locator("#configuration").count()
        await page.click("[data-testid=sign-out]")
        await page.wait_for_url("**/login")
        await sign_in_at_root(page, base(app), "root")
        await page.click("[data-testid=page-links] a[href='/supervisor#configuration']")
        await page.click("[data-testid=reload-config]")
        result = page.locator("[data-testid=reload-result]")
        await result.locator("p").first.wait_for()
        await page.screenshot(path=str(SHOTS / "role-admin-reload.png"))
        return supervisor_panels, await result.inner_text(), problems

    supervisor_panels, shown, problems = run_in_chromium(scenario, tmp_path)
    assert supervisor_panels == 0 and problems == []
    lines = [line for line in shown.splitlines() if line.strip()]
    assert lines[0] == "Applied." and any(line.startswith("queues.") for line in lines[1:])
