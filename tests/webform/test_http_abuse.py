"""Abuse protection over loopback HTTP: honeypot, signed timestamp token, rate limits, body
cap, CORS, and a failing store (503 with nothing half stored)."""

from __future__ import annotations

import hashlib
import re
from urllib.parse import urlencode

from sqlalchemy import func, select, text

from callcenter.records.schema import interactions
from callcenter.settings.model import FormRate
from channels.webform.tokens import FormSigner
from tests.conftest import run_on_reactor
from tests.webform.conftest import SECRET, VALID_CONTACT, shipped_forms
from tests.webform.test_http_submit import PDF, multipart

OPEN = {"per_ip_rate": None, "global_rate": None}


def test_filled_honeypot_looks_accepted_but_stores_nothing(server):
    """A bot filling the hidden field gets the usual redirect, and nothing is stored, routed or mailed."""
    r = server.post_form("contact", {**VALID_CONTACT, "homepage": "http://spam.example"})
    assert r.status == 303 and "/forms/contact/thanks?ref=" in r.headers["location"]
    thanks = server.request("GET", r.headers["location"]).body.decode()
    assert re.search(r'<strong id="reference">[A-Z2-9]{8}</strong>', thanks)
    assert server.interactions() == [] and server.routed == [] and server.confirmations == []


def test_missing_forged_and_foreign_tokens_are_refused(server):
    """No token, a forged one, or a token of another form: 422 and nothing stored."""
    forged = FormSigner(b"another-secret-entirely-0123456").issue("contact", server.clock.seconds() - 10)
    foreign = FormSigner(SECRET).issue("quote", server.clock.seconds() - 10)
    for token, code in (("", "token_missing"), (forged, "token_invalid"), (foreign, "token_invalid"),
                        ("v1.notanumber.abc", "token_invalid"), ("v1.123.\u00e9", "token_invalid")):
        r = server.request("POST", "/forms/contact", json_body={**VALID_CONTACT, "consent": True, "_token": token})
        assert r.status == 422, token
        assert [e["code"] for e in r.json()["errors"]] == [code]
    assert server.interactions() == []


def test_submitting_faster_than_the_minimum_fill_time_is_refused(server):
    """A form sent 1 s after it was shown (minimum 3 s) is refused and shown again with a new token."""
    token = server.token(age=1.0)
    r = server.post_form("contact", VALID_CONTACT, token=token)
    assert r.status == 422
    page = r.body.decode()
    assert "That was very quick." in page and f'value="{token}"' not in page
    server.clock.advance(5)
    fresh = page.split('name="_token" value="')[1].split('"')[0]
    assert server.post_form("contact", VALID_CONTACT, token=fresh).status == 303


def test_token_older_than_max_age_is_refused(server):
    """A form shown more than max_age (2 h) ago is refused as expired; just under is accepted."""
    r = server.post_form("contact", VALID_CONTACT, token=server.token(age=7201))
    assert r.status == 422 and "The form has expired." in r.body.decode()
    assert server.post_form("contact", VALID_CONTACT, token=server.token(age=7199)).status == 303


def test_token_from_the_future_is_refused(server):
    """A token issued later than now (beyond clock slack) is invalid."""
    future = FormSigner(SECRET).issue("contact", server.clock.seconds() + 60)
    r = server.post_json("contact", {**VALID_CONTACT, "consent": True, "_token": future}, with_token=False)
    assert r.json()["errors"][0]["code"] == "token_invalid"


def test_per_ip_limit_then_refill(make_server):
    """Five posts pass, the sixth is 429 with Retry-After; a minute later one more passes."""
    server = make_server(shipped_forms(contact={"global_rate": None}))
    tokens = [server.token(age=0) for _ in range(7)]
    server.clock.advance(5)
    for n in range(5):
        assert server.post_form("contact", VALID_CONTACT, token=tokens[n]).status == 303, n
    refused = server.post_form("contact", VALID_CONTACT, token=tokens[5])
    assert refused.status == 429 and refused.headers["retry-after"] == "60"
    assert "Too many submissions." in refused.body.decode()
    server.clock.advance(60)
    assert server.post_form("contact", VALID_CONTACT, token=tokens[6]).status == 303
    assert len(server.interactions()) == 6


def test_global_limit_applies_across_addresses(make_server):
    """The global bucket refuses once spent even when the per-IP one is off; JSON gets a JSON 429."""
    server = make_server(shipped_forms(contact={"per_ip_rate": None, "global_rate": FormRate(2, 0.01)}))
    doc = {**VALID_CONTACT, "consent": True}
    assert [server.post_json("contact", doc).status for _ in range(2)] == [201, 201]
    r = server.post_json("contact", doc)
    assert r.status == 429 and r.json()["error"]["code"] == "rate_limited"
    assert r.headers["retry-after"] == "90"  # 0.9 token missing at 0.01 per second


