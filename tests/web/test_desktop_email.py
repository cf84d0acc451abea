"""Email in the agent desktop, delivered over real SMTP to the running server: attachments and the
raw message as downloads for the agent who may see the interaction only, the thread newest first
with quoted history apart, the customer named from From:, replies written once with a visible
delivery state, unreadable mail with a banner, and the administrator's listing of mail that
reached no agent."""

from __future__ import annotations

import asyncio
import smtplib
from email.message import EmailMessage
from urllib.parse import quote

import pytest
from twisted.internet import reactor, threads

from tests.support.http import http_request

PASSWORD = "correct horse battery staple"
PDF = b"%PDF-1.4\n" + bytes(range(256)) * 8
PAGE = b"<html><script>alert(document.cookie)</script></html>"


@pytest.fixture
def app(run, make_app):
    """The app on SQLite (relay off, always-open queues), agents alice and bob, admin root."""
    application = make_app()
    run(application.users.sync_from_config([("alice", "Alice Martin"), ("bob", "Bob Chen")]))
    for login in ("alice", "bob"):
        run(application.users.set_password(login, PASSWORD))
    run(application.users.create("root", "admin", "Root", password=PASSWORD))
    return application


def base(app) -> str:
    """The site's base URL."""
    host, port = app.http.address
    return f"http://{host}:{port}"


def deliver(port: int, raw: bytes, sender: str = "mei@example.net", to: str = "billing@example.com") -> None:
    """Hand ``raw`` (CRLF lines) to the listener as an MTA would; raises unless it got 250."""
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.sendmail(sender, [to], raw)


def customer_mail() -> bytes:
    """Mei's message with a PDF whose name is Chinese and an HTML page, answering an older thread."""
    message = EmailMessage()
    message["From"] = "Mei Lin <mei@example.net>"
    message["To"] = "billing@example.com"
    message["Subject"] = "Refund for invoice 77"
    message["Message-ID"] = "<desk-att-1@example.net>"
    message.set_content("Please refund the second charge.\n\nOn Mon, 16 Nov 2026, Billing wrote:\n> Your invoice 77 is attached.\n> Regards\n")
    message.add_attachment(PDF, maintype="application", subtype="pdf", filename="发票 77 \"final\".pdf")
    message.add_attachment(PAGE, maintype="text", subtype="html", filename="page.html")
    return message.as_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


async def sign_in(app, login: str) -> dict[str, str]:
    """Cookie and CSRF headers of a browser session of ``login``."""
    response = await http_request(reactor, "POST", base(app) + "/login", json_body={"login": login, "password": PASSWORD})
    assert response.status == 200, response.body
    return {"cookie": response.headers["set-cookie"].split(";")[0], "x-csrf-token": response.json()["csrf_token"]}


async def offered_to_alice(app, raw: bytes, sender: str = "mei@example.net") -> int:
    """Deliver ``raw`` with alice available; the interaction id once she accepted it."""
    board = app.switchboard
    board.set_available("alice")
    await threads.deferToThread(deliver, app.smtp.port, raw, sender)
    for _ in range(500):
        await board.settled()
        if board.offers:
            break
        await asyncio.sleep(0.01)
    (iid,) = board.offers
    board.accept("alice", iid)
    await board.settled()
    return iid


def test_attachments_download_only_for_the_agent_holding_the_interaction(app, run):
    """Alice downloads the PDF byte for byte with an RFC 6266 name, nosniff and a sandbox; the HTML
    page comes as an opaque download; Bob, an unknown id and a stranger's session get nothing."""

    async def scenario():
        iid = await offered_to_alice(app, customer_mail())
        alice, bob = await sign_in(app, "alice"), await sign_in(app, "bob")
        pop = (await http_request(reactor, "GET", base(app) + f"/api/me/work/{iid}", headers=alice)).json()
        [inbound] = [m for m in pop["content"]["email"] if m["direction"] == "inbound"]
        files = {a["filename"]: a for a in inbound["attachments"]}
        pdf, page = files["发票 77 \"final\".pdf"], files["page.html"]
        got = await http_request(reactor, "GET", base(app) + pdf["url"], headers=alice)
        html = await http_request(reactor, "GET", base(app) + page["url"], headers=alice)
        theirs = await http_request(reactor, "GET", base(app) + pdf["url"], headers=bob)
        missing = await http_request(reactor, "GET", base(app) + f"/api/me/work/{iid}/attachments/999999",
                                     headers=alice)
        anonymous = await http_request(reactor, "GET", base(app) + pdf["url"])
        return got, html, theirs, missing, anonymous

    got, html, theirs, missing, anonymous = run(scenario(), timeout=30)
    assert got.status == 200 and got.body == PDF
    assert got.headers["content-type"] == "application/pdf"
    assert got.headers["x-content-type-options"] == "nosniff"
    assert got.headers["content-disposition"] == (
        "attachment; filename=\"__ 77 _final_.pdf\"; filename*=UTF-8''" + quote("发票 77 \"final\".pdf", safe=""))
    assert "sandbox" in got.headers["content-security-policy"]
    assert html.status == 200 and html.body == PAGE and html.headers["content-type"] == "application/octet-stream"
    assert html.headers["content-disposition"].startswith("attachment;")
    assert theirs.status == 403 and missing.status == 404 and anonymous.status in (401, 403)


