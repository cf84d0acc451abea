"""Successful submissions over loopback HTTP: each body kind, the stored interaction, the
customer's identity, routing, the confirmation, and the signed thank-you page."""

from __future__ import annotations

import base64
import hashlib
import re
from urllib.parse import parse_qs, urlsplit

from tests.conftest import run_on_reactor
from tests.webform.conftest import VALID_CONTACT

PDF = b"%PDF-1.4\n1 0 obj << >> endobj\n%%EOF\n"


def multipart(fields: dict, files: list[tuple[str, str, str, bytes]], boundary: str = "XyZ-boundary-42") -> tuple[bytes, str]:
    """A multipart/form-data body and its content type."""
    out = b""
    for name, value in fields.items():
        out += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").encode()
    for name, filename, ctype, data in files:
        out += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{filename}\"\r\n"
                f"Content-Type: {ctype}\r\n\r\n").encode() + data + b"\r\n"
    return out + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def test_urlencoded_post_redirects_to_thanks_and_stores_the_interaction(server):
    """A valid form post is 303 to a thank-you page with the reference; fields are stored normalized."""
    r = server.post_form("contact", VALID_CONTACT)
    assert r.status == 303, r.body
    location = r.headers["location"]
    assert location.startswith("/forms/contact/thanks?ref=")
    [stored] = server.interactions()
    reference = stored.payload["reference"]
    assert re.fullmatch(r"[A-Z2-9]{8}", reference)
    assert (stored.channel, stored.direction, stored.state) == ("webform", "inbound", "queued")
    assert stored.payload["fields"] == {"name": "Ada Lovelace", "email": "ada@example.com", "phone": "+12125550100",
                                        "topic": "billing", "message": "My invoice\nis wrong.", "consent": True}
    assert stored.payload["labels"]["topic"] == "Topic"
    assert stored.payload["client_ip"] == "127.0.0.1"
    thanks = server.request("GET", location)
    assert thanks.status == 200
    assert f'<strong id="reference">{reference}</strong>' in thanks.body.decode()
    assert "Ada" not in thanks.body.decode()


def test_customer_gets_both_contact_points_routing_and_a_confirmation(server):
    """The new customer owns the email and the phone; routing and the confirmation mail follow the commit."""
    server.post_form("contact", VALID_CONTACT)
    [stored] = server.interactions()
    customer = run_on_reactor(server.store.get_customer(stored.customer_id))
    assert sorted((p.kind, p.value) for p in customer.contact_points) == [
        ("email", "ada@example.com"), ("phone", "+12125550100")]
    assert customer.display_name == "Ada Lovelace" and customer.provisional
    [(interaction, routing_input)] = server.routed
    assert interaction.id == stored.id
    assert {k: routing_input[k] for k in ("channel", "to", "language", "tier", "attributes", "subject", "body")} == {
        "channel": "webform", "to": "contact", "language": "en", "tier": "basic",
        "attributes": {"topic": "billing"}, "subject": "Contact us: Ada Lovelace", "body": "My invoice\nis wrong."}
    assert stored.state == "queued" and stored.queue == "billing"  # the shipped rule for its topic
    [(to, subject, body, iid)] = server.confirmations
    reference = stored.payload["reference"]
    assert (to, iid) == ("ada@example.com", stored.id)
    assert subject == f"Contact us: we received your request [#{reference}]"
    assert "Hello Ada Lovelace," in body


def test_json_post_gets_201_with_the_reference(server):
    """A JSON post is answered 201 with the reference and a thank-you URL that works."""
    doc = {**VALID_CONTACT, "consent": True}
    r = server.post_json("contact", doc, headers={"accept": "application/json"})
    assert r.status == 201, r.body
    [stored] = server.interactions()
    assert r.json()["reference"] == stored.payload["reference"]
    assert server.request("GET", r.json()["thanks_url"]).status == 200


def test_multipart_attachment_is_stored_content_addressed(server):
    """An uploaded PDF lands at attachments/<sha256> and the payload names it by name, type, size, hash."""
    body, ctype = multipart({"_token": server.token(), **VALID_CONTACT},
                            [("attachment", "C:\\Users\\ada\\invoice.pdf", "application/pdf", PDF)])
    r = server.request("POST", "/forms/contact", body, {"content-type": ctype})
    assert r.status == 303, r.body
    digest = hashlib.sha256(PDF).hexdigest()
    assert (server.data_dir / "attachments" / digest).read_bytes() == PDF
    [stored] = server.interactions()
    assert stored.payload["attachments"] == [{"field": "attachment", "name": "invoice.pdf",
                                              "type": "application/pdf", "size": len(PDF), "sha256": digest}]


def test_json_attachment_in_base64(server):
    """A JSON body carries a file as {filename, content_type, data} in base64."""
    doc = {**VALID_CONTACT, "attachment": {"filename": "note.txt", "content_type": "text/plain",
                                           "data": base64.b64encode("héllo".encode()).decode()}}
    r = server.post_json("contact", doc)
    assert r.status == 201, r.body
    assert server.interactions()[0].payload["attachments"][0]["size"] == len("héllo".encode())


def test_chinese_submission_confirms_in_chinese(server):
    """A customer whose browser asks for zh-CN gets the Chinese form, thank-you page and mail."""
    page = server.request("GET", "/forms/contact", headers={"accept-language": "zh-CN,zh;q=0.9,en;q=0.5"})
    assert '<html lang="zh-CN">' in page.body.decode() and "联系我们" in page.body.decode()
    server.clock.advance(5)
    token = re.search(r'name="_token" value="([^"]+)"', page.body.decode()).group(1)
    r = server.post_form("contact", {**VALID_CONTACT, "_lang": "zh"}, token=token)
    assert parse_qs(urlsplit(r.headers["location"]).query)["lang"] == ["zh"]
    thanks = server.request("GET", r.headers["location"]).body.decode()
    assert "感谢您的提交" in thanks and '<html lang="zh-CN">' in thanks
    assert server.confirmations[0][1].startswith("联系我们：我们已收到您的请求")


def test_known_customer_keeps_identity_and_gains_free_contact_point(server):
    """A customer known by phone is found and gets the new email; an email owned by another is left alone."""
    by_phone = run_on_reactor(server.store.create_customer("Ada L.", contact_points=[("phone", "+12125550100")]))
    other = run_on_reactor(server.store.create_customer("Other", contact_points=[("email", "other@example.com")]))
    server.post_form("contact", VALID_CONTACT)
    first = server.interactions()[0]
    assert first.customer_id == by_phone.id
    customer = run_on_reactor(server.store.get_customer(by_phone.id))
    assert ("email", "ada@example.com") in {(p.kind, p.value) for p in customer.contact_points}
    assert customer.display_name == "Ada L."
    server.post_form("contact", {**VALID_CONTACT, "email": "other@example.com"})
    second = server.interactions()[1]
    assert second.customer_id == other.id
    assert second.payload["identity"] == {"phone_owner": by_phone.id}


def test_thanks_page_refuses_unsigned_or_foreign_references(server):
    """Only a reference signed for this form is shown: forged, bare or other-form refs are 404."""
    r = server.post_form("contact", VALID_CONTACT)
    signed = parse_qs(urlsplit(r.headers["location"]).query)["ref"][0]
    reference = signed.split(".")[0]
    for path in (f"/forms/contact/thanks?ref={reference}", f"/forms/contact/thanks?ref={reference}.AAAA",
                 f"/forms/quote/thanks?ref={signed}", "/forms/contact/thanks",
                 f"/forms/contact/thanks?ref=OTHER123.{signed.split('.')[1]}"):
        assert server.request("GET", path).status == 404, path
