"""Refused submissions over loopback HTTP: every field check and every unreadable body gets a
422/400/415 naming the problem, in JSON or as the form again, and nothing is stored."""

from __future__ import annotations

import base64
import dataclasses

import pytest

from tests.webform.conftest import VALID_CONTACT, shipped_forms
from tests.webform.test_http_submit import PDF, multipart

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 20


def b64(data: bytes) -> str:
    """Base64 text of ``data``."""
    return base64.b64encode(data).decode()


CASES = [
    ("contact", {"name": None}, "name", "required"),
    ("contact", {"name": "   "}, "name", "required"),
    ("contact", {"name": "x" * 201}, "name", "too_long"),
    ("contact", {"email": "not-an-address"}, "email", "invalid_email"),
    ("contact", {"email": "a@b@example.com"}, "email", "invalid_email"),
    ("contact", {"phone": "12"}, "phone", "invalid_phone"),
    ("contact", {"phone": "call me maybe"}, "phone", "invalid_phone"),
    ("contact", {"topic": "pizza"}, "topic", "invalid_choice"),
    ("contact", {"topic": ""}, "topic", "required"),
    ("contact", {"name": "Ada\x07Lovelace"}, "name", "control_chars"),
    ("contact", {"message": "hello\x00world"}, "message", "control_chars"),
    ("contact", {"message": "m" * 5001}, "message", "too_long"),
    ("contact", {"consent": False}, "consent", "not_checked"),
    ("contact", {"consent": None}, "consent", "not_checked"),
    ("contact", {"consent": "maybe"}, "consent", "invalid_checkbox"),
    ("contact", {"name": ["Ada", "Bob"]}, "name", "multiple_values"),
    ("contact", {"name": {"filename": "a.txt", "content_type": "text/plain", "data": b64(b"a")}}, "name", "wrong_type"),
    ("contact", {"name": True}, "name", "wrong_type"),
    ("contact", {"favourite_colour": "blue"}, "favourite_colour", "unknown_field"),
    ("contact", {"attachment": "just text"}, "attachment", "not_a_file"),
    ("contact", {"attachment": [{"filename": "a.pdf", "content_type": "application/pdf", "data": b64(PDF)}] * 2},
     "attachment", "too_many_files"),
    ("contact", {"attachment": {"filename": "a.pdf", "content_type": "application/pdf", "data": ""}},
     "attachment", "file_empty"),
    ("contact", {"attachment": {"filename": "a.exe", "content_type": "application/x-msdownload", "data": b64(b"MZ")}},
     "attachment", "file_type"),
    ("contact", {"attachment": {"filename": "a.pdf", "content_type": "application/pdf", "data": b64(PNG)}},
     "attachment", "file_type"),
    ("contact", {"attachment": {"filename": "a.txt", "content_type": "text/plain", "data": b64(b"\xff\xfe")}},
     "attachment", "file_type"),
    ("quote", {"seats": "1a"}, "seats", "pattern"),
]


@pytest.mark.parametrize(("form", "change", "field", "code"), CASES,
                         ids=[f"{c[0]}-{c[2]}-{c[3]}-{i}" for i, c in enumerate(CASES)])
def test_json_field_error(server, form, change, field, code):
    """Each field check refuses a JSON submission with 422 naming the field and code; nothing is stored."""
    if form == "contact":
        base = {**VALID_CONTACT, "consent": True}
    else:
        base = {"name": "Bo", "email": "bo@example.com", "message": "Quote please", "seats": "12"}
    doc = {k: v for k, v in {**base, **change}.items() if v is not None or k == "consent"}
    r = server.post_json(form, doc, headers={"accept-language": "en"})
    assert r.status == 422, r.body
    errors = r.json()["errors"]
    assert [(e["field"], e["code"]) for e in errors] == [(field, code)]
    assert errors[0]["message"]
    assert server.interactions() == [] and server.routed == []
    assert not (server.data_dir / "attachments").exists() or not any((server.data_dir / "attachments").iterdir())


def test_pattern_error_uses_the_fields_own_message_in_chinese(server):
    """A pattern failure reads the field's configured message in the request's language."""
    doc = {"name": "Bo", "email": "bo@example.com", "message": "Quote please", "seats": "12a"}
    r = server.post_json("quote", doc, headers={"accept-language": "zh-CN"})
    assert r.json()["errors"][0]["message"] == "请输入整数。"


def test_every_error_is_reported_at_once(server):
    """Several bad fields give one 422 listing each of them in form order."""
    r = server.post_json("contact", {"email": "nope", "topic": "x", "consent": True, "message": "hi", "name": "A"})
    assert [(e["field"], e["code"]) for e in r.json()["errors"]] == [
        ("email", "invalid_email"), ("topic", "invalid_choice")]


