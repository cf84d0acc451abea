"""The pure parts of the forms channel, without I/O: tokens, body parsing, normalization."""

from __future__ import annotations

import pytest

from channels.webform.bodies import BodyError, parse_multipart, parse_urlencoded
from channels.webform.fields import CleanForm, Upload, content_matches, safe_filename, validate_form
from channels.webform.guard import SubmissionLimits, cors_headers, origin_allowed, same_origin
from channels.webform.tokens import FormSigner
from tests.webform.conftest import shipped_forms

SIGNER = FormSigner(b"0123456789abcdef0123")


@pytest.mark.parametrize(("age", "expected"), [(2.999, "too_fast"), (3.0, None), (7200.0, None), (7200.5, "expired"),
                                               (-0.5, "too_fast"), (-2.0, "token_invalid")])
def test_token_age_window(age, expected):
    """A token is good from min_fill_time to max_age after issue, with 1 s of slack for skewed nodes."""
    token = SIGNER.issue("contact", 1000.0)
    assert SIGNER.check("contact", token, 1000.0 + age, 3.0, 7200.0) == expected


def test_short_secret_is_refused():
    """A secret shorter than 16 bytes is a programming error."""
    with pytest.raises(ValueError):
        FormSigner(b"short")


def test_reference_signatures_bind_form_and_reference():
    """A signed reference opens only for its form and only unaltered."""
    signed = SIGNER.sign_reference("contact", "ABCD2345")
    assert SIGNER.open_reference("contact", signed) == "ABCD2345"
    assert SIGNER.open_reference("quote", signed) is None
    assert SIGNER.open_reference("contact", "ABCD2346" + signed[8:]) is None
    assert SIGNER.open_reference("contact", signed + "\u00e9") is None
    assert SIGNER.open_reference("contact", "x" * 300) is None


def test_urlencoded_keeps_repeats_and_blank_values():
    """Repeated names keep every value in order; blank values are kept."""
    raw = parse_urlencoded(b"a=1&a=2&b=&c=%E4%BD%A0")
    assert raw.values == {"a": ["1", "2"], "b": [""], "c": ["你"]}


def test_urlencoded_field_count_is_capped():
    """More than 200 values is refused."""
    with pytest.raises(BodyError):
        parse_urlencoded(b"&".join(b"f%d=x" % n for n in range(201)))


def test_multipart_names_as_browsers_write_them():
    """Percent-encoded quotes, UTF-8 names and backslashes in file names survive as sent."""
    body = ('--b\r\nContent-Disposition: form-data; name="doc"; filename="我的 %22file%22\\x.pdf"\r\n'
            'Content-Type: application/pdf\r\n\r\n%PDF-1\r\n--b\r\n'
            'Content-Disposition: form-data; name="note"\r\n\r\nline1\r\nline2\r\n--b--\r\n').encode("utf-8")
    raw = parse_multipart("multipart/form-data; boundary=b", body)
    assert raw.files == {"doc": [Upload('我的 "file"\\x.pdf', "application/pdf", b"%PDF-1")]}
    assert raw.values == {"note": ["line1\r\nline2"]}


def test_normalization_of_text_and_textarea():
    """Text is NFC and trimmed; textarea line ends become LF and tabs stay."""
    form = shipped_forms()["quote"]
    result = validate_form(form, {"name": ["  Cafe\u0301 "], "email": ["X@Example.COM"],
                                  "message": ["a\r\n\tb\rc"]}, {}, "US")
    assert isinstance(result, CleanForm)
    assert result.values == {"name": "Café", "email": "x@example.com", "message": "a\n\tb\nc"}


def test_safe_filenames():
    """Paths, control characters and leading dots are stripped; nothing left is 'attachment'."""
    assert safe_filename("C:\\x\\..\\evil.exe") == "evil.exe"
    assert safe_filename("../../etc/passwd") == "passwd"
    assert safe_filename("a\x00b\nc.txt") == "abc.txt"
    assert safe_filename(".htaccess") == "htaccess"
    assert safe_filename("///") == "attachment"


@pytest.mark.parametrize(("media", "data", "ok"), [
    ("application/pdf", b"%PDF-1.7", True), ("application/pdf", b"<html>", False),
    ("image/png", b"\x89PNG\r\n\x1a\nrest", True), ("image/jpeg", b"GIF89a", False),
    ("text/plain", "你好".encode(), True), ("text/plain", b"a\x00b", False), ("application/zip", b"PK", True),
])
def test_content_sniffing(media, data, ok):
    """Known types must start with their magic bytes; text must be UTF-8 without NUL."""
    assert content_matches(media, data) is ok


def test_rate_limit_refusal_does_not_spend_the_other_bucket():
    """A client refused by its own bucket leaves the global bucket untouched."""
    from callcenter.settings.model import FormRate

    forms = shipped_forms(contact={"per_ip_rate": FormRate(1, 0.01), "global_rate": FormRate(2, 0.01)})
    limits = SubmissionLimits(forms)
    assert limits.admit("contact", "a", 0.0) == 0.0
    assert limits.admit("contact", "a", 0.0) > 0
    assert limits.admit("contact", "b", 0.0) == 0.0
    assert limits.admit("contact", "c", 0.0) > 0


def test_origin_rules():
    """Own host and listed origins pass; others do not; no Origin is not a cross-origin browser call."""
    form = shipped_forms()["contact"]
    assert same_origin("http://127.0.0.1:8080", "127.0.0.1:8080")
    assert origin_allowed(form, None, "x") and origin_allowed(form, "https://www.example.com", "x")
    assert not origin_allowed(form, "https://www.example.com.evil.example", "x")
    assert cors_headers(form, "https://evil.example") == {"Vary": "Origin"}
