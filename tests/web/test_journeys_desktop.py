"""The agent desktop in Chromium at 1366x768: every kind of contact inside its card, notes in the
interaction's history (also after a reload), click-to-dial taking the web form's phone formats,
and signing out of a page whose session has already ended."""

from __future__ import annotations

import re
from email.message import EmailMessage

import pytest
from twisted.internet import reactor

from callcenter.intake.contact import Contact
from channels.email.sink import MailEnvelope
from channels.webform.submission import FormSubmission
from tests.support.browser import run_in_chromium
from tests.support.http import http_request
from tests.support.webpages import SHOTS, sign_in, site_url, watch

PASSWORD = "desktop journeys"
LONG_NAME = "Wolfeschlegelsteinhausenbergerdorff" * 3
LONG_URL = "https://example.com/" + "x" * 250


@pytest.fixture
def app(run, make_app):
    """The app on the shipped config; alice and bob (agents) can sign in."""
    application = make_app()
    for login in ("alice", "bob"):
        run(application.users.set_password(login, PASSWORD))
    return application


async def offered(app, iid: int) -> str:
    """The agent ``iid`` is offered to, once it is."""
    for _ in range(100):
        await app.switchboard.settled()
        offer = app.switchboard.offers.get(iid)
        if offer is not None:
            return offer["agent"]
        from twisted.internet.task import deferLater
        await deferLater(reactor, 0.05, lambda: None)
    raise AssertionError(f"interaction {iid} was never offered")


async def give_alice_an_email_and_a_form(app) -> tuple[int, int]:
    """alice (the only agent available) accepts a long email and a long web form; their ids."""
    app.switchboard.login("alice")
    app.switchboard.set_available("alice")
    message = EmailMessage()
    message["From"] = f"{LONG_NAME} <{'a' * 60}@very-long-subdomain-of-a-customer.example.net>"
    message["To"] = "support@example.com"
    message["Subject"] = "Router " + "unbrokensubjectline" * 8
    message["Message-ID"] = "<long-1@customer.example.net>"
    message.set_content("Hello,\n\n" + LONG_URL + "\n\n" + "A very long paragraph. " * 40 + "\n")
    mail = await app.mailflow.accept_mail(bytes(message), MailEnvelope(
        mailbox="support", source="smtp", received_at=app.clock.now(), mail_from="a@example.net",
        recipients=("support@example.com",)))
    address = "b" * 50 + "@another-very-long-subdomain.example.org"
    form = await app.forms.submit_form(FormSubmission(
        form="contact", fields={"name": LONG_NAME, "email": address, "topic": "billing", "consent": "true",
                                "message": LONG_URL + "\nSecond line."},
        email=address, phone=None, name=LONG_NAME, attributes={"topic": "billing"}, attachments=(),
        client_ip="127.0.0.1", language="en"))
    for iid in (mail.interaction_id, form.interaction_id):
        assert await offered(app, iid) == "alice"
        app.switchboard.accept("alice", iid)
    await app.switchboard.settled()
    return mail.interaction_id, form.interaction_id


async def give_bob_a_call(app) -> int:
    """bob (alice has no room for a call) answers a call from a caller with a long name; its id."""
    app.switchboard.login("bob")
    app.switchboard.set_available("bob")
    admission = await app.intake.admit(Contact(
        channel="voice", contact_kind="phone", contact="+12125550199", contact_name=LONG_NAME,
        to="+18005550100", digits="3", payload={"call": {"uniqueid": "1.1", "channel": "PJSIP/trunk-1",
                                                         "caller_number": "+12125550199", "caller_name": LONG_NAME,
                                                         "ivr_digits": "3"}}))
    iid = admission.interaction_id
    assert await offered(app, iid) == "bob"
    app.switchboard.connected(iid, "bob")
    await app.switchboard.settled()
    return iid


STICKING_OUT = """card => { const edge = card.getBoundingClientRect().right;
    return Array.from(card.querySelectorAll('*')).filter(e => e.getBoundingClientRect().right > edge + 1)
                .map(e => e.tagName + '.' + e.className); }"""


@pytest.mark.browser
def test_every_kind_of_contact_stays_inside_its_card(run, app, tmp_path):
    """An email, a web form and a call, each with long unbroken values, are shown in work cards
    at 1366x768 with nothing sticking out on the right and no sideways scroll of the page."""
    mail_id, form_id = run(give_alice_an_email_and_a_form(app))
    call_id = run(give_bob_a_call(app))
    SHOTS.mkdir(parents=True, exist_ok=True)

    async def scenario(context):
        page = await context.new_page()
        problems: list[str] = []
        watch(page, problems)
        await page.set_viewport_size({"width": 1366, "height": 768})
        found = {}
        for login, cards in (("alice", {"email": mail_id, "webform": form_id}), ("bob", {"call": call_id})):
            await sign_in(page, site_url(app), login, PASSWORD)
            for kind, iid in cards.items():
                card = page.locator(f"[data-testid=work-{iid}]")
                await card.wait_for()
                await card.scroll_into_view_if_needed()
                await page.screenshot(path=str(SHOTS / f"desktop-{kind}-1366x768.png"))
                found[kind] = await card.evaluate(STICKING_OUT)
            found[f"page-{login}"] = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            await page.click("[data-testid=sign-out]")
            await page.wait_for_url("**/login")
        return found, problems

    found, problems = run_in_chromium(scenario, tmp_path)
    assert found == {"email": [], "webform": [], "call": [], "page-alice": 0, "page-bob": 0}
    assert problems == []