def test_html_post_rerenders_the_form_with_accessible_messages(server):
    """An invalid form post gets 422 and the form again: values kept, errors tied to their fields."""
    r = server.post_form("contact", {**VALID_CONTACT, "email": "broken", "_lang": "zh"})
    page = r.body.decode()
    assert r.status == 422 and r.headers["content-type"].startswith("text/html")
    assert '<html lang="zh-CN">' in page
    assert 'aria-invalid="true" aria-describedby="help-email error-email"' in page
    assert '<p class="error" id="error-email">请输入有效的电子邮箱，例如 name@example.com。</p>' in page
    assert '<a href="#field-email">电子邮箱</a>' in page and 'role="alert"' in page
    assert 'value="Ada Lovelace"' in page and 'value="broken"' in page
    assert '<option value="billing" selected>' in page
    assert server.interactions() == []


def test_html_rerender_escapes_what_the_customer_typed(server):
    """Values echoed back into the form are HTML-escaped."""
    r = server.post_form("contact", {**VALID_CONTACT, "email": '"><script>alert(1)</script>'})
    page = r.body.decode()
    assert "<script>alert(1)" not in page and "&#34;&gt;&lt;script&gt;" in page


@pytest.mark.parametrize(("ctype", "body", "status", "code"), [
    ("application/json", b"{not json", 400, "bad_request"),
    ("application/json", b"[1, 2]", 400, "bad_request"),
    ("application/json", b'{"name": [["nested"]]}', 400, "bad_request"),
    ("application/json", b'{"attachment": {"filename": "a", "content_type": "text/plain", "data": "%%%"}}',
     400, "bad_request"),
    ("application/x-www-form-urlencoded", b"name=%FF%FE", 400, "bad_request"),
    ("text/plain", b"name=Ada", 415, "unsupported_type"),
])
def test_unreadable_bodies(server, ctype, body, status, code):
    """Bodies that cannot be read are refused with 400 (or 415 for another type) and a JSON error code."""
    server.token()
    r = server.request("POST", "/forms/contact", body, {"content-type": ctype, "accept": "application/json"})
    assert r.status == status, (r.status, r.body)
    assert r.json()["error"]["code"] == code
    assert server.interactions() == []


def test_file_over_the_fields_cap(make_server):
    """An upload over the field's max_bytes is refused with the size in the message."""
    forms = shipped_forms()
    field = next(f for f in forms["contact"].fields if f.name == "attachment")
    fields = tuple(dataclasses.replace(f, max_bytes=100) if f is field else f for f in forms["contact"].fields)
    server = make_server(shipped_forms(contact={"fields": fields}))
    doc = {**VALID_CONTACT, "consent": True,
           "attachment": {"filename": "a.pdf", "content_type": "application/pdf", "data": b64(PDF + b"0" * 100)}}
    r = server.post_json("contact", doc)
    assert r.status == 422
    assert r.json()["errors"] == [{"field": "attachment", "code": "file_too_large",
                                   "message": "Each file must be at most 100 bytes."}]
    assert server.interactions() == []


def test_broken_multipart_is_a_400_from_twisted(server):
    """A multipart body without parts is refused (Twisted's own 400) and nothing is stored."""
    server.token()
    r = server.request("POST", "/forms/contact", b"garbage", {"content-type": "multipart/form-data; boundary=z"})
    assert r.status == 400
    assert server.interactions() == []


def test_multipart_part_without_name_is_refused(server):
    """A multipart part that is not form-data with a name is a 400."""
    body = b"--b\r\nContent-Disposition: attachment\r\n\r\nx\r\n--b--\r\n"
    r = server.request("POST", "/forms/contact", body, {"content-type": "multipart/form-data; boundary=b"})
    assert r.status == 400 and 'role="alert"' in r.body.decode()


def test_multipart_file_errors_rerender_without_the_file(server):
    """A disallowed upload in a multipart post re-renders the form with the type message."""
    body, ctype = multipart({"_token": server.token(), **VALID_CONTACT},
                            [("attachment", "evil.html", "text/html", b"<html>")])
    r = server.request("POST", "/forms/contact", body, {"content-type": ctype})
    assert r.status == 422
    assert "Attach a file of one of these types: application/pdf, image/png, image/jpeg, text/plain." \
        in r.body.decode()
    assert server.interactions() == []


def test_empty_file_input_of_a_browser_is_no_attachment(server):
    """The empty part a browser sends for an untouched file input is not an attachment."""
    body, ctype = multipart({"_token": server.token(), **VALID_CONTACT},
                            [("attachment", "", "application/octet-stream", b"")])
    r = server.request("POST", "/forms/contact", body, {"content-type": ctype})
    assert r.status == 303, r.body
    assert server.interactions()[0].payload["attachments"] == []
