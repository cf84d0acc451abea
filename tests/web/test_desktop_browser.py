"""The agent desktop in a real browser: log in, go available, get an email offer with its screen
pop, accept, finish and wrap up; the record shows the whole life. Plus the desktop's access rules."""

from __future__ import annotations

import asyncio
import smtplib
from email.message import EmailMessage

import pytest
from twisted.internet import reactor, threads

from tests.support.browser import run_in_chromium
from tests.support.http import http_request

PASSWORD = "correct horse battery staple"


@pytest.fixture
def app(run, make_app):
    """The app on SQLite with always-open queues and two agent users with passwords."""
    application = make_app()
    run(application.users.sync_from_config([("alice", "Alice Martin"), ("bob", "Bob Chen")]))
    run(application.users.set_password("alice", PASSWORD))
    run(application.users.set_password("bob", PASSWORD))
    return application


def base(app) -> str:
    """The site's base URL."""
    host, port = app.http.address
    return f"http://{host}:{port}"


def mail(port: int, subject: str) -> None:
    """A customer writes to billing@ (blocking; run in a thread)."""
    message = EmailMessage()
    message["From"] = "Mei Lin <mei@example.net>"
    message["To"] = "billing@example.com"
    message["Subject"] = subject
    message["Message-ID"] = "<desk-1@example.net>"
    message.set_content("Please refund the second charge.")
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.send_message(message)


async def log_in(page, url: str, login: str) -> None:
    """Sign in through the login page."""
    await page.goto(url + "/login?next=/desktop")
    await page.fill("#login", login)
    await page.fill("#password", PASSWORD)
    await page.click("[data-testid=login-submit]")
    await page.wait_for_url("**/desktop")


@pytest.mark.browser
def test_agent_gets_the_offer_with_screen_pop_accepts_and_wraps_up(app, run, tmp_path):
    """Alice goes available; an email arrives; the offer pops with the customer and the message; she
    accepts, finishes, picks a disposition; the interaction is completed with it on the record."""
    url = base(app)

    async def scenario(context):
        page = await context.new_page()
        await log_in(page, url, "alice")
        await page.click("[data-testid=go-available]")
        from playwright.async_api import expect

        await expect(page.locator("[data-testid=state]")).to_contain_text("Available")
        await asyncio.wrap_future(asyncio.get_running_loop().run_in_executor(
            None, mail, app.smtp.port, "Refund for invoice 77"))
        offer = page.locator("[data-testid^=offer-]")
        await offer.first.wait_for(timeout=15000)
        pop = await offer.first.inner_text()
        iid = (await offer.first.get_attribute("data-testid")).split("-")[1]
        await page.click(f"[data-testid=accept-{iid}]")
        await page.locator(f"[data-testid=complete-{iid}]").wait_for()
        await page.click(f"[data-testid=complete-{iid}]")
        await page.locator(f"[data-testid=disposition-{iid}]").select_option("resolved")
        await page.click(f"[data-testid=wrap-up-{iid}]")
        await page.locator("#no-work").wait_for(state="visible")
        return int(iid), pop

    iid, pop = run_in_chromium(scenario, tmp_path, timeout=90)
    assert "Refund for invoice 77" in pop and "mei@example.net" in pop
    assert "Please refund the second charge." in pop      # the email itself, in the screen pop
    run(app.switchboard.settled())
    interaction = run(app.store.get_interaction(iid))
    assert (interaction.state, interaction.agent, interaction.disposition) == ("completed", "alice", "resolved")
    assert interaction.accepted_at and interaction.ended_at and interaction.wrap_up_ended_at
    customer = run(app.store.find_customer_by_email("mei@example.net"))
    assert [i.id for i in run(app.store.timeline(customer.id)).items] == [iid]


def test_an_agent_cannot_act_on_another_agents_offer(app, run):
    """Bob's session cannot accept Alice's offer (403), and without CSRF nothing is accepted either."""
    board = app.switchboard
    board.set_available("alice")

    async def scenario():
        await threads.deferToThread(mail, app.smtp.port, "Where is my refund")
        for _ in range(300):
            await app.switchboard.settled()
            if board.offers:
                break
            await asyncio.sleep(0.01)
        (iid,) = board.offers
        login = await http_request(reactor, "POST", base(app) + "/login",
                                   json_body={"login": "bob", "password": PASSWORD})
        cookie = login.headers["set-cookie"].split(";")[0]
        csrf = login.json()["csrf_token"]
        stolen = await http_request(reactor, "POST", base(app) + f"/api/me/offers/{iid}/accept",
                                    headers={"cookie": cookie, "x-csrf-token": csrf})
        no_csrf = await http_request(reactor, "POST", base(app) + f"/api/me/offers/{iid}/accept",
                                     headers={"cookie": cookie})
        return iid, stolen, no_csrf

    iid, stolen, no_csrf = run(scenario())
    assert stolen.status == 403 and stolen.json()["error"]["code"] == "not_yours"
    assert no_csrf.status == 403
    assert board.offers[iid]["agent"] == "alice"


def test_agent_answers_the_email_from_the_desktop_api(app, run):
    """After accepting, the agent's reply is queued in the outbox, threaded to the customer's
    message; an agent who does not hold the interaction cannot reply."""
    board = app.switchboard
    board.set_available("alice")

    async def scenario():
        await threads.deferToThread(mail, app.smtp.port, "Question about my bill")
        for _ in range(300):
            await board.settled()
            if board.offers:
                break
            await asyncio.sleep(0.01)
        (iid,) = board.offers
        headers = {}
        for login in ("alice", "bob"):
            r = await http_request(reactor, "POST", base(app) + "/login", json_body={"login": login, "password": PASSWORD})
            headers[login] = {"cookie": r.headers["set-cookie"].split(";")[0], "x-csrf-token": r.json()["csrf_token"]}
        accepted = await http_request(reactor, "POST", base(app) + f"/api/me/offers/{iid}/accept", headers=headers["alice"])
        reply = await http_request(reactor, "POST", base(app) + f"/api/me/work/{iid}/reply", headers=headers["alice"],
                                   json_body={"body": "We have refunded the second charge."})
        foreign = await http_request(reactor, "POST", base(app) + f"/api/me/work/{iid}/reply", headers=headers["bob"],
                                     json_body={"body": "Hi"})
        return iid, accepted, reply, foreign

    iid, accepted, reply, foreign = run(scenario())
    assert accepted.status == 200 and reply.status == 200, reply.body
    assert foreign.status == 403
    sent = [m for m in run(app.mail.messages(iid)) if m.direction == "outbound"]
    assert any("We have refunded the second charge." in m.body_text for m in sent)
    assert any(m.details.get("in_reply_to") == "desk-1@example.net" for m in sent)