def test_screen_pop_names_the_customer_and_shows_the_thread_newest_first(app, run):
    """The customer is named from From:, the thread is newest first (our acknowledgement above her
    message), and the quoted history is kept apart from what she wrote."""

    async def scenario():
        iid = await offered_to_alice(app, customer_mail())
        alice = await sign_in(app, "alice")
        return (await http_request(reactor, "GET", base(app) + f"/api/me/work/{iid}", headers=alice)).json()

    pop = run(scenario(), timeout=30)
    assert pop["customer"]["display_name"] == "Mei Lin"
    thread = pop["content"]["email"]
    assert [m["direction"] for m in thread] == ["outbound", "inbound"]
    assert [m["id"] for m in thread] == sorted((m["id"] for m in thread), reverse=True)
    mine = thread[1]
    assert mine["text"].strip() == "Please refund the second charge."
    assert "Your invoice 77 is attached." in mine["quoted"] and mine["name"] == "Mei Lin"
    assert thread[0]["delivery"]["state"] == "queued" and "relay is off" in thread[0]["delivery"]["detail"]


def test_a_reply_is_written_once_and_shows_its_delivery_state(app, run):
    """The draft carries the template's greeting and signature; what the agent sends is exactly
    what she wrote, queued (the relay is off, and /health says so)."""

    async def scenario():
        iid = await offered_to_alice(app, customer_mail())
        alice = await sign_in(app, "alice")
        draft = (await http_request(reactor, "GET", base(app) + f"/api/me/work/{iid}/reply-draft",
                                    headers=alice)).json()
        text = draft["body"].replace("\n\n\n", "\n\nThe refund is on its way.\n\n")
        sent = await http_request(reactor, "POST", base(app) + f"/api/me/work/{iid}/reply", headers=alice,
                                  json_body={"body": text})
        health = (await http_request(reactor, "GET", base(app) + "/health")).json()
        items = await app.mail.outbox(iid)
        return draft, text, sent, health, items

    draft, text, sent, health, items = run(scenario(), timeout=30)
    assert draft["body"].startswith("Hello Mei Lin,") and "Alice Martin" in draft["body"]
    assert sent.status == 200 and sent.json()["delivery"]["state"] == "queued"
    reply = [i for i in items if i.kind == "reply"][0]
    body = reply.raw.split(b"\r\n\r\n", 1)[1].decode().replace("\r\n", "\n")
    assert body.rstrip("\n") == text.rstrip("\n") and body.count("Hello Mei Lin") == 1
    assert health["channels"]["smtp_relay"]["state"] == "disabled"


def test_unreadable_mail_reaches_an_agent_with_a_banner_and_its_original(app, run):
    """A message without a header section is an interaction for an agent; its raw bytes download
    exactly as the MTA sent them."""
    raw = b"this is not a message at all\r\njust some text\r\n"

    async def scenario():
        iid = await offered_to_alice(app, raw, sender="")
        alice = await sign_in(app, "alice")
        pop = (await http_request(reactor, "GET", base(app) + f"/api/me/work/{iid}", headers=alice)).json()
        [mail] = pop["content"]["email"]
        original = await http_request(reactor, "GET", base(app) + mail["raw_url"], headers=alice)
        return pop, mail, original

    pop, mail, original = run(scenario(), timeout=30)
    assert mail["flagged"] and mail["reason"] and pop["interaction"]["payload"]["unreadable"] is True
    assert original.status == 200 and original.headers["content-type"] == "message/rfc822"
    assert original.body.endswith(raw) and original.headers["content-disposition"].startswith("attachment;")


def test_mail_that_reaches_no_agent_is_listed_for_administrators_only(app, run):
    """An auto-reply answering nothing of ours and a forged bounce are listed with their reasons on
    the administrator's page and API; agents are refused; no interaction and no answer."""
    auto = (b"From: Bot <bot@example.org>\r\nTo: support@example.com\r\nSubject: Out of office\r\n"
            b"Message-ID: <ooo-1@example.org>\r\nAuto-Submitted: auto-replied\r\n\r\nI am away.\r\n")
    forged = (b"From: Mail Delivery System <MAILER-DAEMON@mx.example.org>\r\nTo: support@example.com\r\n"
              b"Subject: Undelivered Mail Returned to Sender\r\nMessage-ID: <dsn-1@mx.example.org>\r\n"
              b"MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=B\r\n\r\n"
              b"--B\r\nContent-Type: text/plain\r\n\r\nDelivery failed.\r\n"
              b"--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.org\r\n\r\n"
              b"Final-Recipient: rfc822; mei@example.net\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n"
              b"--B\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: <never-sent@example.com>\r\n"
              b"--B--\r\n")

    async def scenario():
        await threads.deferToThread(deliver, app.smtp.port, auto, "bot@example.org", "support@example.com")
        await threads.deferToThread(deliver, app.smtp.port, forged, "", "support@example.com")
        root, alice = await sign_in(app, "root"), await sign_in(app, "alice")
        listed = await http_request(reactor, "GET", base(app) + "/api/admin/mail/listed", headers=root)
        page = await http_request(reactor, "GET", base(app) + "/admin/mail", headers=root)
        refused = await http_request(reactor, "GET", base(app) + "/api/admin/mail/listed", headers=alice)
        raw = await http_request(reactor, "GET", base(app) + listed.json()["items"][1]["raw_url"], headers=root)
        bouncing = await app.mail.bouncing("mei@example.net")
        return listed.json(), page, refused, raw, bouncing

    listed, page, refused, raw, bouncing = run(scenario(), timeout=30)
    reasons = [i["reason"] for i in listed["items"]]
    assert reasons[0] == "a delivery report for a message we did not send"
    assert reasons[1].startswith("automatic mail: ") and listed["items"][1]["subject"] == "Out of office"
    assert page.status == 200 and b"Out of office" in page.body and b"we did not send" in page.body
    assert refused.status == 403 and raw.body.endswith(auto) and bouncing is None
    assert app.switchboard.offers == {} and run(app.mail.outbox()) == []