def test_limits_are_per_form(make_server):
    """Spending one form's bucket leaves another form's alone."""
    server = make_server(shipped_forms(contact={"per_ip_rate": FormRate(1, 0.001), "global_rate": None}))
    doc = {**VALID_CONTACT, "consent": True}
    assert [server.post_json("contact", doc).status for _ in range(2)] == [201, 429]
    quote = {"name": "Bo", "email": "bo@example.com", "message": "Quote please"}
    assert server.post_json("quote", quote).status == 201


def test_body_over_the_cap_is_413_and_stores_nothing(make_server):
    """A body larger than max_body_bytes is refused with 413 before it is parsed."""
    server = make_server(shipped_forms(contact={"max_body_bytes": 2048, **OPEN}))
    r = server.post_json("contact", {**VALID_CONTACT, "consent": True, "message": "m" * 3000})
    assert r.status == 413 and r.json()["error"]["code"] == "too_large"
    r = server.post_form("contact", {**VALID_CONTACT, "message": "x" * 3000})
    assert r.status == 413 and "The submission is too large." in r.body.decode()
    assert server.interactions() == []


def test_preflight_only_for_configured_origins(server):
    """OPTIONS from a configured origin gets the CORS grant; from another origin a 403 without it."""
    ok = server.request("OPTIONS", "/forms/contact", headers={
        "origin": "https://www.example.com", "access-control-request-method": "POST",
        "access-control-request-headers": "content-type"})
    assert ok.status == 204
    assert ok.headers["access-control-allow-origin"] == "https://www.example.com"
    assert "POST" in ok.headers["access-control-allow-methods"]
    assert "content-type" in ok.headers["access-control-allow-headers"].lower()
    bad = server.request("OPTIONS", "/forms/contact", headers={"origin": "https://evil.example"})
    assert bad.status == 403 and "access-control-allow-origin" not in bad.headers
    assert server.request("OPTIONS", "/forms/quote", headers={"origin": "https://www.example.com"}).status == 403


def test_cross_origin_posts(server):
    """A configured origin may post and read the answer; another origin is refused; same origin passes."""
    doc = {**VALID_CONTACT, "consent": True}
    ok = server.post_json("contact", doc, headers={"origin": "https://www.example.com"})
    assert ok.status == 201 and ok.headers["access-control-allow-origin"] == "https://www.example.com"
    bad = server.post_json("contact", doc, headers={"origin": "https://evil.example"})
    assert bad.status == 403 and "access-control-allow-origin" not in bad.headers
    own = server.base.replace("http://", "")
    same = server.post_form("contact", VALID_CONTACT, headers={"origin": f"http://{own}"})
    assert same.status == 303
    assert len(server.interactions()) == 2


def test_token_endpoint_for_scripts(server):
    """GET token gives a token a configured origin may read; another origin gets 403."""
    r = server.request("GET", "/forms/contact/token", headers={"origin": "https://www.example.com"})
    assert r.status == 200 and r.headers["access-control-allow-origin"] == "https://www.example.com"
    token = r.json()["token"]
    assert r.json()["min_fill_time"] == 3.0
    server.clock.advance(4)
    doc = {**VALID_CONTACT, "consent": True, "_token": token}
    assert server.post_json("contact", doc, with_token=False).status == 201
    assert server.request("GET", "/forms/contact/token", headers={"origin": "https://evil.example"}).status == 403


def test_store_failure_is_503_and_nothing_is_half_stored(server):
    """When the interaction's transaction fails, the client gets 503 and neither the interaction nor
    the attachment this submission wrote remains."""
    def break_event_log(conn, uow):
        conn.execute(text("DROP TABLE interaction_events"))
    run_on_reactor(server.database.write(break_event_log))
    body, ctype = multipart({"_token": server.token(), **VALID_CONTACT},
                            [("attachment", "invoice.pdf", "application/pdf", PDF)])
    r = server.request("POST", "/forms/contact", body, {"content-type": ctype})
    assert r.status == 503 and r.headers["retry-after"] == "60"
    assert "We cannot take your request right now." in r.body.decode()
    count = run_on_reactor(server.database.read(lambda c: c.execute(select(func.count()).select_from(interactions))
                                                .scalar_one()))
    assert count == 0 and server.routed == [] and server.confirmations == []
    assert not (server.data_dir / "attachments" / hashlib.sha256(PDF).hexdigest()).exists()
    j = server.post_json("contact", {**VALID_CONTACT, "consent": True})
    assert j.status == 503 and j.json()["error"]["code"] == "unavailable"


def test_posting_to_an_unknown_form_or_path(server):
    """Unknown forms and sub-paths are 404; wrong methods are 405."""
    assert server.request("POST", "/forms/nope", urlencode({"a": "b"}).encode(),
                          {"content-type": "application/x-www-form-urlencoded"}).status == 404
    assert server.request("GET", "/forms/contact/secret").status == 404
    assert server.request("GET", "/forms").status == 404
    assert server.request("DELETE", "/forms/contact").status == 405
    assert server.request("POST", "/forms/contact/thanks").status == 405
