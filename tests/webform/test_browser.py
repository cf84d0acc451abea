"""The hosted form in a real browser: Chromium fills it in, submits it, sees the reference."""

from __future__ import annotations

import hashlib

import pytest

from tests.support.browser import run_in_chromium
from tests.webform.test_http_submit import PDF


@pytest.mark.browser
def test_customer_fills_in_and_submits_the_contact_form(server, tmp_path):
    """Chromium submits the contact form with an attachment and lands on the thank-you page
    showing the reference of the interaction that was stored."""
    upload = tmp_path / "invoice.pdf"
    upload.write_bytes(PDF)

    async def scenario(context):
        page = await context.new_page()
        await page.goto(server.base + "/forms/contact?lang=en")
        await page.get_by_label("Your name").fill("Grace Hopper")
        await page.get_by_label("Email").fill("grace@example.com")
        await page.get_by_label("Phone").fill("+1 212 555 0199")
        await page.get_by_label("Topic").select_option("support")
        await page.get_by_label("Message").fill("The printer\nis on fire.")
        await page.get_by_label("Attachment").set_input_files(str(upload))
        await page.get_by_label("You may contact me").check()
        server.clock.advance(10)  # the person took ten seconds to fill it in
        await page.get_by_role("button", name="Send").click()
        await page.wait_for_url("**/forms/contact/thanks?**")
        return await page.locator("#reference").inner_text(), await page.title()

    reference, title = run_in_chromium(scenario, tmp_path)
    assert title == "Thank you"
    [stored] = server.interactions()
    assert stored.payload["reference"] == reference
    assert stored.payload["fields"]["message"] == "The printer\nis on fire."
    assert stored.payload["fields"]["phone"] == "+12125550199"
    assert stored.payload["attachments"][0]["sha256"] == hashlib.sha256(PDF).hexdigest()
    assert server.confirmations[0][0] == "grace@example.com"
