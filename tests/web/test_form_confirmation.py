"""A web form's confirmation in the whole server: queued in the outbox by the submission's own
write, and held back past the address's automatic-reply cap."""

from __future__ import annotations

import dataclasses
import email

from sqlalchemy import text
from twisted.internet import reactor

from tests.support.http import http_request

CONTACT = {"name": "Ada Lovelace", "email": "ada@example.com", "topic": "support",
           "message": "The app crashes on start.", "consent": True}


def _open_forms(settings):
    """Forms without rate limits or minimum fill time, and a cap of two automatic replies."""
    forms = {n: dataclasses.replace(f, min_fill_time=0.0, per_ip_rate=None, global_rate=None)
             for n, f in settings.webform.forms.items()}
    return dataclasses.replace(settings, webform=dataclasses.replace(settings.webform, forms=forms),
                               email=dataclasses.replace(settings.email, auto_reply_cap=2))


def test_confirmation_is_in_the_outbox_with_the_submission_and_capped(make_app, run):
    """Each submission's confirmation is queued with it (automatic, tagged with its interaction);
    the third to one address within the cap's window is held back and logged, the submission kept."""
    app = make_app(adjust=_open_forms)
    host, port = app.http.address
    base = f"http://{host}:{port}/forms/contact"

    async def submit() -> str:
        token = (await http_request(reactor, "GET", base + "/token")).json()["token"]
        reply = await http_request(reactor, "POST", base, json_body={**CONTACT, "_token": token},
                                   headers={"accept": "application/json"})
        assert reply.status == 201, reply.body
        return reply.json()["reference"]

    references = [run(submit()) for _ in range(3)]
    rows = run(app.database.read(lambda conn: conn.execute(text(
        "SELECT id, payload FROM interactions WHERE channel = 'webform' ORDER BY id")).all()))
    assert len(rows) == 3
    ids = [row.id for row in rows]
    for iid, reference in zip(ids[:2], references):
        [item] = run(app.mail.outbox(iid))
        sent = email.message_from_bytes(item.raw)
        assert (item.kind, item.state, item.recipients) == ("form_confirmation", "pending", ("ada@example.com",))
        assert sent["Auto-Submitted"] == "auto-replied" and f"[#CC-{iid}]" in sent["Subject"]
        assert reference in sent.get_payload(decode=True).decode("utf-8")
    assert run(app.mail.outbox(ids[2])) == []
    capped = [e for e in run(app.store.interaction_events(ids[2])) if e.kind == "mail_auto_reply_capped"]
    assert [e.details["recipients"] for e in capped] == [["ada@example.com"]]
