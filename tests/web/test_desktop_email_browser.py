"""The email thread in a real browser: mail delivered over SMTP pops newest first with its quoted
history folded, and the agent downloads its attachment under its own name."""

from __future__ import annotations

import asyncio

import pytest

from tests.support.browser import run_in_chromium
from tests.web.test_desktop_browser import PASSWORD, base, log_in
from tests.support.webpages import SHOTS
from tests.web.test_desktop_email import PDF, customer_mail, deliver



@pytest.fixture
def app(run, make_app):
    """The app on SQLite with always-open queues and alice, an agent with a password."""
    application = make_app()
    run(application.users.sync_from_config([("alice", "Alice Martin")]))
    run(application.users.set_password("alice", PASSWORD))
    return application


@pytest.mark.browser
def test_the_thread_is_newest_first_folded_and_the_attachment_downloads(app, run, tmp_path):
    """Alice accepts Mei's email: our acknowledgement sits above Mei's message, the quoted history is
    folded until clicked, and the PDF downloads byte for byte under its Chinese name."""
    url = base(app)
    SHOTS.mkdir(parents=True, exist_ok=True)

    async def scenario(context):
        from playwright.async_api import expect

        page = await context.new_page()
        await page.set_viewport_size({"width": 1366, "height": 900})
        await log_in(page, url, "alice")
        await page.click("[data-testid=go-available]")
        await expect(page.locator("[data-testid=state]")).to_contain_text("Available")
        await asyncio.get_running_loop().run_in_executor(None, deliver, app.smtp.port, customer_mail())
        offer = page.locator("[data-testid^=offer-]").first
        await offer.wait_for(timeout=15000)
        iid = (await offer.get_attribute("data-testid")).split("-")[1]
        await page.click(f"[data-testid=accept-{iid}]")
        work = page.locator(f"[data-testid=work-{iid}]")
        await work.wait_for()
        mails = work.locator(".email-thread .mail")
        await expect(mails).to_have_count(2)
        order = [await mails.nth(i).get_attribute("class") for i in range(2)]
        quoted = work.locator("details.quoted")
        folded = await quoted.locator("pre").is_visible()
        await quoted.locator("summary").click()
        await expect(quoted.locator("pre")).to_be_visible()
        await page.screenshot(path=str(SHOTS / "desktop-email-thread.png"), full_page=True)
        link = work.locator("[data-testid^=attachment-]").first
        async with page.expect_download() as info:
            await link.click()
        download = await info.value
        saved = tmp_path / "downloaded.pdf"
        await download.save_as(str(saved))
        return order, folded, download.suggested_filename, saved.read_bytes()

    order, folded, name, content = run_in_chromium(scenario, tmp_path, timeout=120)
    assert "outbound" in order[0] and "inbound" in order[1]
    assert folded is False
    assert "77" in name and name.endswith(".pdf")  # Chromium may replace the quotes it refuses in names
    assert content == PDF
