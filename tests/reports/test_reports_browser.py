"""The report page of a real day in Chromium, signed in as a supervisor: from ``/reports`` and
``/reports/``, grouped by queue x channel, every chart drawn and every link answering, the CSV for
Excel with its byte-order mark; screenshots at 1366x768 and 1400x1000 in /tmp."""

from __future__ import annotations

from pathlib import Path

import pytest
from twisted.internet import reactor as global_reactor

from tests.reports.test_day_of_legs import START, Day, drive, with_standby
from tests.support.browser import run_in_chromium
from tests.support.steppedtime import SteppedTimeReactor
from tests.web.conftest import make_app  # noqa: F401 - the fixture

PASSWORD = "supervise all the things"
SHOTS = Path("/tmp")
SIZES = ((1366, 768), (1400, 1000))


def watch(page, problems: list[str]) -> None:
    """Collect every 4xx/5xx response, console error and uncaught page error of ``page``."""
    page.on("response", lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    page.on("console", lambda m: problems.append(f"console: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))


async def open_everything(page, url: str, name: str, problems: list[str]) -> dict[str, int]:
    """Screenshot the page shown at both sizes, note every image not drawn, fetch every same-site
    link and image; returns {target: status}."""
    for width, height in SIZES:
        await page.set_viewport_size({"width": width, "height": height})
        await page.screenshot(path=str(SHOTS / f"{name}-{width}x{height}.png"))
    images = page.locator("img")
    for i in range(await images.count()):
        drawn = await images.nth(i).evaluate("img => img.complete && img.naturalWidth > 0")
        if not drawn:
            problems.append(f"image not drawn: {await images.nth(i).get_attribute('src')}")
    targets = set()
    for selector, attribute in (("a[href]", "href"), ("img[src]", "src"), ("link[href]", "href")):
        for value in await page.locator(selector).evaluate_all(f"els => els.map(e => e.{attribute})"):
            targets.add(value)
    statuses = {}
    for target in sorted(targets):
        if target.startswith(url) and "/logout" not in target:
            statuses[target[len(url):]] = (await page.request.get(target)).status
    return statuses


@pytest.mark.browser
def test_a_supervisor_reads_a_days_report_in_a_browser(run, make_app, tmp_path):
    """Sign in, open the report from both URLs and by queue x channel: no 4xx/5xx, no console
    error, every chart drawn, the CSV links answer (the Excel one starting with a BOM)."""
    time = SteppedTimeReactor(global_reactor, START)
    app = make_app(reactor=time, adjust=with_standby)
    run(app.users.create("sam", "supervisor", "Sam", password=PASSWORD))
    drive(Day(run, app, time))
    host, port = app.http.address
    url = f"http://{host}:{port}"

    async def scenario(context):
        page = await context.new_page()
        problems: list[str] = []
        watch(page, problems)
        landed = await sign_in_at_root_with(page, url)
        statuses: dict[str, int] = {}
        for path, name in (("/reports", "reports-day"), ("/reports/", "reports-day-slash"),
                           ("/reports/?interval=day&by=queue,channel", "reports-queue-channel"),
                           ("/reports/?interval=hour&by=agent", "reports-agent")):
            await page.goto(url + path)
            await page.wait_for_load_state("networkidle")
            statuses.update(await open_everything(page, url, name, problems))
        await page.screenshot(path=str(SHOTS / "reports-agent-full.png"), full_page=True)
        await page.goto(url + "/reports/?interval=day&by=queue,channel")
        await page.screenshot(path=str(SHOTS / "reports-queue-channel-full.png"), full_page=True)
        excel = page.locator("[data-testid=csv-bom]")
        href = await excel.get_attribute("href")
        body = await (await page.request.get(url + href)).body()
        headers = await page.locator("table.report thead th").all_inner_texts()
        return landed, problems, {t: s for t, s in statuses.items() if s >= 400}, body[:3], headers

    landed, problems, bad, bom, headers = run_in_chromium(scenario, tmp_path, timeout=180)
    assert landed == "/supervisor"
    assert problems == [] and bad == {}
    assert bom == b"\xef\xbb\xbf"
    assert "Overflowed out" in headers and "Occupancy" not in headers  # occupancy is not split over queues


async def sign_in_at_root_with(page, url: str) -> str:
    """Sign in as the supervisor of this test (its own password)."""
    await page.goto(url + "/")
    await page.fill("#login", "sam")
    await page.fill("#password", PASSWORD)
    await page.click("[data-testid=login-submit]")
    await page.wait_for_load_state("networkidle")
    from urllib.parse import urlsplit

    return urlsplit(page.url).path


