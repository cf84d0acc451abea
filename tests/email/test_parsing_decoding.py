"""Decoding: undeclared 8-bit text, every WHATWG label, ISO-2022-JP extensions, odd MIME structure."""

from __future__ import annotations

import base64

import pytest

from channels.email.charsets import _WHATWG, codec_for, decode_bytes, decode_iso2022jp_ms, detect_codec
from channels.email.parsing import parse_message

RUSSIAN = "Здравствуйте! Я не могу войти в личный кабинет, пароль не подходит."


@pytest.mark.parametrize("codec", ["koi8_r", "cp1251"])
def test_undeclared_cyrillic_is_cyrillic(codec):
    """Undeclared KOI8-R or Windows-1251 text comes out as Cyrillic, not cp1252 mojibake."""
    text, problem = decode_bytes(RUSSIAN.encode(codec), None)
    assert text == RUSSIAN and problem.endswith(f"decoded as {codec}")


@pytest.mark.parametrize(
    "text, codec",
    [
        ("我们的产品有问题，请尽快回复。谢谢！", "gb18030"),
        ("中文郵件測試，你好，請回覆", "big5hkscs"),
        ("日本語のメールです。よろしくお願いします。", "cp932"),
        ("안녕하세요 반갑습니다", "cp949"),
        ("Grüße aus München, à bientôt", "cp1252"),
    ],
)
def test_undeclared_8bit_detection(text, codec):
    """Undeclared national text is detected as its charset."""
    assert detect_codec(text.encode(codec)) == codec
    assert decode_bytes(text.encode(codec), None)[0] == text


def test_undeclared_utf8_is_tried_first():
    """Undeclared 8-bit UTF-8 is UTF-8, even when it would also decode in a legacy charset."""
    assert decode_bytes("Grüße 你好".encode(), None)[0] == "Grüße 你好"


def test_utf8_with_one_broken_sequence_stays_utf8():
    """UTF-8 with a single cut character is read as UTF-8 with one U+FFFD, not as cp1252."""
    data = "Юникод и ещё текст".encode() + b"\xd0"
    text, problem = decode_bytes(data, "utf-8")
    assert text == "Юникод и ещё текст\ufffd" and "broken sequences" in problem


def test_every_whatwg_label_is_known():
    """Every label of the WHATWG Encoding Standard maps to a codec that exists."""
    labels = [label for group in _WHATWG.values() for label in group.split()]
    assert len(labels) > 200
    assert [label for label in labels if codec_for(label) is None] == []


@pytest.mark.parametrize("label, text", [("iso-8859-8-i", "שלום"), ("x-mac-cyrillic", "Привет"),
                                         ("windows-874", "สวัสดี"), ("ks_c_5601-1989", "안녕"),
                                         ("x-euc-jp", "日本"), ("x-x-big5", "中文")])
def test_browser_labels_decode(label, text):
    """Labels Python does not know but browsers and mailers use decode without a problem."""
    codec = codec_for(label)
    assert decode_bytes(text.encode(codec), label) == (text, None)


def test_iso2022jp_with_nec_row13_keeps_every_character():
    """ISO-2022-JP with NEC circled digits and roman numerals decodes fully, no escape bytes lost."""
    data = b"\x1b$B-!-\"-5\x1b(B No.1 \x1b$B$3$s$K$A$O\x1b(B"
    assert decode_iso2022jp_ms(data) == "①②Ⅰ No.1 こんにちは"
    assert decode_bytes(data, "iso-2022-jp") == ("①②Ⅰ No.1 こんにちは", None)


def test_iso2022jp_ms_refuses_8bit_bytes():
    """The ISO-2022-JP fallback raises on 8-bit input, so other codecs get their turn."""
    with pytest.raises(UnicodeDecodeError):
        decode_iso2022jp_ms(b"\xa4\xa2")


def test_iso2022jp_subject_with_nec_characters():
    """An encoded-word subject in ISO-2022-JP with NEC characters is decoded, not left as escapes."""
    word = base64.b64encode(b"\x1b$B-!\x1b(B test").decode()
    parsed = parse_message(f"From: a@example.jp\r\nSubject: =?ISO-2022-JP?B?{word}?=\r\n\r\nx\r\n".encode())
    assert parsed.subject == "① test"


def test_raw_utf8_attachment_filename():
    """A raw 8-bit UTF-8 filename (no RFC 2047/2231) is decoded, not turned into U+FFFD."""
    raw = ("From: a@example.com\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
           "Content-Type: text/plain\r\n\r\nhi\r\n--b\r\nContent-Type: application/pdf; name=\"报价单.pdf\"\r\n"
           "Content-Disposition: attachment; filename=\"报价单.pdf\"\r\n\r\n%PDF\r\n--b--\r\n").encode()
    parsed = parse_message(raw)
    assert [a.filename for a in parsed.attachments] == ["报价单.pdf"] and parsed.text == "hi"


@pytest.mark.parametrize("ctype", ["text", "TEXT", "text/", "text; charset=utf-8"])
def test_text_part_without_subtype_is_a_body(ctype):
    """A text part without a subtype is the body, not an attachment."""
    raw = (f"From: a@example.com\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
           f"Content-Type: {ctype}\r\n\r\nthe body\r\n--b--\r\n").encode()
    parsed = parse_message(raw)
    assert (parsed.text, parsed.attachments) == ("the body", ())


def test_boundary_that_does_not_match_the_parts():
    """A multipart whose declared boundary is absent is split at the boundary the body uses."""
    pdf = base64.b64encode(b"%PDF-1.4 " * 2000).decode()
    lines = "\r\n".join(pdf[i:i + 76] for i in range(0, len(pdf), 76))
    raw = ("From: a@example.com\r\nContent-Type: multipart/mixed; boundary=\"declared\"\r\n\r\n"
           "--actual\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nPlease see the invoice.\r\n"
           "--actual\r\nContent-Type: application/pdf; name=invoice.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n"
           f"{lines}\r\n--actual--\r\n").encode()
    parsed = parse_message(raw)
    assert parsed.text == "Please see the invoice."
    assert [(a.filename, a.size) for a in parsed.attachments] == [("invoice.pdf", 18000)]
    assert "multipart/mixed: the declared boundary is not in the body; split at the one the body uses" in parsed.problems


def test_multipart_without_any_boundary_is_read_as_text():
    """No delimiter line at all: the body is read as text, as before."""
    parsed = parse_message(b"From: a@example.com\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\njust text\r\n")
    assert parsed.text == "just text"


def test_utf8_under_a_western_label_is_utf8():
    """UTF-8 labelled iso-8859-1 reads as UTF-8, not "Ã©"; real Latin-1 under that label stays Latin-1."""
    assert decode_bytes("Grüße, café".encode(), "iso-8859-1") == (
        "Grüße, café", "charset 'iso-8859-1' holds UTF-8; decoded as utf-8")
    assert decode_bytes("Grüße, café".encode("latin-1"), "iso-8859-1") == ("Grüße, café", None)
