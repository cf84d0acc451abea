"""The language guess of a received message: declared, then script, then charset."""

from __future__ import annotations

import pytest

from channels.email.language import charset_language, declared_language, guess_language, script_language
from channels.email.parsing import parse_message


@pytest.mark.parametrize(
    "values, expected",
    [(["zh-CN"], "zh"), (["ru-RU, en-US"], "ru"), (["EN"], "en"), (["und", "fr"], "fr"), ([""], None), (["x"], None)],
)
def test_declared_language(values, expected):
    """The first valid tag's primary subtag; und and malformed tags are skipped."""
    assert declared_language(values) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("您好，我的订单还没有到。", "zh"),
        ("お世話になっております。注文について", "ja"),
        ("안녕하세요, 주문 문의드립니다", "ko"),
        ("Здравствуйте, у меня вопрос", "ru"),
        ("Добрий день, у мене питання щодо їжі", "uk"),
        ("Γεια σας, έχω μια ερώτηση", "el"),
        ("Hello, I have a question", None),
        ("", None),
        ("谢谢\n\n> On Monday someone wrote a very long English message that is quoted here in full", "zh"),
        ("Thanks!\n\nSent from my phone. 北", None),
    ],
)
def test_script_language(text, expected):
    """The writing system decides, with quoted Latin history not outweighing a short CJK reply."""
    assert script_language(text) == expected


def test_charset_language():
    """National charsets imply a language; Western ones do not."""
    assert [charset_language([c]) for c in ("GB2312", "big5", "iso-2022-jp", "utf-8", "iso-8859-1")] == [
        "zh", "zh", "ja", None, None]


def test_guess_order():
    """Declared beats script, script beats charset."""
    assert guess_language(["fr"], "您好", ["gb2312"]) == "fr"
    assert guess_language([], "Здравствуйте", ["gb2312"]) == "ru"
    assert guess_language([], "hello", ["gb2312"]) == "zh"


def test_parsed_message_carries_the_language():
    """parse_message exposes the guess: a GB2312 message in Chinese is zh, a declared one is as declared."""
    raw = "From: a@example.cn\r\nSubject: 订单\r\nContent-Type: text/plain; charset=gb2312\r\n\r\n您好，请问\r\n"
    assert parse_message(raw.encode("gb2312")).language == "zh"
    declared = b"From: a@example.com\r\nContent-Language: de-DE\r\n\r\nHallo\r\n"
    assert parse_message(declared).language == "de"
    assert parse_message(b"From: a@example.com\r\n\r\nHello\r\n").language is None


def test_quoted_history_does_not_decide():
    """A short Chinese reply above a long quoted English message is Chinese."""
    raw = ("From: a@example.cn\r\nSubject: Re: Your request\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
           "好的，谢谢\r\n\r\nOn Mon, 1 Dec 2026, Support <support@example.com> wrote:\r\n"
           + "> Thank you for contacting us, we will answer within four hours.\r\n" * 5)
    assert parse_message(raw.encode()).language == "zh"


def test_an_attachment_charset_does_not_decide():
    """An English message with a GB2312 text attachment is not guessed Chinese from the attachment's charset."""
    raw = (b"From: a@example.com\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
           b"Content-Type: text/plain; charset=us-ascii\r\n\r\nPlease see the attached file.\r\n--b\r\n"
           b"Content-Type: text/plain; charset=gb2312; name=notes.txt\r\nContent-Disposition: attachment\r\n\r\n"
           b"abc\r\n--b--\r\n")
    assert parse_message(raw).language is None