@pytest.mark.browser
def test_notes_appear_in_the_history_and_stay_after_a_reload(run, app, tmp_path):
    """A note added on the desktop shows in the interaction's notes at once, with its author, and
    again after the page is reloaded; an empty note sends nothing."""
    mail_id, _ = run(give_alice_an_email_and_a_form(app))

    async def scenario(context):
        page = await context.new_page()
        problems: list[str] = []
        watch(page, problems)
        await page.set_viewport_size({"width": 1366, "height": 768})
        await sign_in(page, site_url(app), "alice", PASSWORD)
        notes = page.locator(f"[data-testid=notes-{mail_id}]")
        await page.click(f"[data-testid=note-{mail_id}]")  # empty: nothing sent
        await page.fill(f"[data-testid=note-text-{mail_id}]", "Customer asked for a call back\nafter 5 pm")
        await page.click(f"[data-testid=note-{mail_id}]")
        await notes.locator("li").first.wait_for()
        before = await notes.locator("li").all_inner_texts()
        box = await page.input_value(f"[data-testid=note-text-{mail_id}]")
        await page.reload()
        await notes.locator("li").first.wait_for()
        after = await notes.locator("li").all_inner_texts()
        await page.screenshot(path=str(SHOTS / "desktop-notes-1366x768.png"))
        return before, box, after, problems

    before, box, after, problems = run_in_chromium(scenario, tmp_path)
    assert len(before) == 1 and "alice: Customer asked for a call back\nafter 5 pm" in before[0]
    assert box == "" and after == before and problems == []
    events = run(app.store.interaction_events(mail_id))
    assert [e.details["text"] for e in events if e.kind == "note"] == ["Customer asked for a call back\nafter 5 pm"]


@pytest.mark.browser
@pytest.mark.parametrize("typed", ["(212) 555-0100", "+1 212 555 0100", "212.555.0100"])
def test_the_dial_field_takes_the_web_forms_phone_formats(app, tmp_path, typed):
    """A number typed as the web form takes it is accepted by click-to-dial (with no PBX link the
    agent reads that the PBX is down, not that the number is wrong); words are refused by name."""

    async def scenario(context):
        page = await context.new_page()
        await sign_in(page, site_url(app), "alice", PASSWORD)
        shown = {}
        for number in (typed, "call me"):
            await page.fill("[data-testid=dial-number]", number)
            async with page.expect_response("**/api/dial") as response:
                await page.click("[data-testid=dial]")
            status = (await response.value).status
            error = page.locator("#error")
            await error.wait_for()
            shown[number] = (status, await error.inner_text())
        return shown

    shown = run_in_chromium(scenario, tmp_path)
    status, message = shown[typed]
    assert status == 503 and "PBX" in message
    status, message = shown["call me"]
    assert status == 422 and message.startswith("number ")


def sign_in_by_form(run, app, login: str) -> tuple[str, str]:
    """Sign in with the HTML form; the session cookie and the CSRF token of the desktop page."""
    form = run(http_request(reactor, "GET", site_url(app) + "/login"))
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.body.decode()).group(1)
    r = run(http_request(reactor, "POST", site_url(app) + "/login", headers={
        "cookie": form.headers["set-cookie"].split(";")[0], "content-type": "application/x-www-form-urlencoded"},
        body=f"login={login}&password={PASSWORD.replace(' ', '+')}&csrf_token={token}".encode()))
    cookie = r.headers["set-cookie"].split(";")[0]
    page = run(http_request(reactor, "GET", site_url(app) + "/desktop", headers={"cookie": cookie}))
    csrf = re.search(r'<meta name="csrf-token" content="([^"]+)"', page.body.decode()).group(1)
    return cookie, csrf


def post_logout(run, app, cookie: str, csrf: str):
    """The sign-out form's POST as a browser sends it."""
    return run(http_request(reactor, "POST", site_url(app) + "/logout", headers={
        "cookie": cookie, "content-type": "application/x-www-form-urlencoded", "accept": "text/html"},
        body=f"csrf_token={csrf}".encode()))


def test_signing_out_of_an_ended_session_leads_to_sign_in(run, app):
    """The sign-out form of a page whose session has ended (here: the password was changed) answers
    303 to /login and clears the cookie instead of a 401 error; a live session with a wrong CSRF
    token is still refused (403) and stays signed in."""
    cookie, csrf = sign_in_by_form(run, app, "alice")
    refused = post_logout(run, app, cookie, "not-the-token")
    assert refused.status == 403
    assert run(http_request(reactor, "GET", site_url(app) + "/api/me", headers={"cookie": cookie})).status == 200
    run(app.users.set_password("alice", PASSWORD + " again"))
    r = post_logout(run, app, cookie, csrf)
    assert (r.status, r.headers.get("location")) == (303, "/login")
    assert "Max-Age=0" in r.headers["set-cookie"]
    json_client = run(http_request(reactor, "POST", site_url(app) + "/logout", headers={
        "cookie": cookie, "content-type": "application/json", "x-csrf-token": csrf}, body=b"{}"))
    assert json_client.status == 401
