"""Each role's journey in Chromium on the seeded demo floor: sign in at ``/``, land on the role's
page, open every page the header links (and ``/reports`` without its slash), every report view
and chart, fetch every same-site link, at 1366x768 and 1400x1000, and sign out; any 4xx/5xx
response, console error or undrawn image fails it. Screenshots of every page at both sizes are
kept in ``$CALLCENTER_SHOTS`` (default ``/tmp/callcenter-shots``) as the run's artifacts."""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit

import pytest

from tests.support.browser import run_in_chromium
from tests.support.webpages import SHOTS, SIZES, seeded_floor, sign_in, site_url, watch

PASSWORD = "journeys on the floor"
STAFF = ["/supervisor", "/reports/", "/reports/erlang"]


@pytest.fixture
def floor(run, make_app, tmp_path):
    """The app on the seeded demo floor; (app, summary)."""
    app, summary = seeded_floor(run, make_app, tmp_path, PASSWORD)
    yield app, summary
    summary.stop_timers()


def shot_name(login: str, href: str) -> str:
    """A screenshot's file name stem for ``href`` seen by ``login``."""
    path = href.strip("/").replace("/?", "-").replace("/", "-").replace("#", "-").replace("=", "-").replace(",", "+")
    return f"journey-{login}-{path or 'root'}" + ("-slash" if href.endswith("/") else "")


async def look(page, url: str, name: str, problems: list[str]) -> dict[str, int]:
    """The page shown: screenshot it at both sizes, check that no card is cut sideways and every
    image drew, and fetch every same-site link and image; returns {target: status}."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width, height in SIZES:
        await page.set_viewport_size({"width": width, "height": height})
        await page.wait_for_timeout(250)
        await page.screenshot(path=str(SHOTS / f"{name}-{width}x{height}.png"))
        overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        if overflow > 0:
            problems.append(f"{name}: the page scrolls sideways by {overflow}px at {width}x{height}")
    broken = await page.evaluate("Array.from(document.images).filter(i => !i.complete || !i.naturalWidth).map(i => i.src)")
    problems.extend(f"{name}: image not drawn: {src}" for src in broken)
    targets = await page.evaluate(
        "Array.from(document.querySelectorAll('a[href], img[src], link[href], script[src]')).map(e => e.href || e.src)")
    statuses = {}
    for target in sorted(set(targets)):
        if target.startswith(url) and "/logout" not in target:
            statuses[target[len(url):]] = (await page.request.get(target)).status
    return statuses


async def report_views(page) -> list[str]:
    """The views the report form offers, as URLs: each interval, each grouping, one queue."""
    hrefs = []
    for name in ("interval", "by", "queue"):
        values = await page.locator(f"form.query select[name={name}] option").evaluate_all(
            "els => els.map(e => e.value)")
        values = [value for value in values if value]
        hrefs += [f"/reports/?{name}={value}" for value in (values[:1] if name == "queue" else values)]
    return hrefs


async def journey(context, url: str, login: str) -> dict:
    """Sign in at ``/``, open every page the header links, every report view, sign out."""
    page = await context.new_page()
    problems: list[str] = []
    watch(page, problems)
    await sign_in(page, url, login, PASSWORD, start="/")
    landed = urlsplit(page.url).path
    links = await page.locator("[data-testid=page-links] a").evaluate_all("els => els.map(e => e.getAttribute('href'))")
    visits = list(links) + (["/reports"] if "/reports/" in links else [])
    statuses: dict[str, int] = {}
    opened = []
    while visits:
        href = visits.pop(0)
        await page.goto(urljoin(url, href))
        await page.wait_for_load_state("networkidle")
        opened.append(href)
        shown = await page.locator("[data-testid=page-links] a").evaluate_all("els => els.map(e => e.getAttribute('href'))")
        if shown != links:
            problems.append(f"{href}: header links {shown} instead of {links}")
        statuses.update(await look(page, url, shot_name(login, href), problems))
        if href == "/reports/":
            visits += await report_views(page)
    await page.click("[data-testid=sign-out]")
    await page.wait_for_url("**/login")
    await page.goto(url + "/")
    return {"landed": landed, "links": links, "opened": opened, "after": urlsplit(page.url).path,
            "problems": problems, "bad": {t: s for t, s in statuses.items() if s >= 400},
            "charts": sorted(t.split("?")[0] for t in statuses if "/chart/" in t)}


def agent_with_email(summary) -> str:
    """The demo agent who is busy with an email."""
    return next(login for login, what in summary.users.items() if what == "busy with an email")


@pytest.mark.browser
@pytest.mark.parametrize("role, landing, links", [
    ("agent", "/desktop", ["/desktop"]),
    ("supervisor", "/supervisor", STAFF),
    ("admin", "/supervisor", STAFF + ["/supervisor#configuration", "/admin/mail"]),
])
def test_each_role_opens_every_page_and_chart_on_the_demo_floor(floor, tmp_path, role, landing, links):
    """From ``/`` each role signs in, lands on its page, opens every linked page, every report view
    and chart at both sizes with no 4xx/5xx, console error, undrawn image or sideways scroll,
    signs out from the header and is back at sign-in."""
    app, summary = floor
    login = agent_with_email(summary) if role == "agent" else role
    result = run_in_chromium(lambda context: journey(context, site_url(app), login), tmp_path, timeout=300)
    assert (result["landed"], result["links"], result["after"]) == (landing, links, "/login")
    assert result["problems"] == [] and result["bad"] == {}
    if role != "agent":
        assert result["charts"] and {"/reports/?by=channel", "/reports/?interval=hour"} <= set(result["opened"])
