"""A guess at the language a received message is written in, for routing and templates.

:func:`guess_language` returns an ISO 639-1 primary subtag (``zh``, ``ja``, ``ru``...) or
None when it cannot tell. In order: a declared ``Content-Language`` (of the message or a
body part); else the writing system of the subject and text (Han without kana is Chinese,
kana is Japanese, Hangul Korean, Cyrillic Russian or Ukrainian, and so on); else the
charset the sender's client chose (``gb2312``, ``gbk``, ``gb18030`` and ``big5`` are
Chinese). Latin-script text gives None: telling English from French is not worth a guess
that routing would then trust.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Iterable

_TAG = re.compile(r"^([A-Za-z]{2,3})(?:[-_][A-Za-z0-9]{1,8})*$")
# (first, last, script) ranges of the scripts a guess is made for.
_RANGES = (
    (0x3040, 0x30FF, "kana"), (0x31F0, 0x31FF, "kana"), (0xFF66, 0xFF9F, "kana"),
    (0x4E00, 0x9FFF, "han"), (0x3400, 0x4DBF, "han"), (0xF900, 0xFAFF, "han"), (0x20000, 0x2FFFF, "han"),
    (0xAC00, 0xD7A3, "hangul"), (0x1100, 0x11FF, "hangul"), (0x3130, 0x318F, "hangul"),
    (0x0400, 0x04FF, "cyrillic"), (0x0370, 0x03FF, "greek"), (0x0590, 0x05FF, "hebrew"),
    (0x0600, 0x06FF, "arabic"), (0x0E00, 0x0E7F, "thai"), (0x0900, 0x097F, "devanagari"),
)
_SCRIPT_LANGUAGE = {"hangul": "ko", "greek": "el", "hebrew": "he", "arabic": "ar", "thai": "th", "devanagari": "hi"}
_UKRAINIAN = frozenset("іїєґІЇЄҐ")
_CHARSET_LANGUAGE = {
    "gb2312": "zh", "gbk": "zh", "gb18030": "zh", "big5": "zh", "big5-hkscs": "zh", "hz-gb-2312": "zh",
    "x-gbk": "zh", "euc-cn": "zh", "cp936": "zh", "cp950": "zh",
    "iso-2022-jp": "ja", "shift_jis": "ja", "shift-jis": "ja", "euc-jp": "ja", "windows-31j": "ja", "cp932": "ja",
    "euc-kr": "ko", "ks_c_5601-1987": "ko", "iso-2022-kr": "ko", "cp949": "ko",
    "koi8-r": "ru", "koi8-u": "uk", "windows-1251": "ru", "cp1251": "ru",
    "iso-8859-7": "el", "windows-1253": "el", "iso-8859-8": "he", "iso-8859-8-i": "he", "windows-1255": "he",
    "windows-1256": "ar", "iso-8859-6": "ar", "tis-620": "th", "windows-874": "th",
}
_SAMPLE = 20_000
# Characters outside every range above (ASCII, Latin-1, Latin Extended, combining marks) are
# skipped at C speed: a per-character Python loop over a long Latin text costs milliseconds.
_NOT_LATIN = re.compile("[^\u0000-\u036f]")
_ASCII_LETTER = re.compile("[A-Za-z]")


def declared_language(values: Iterable[str]) -> str | None:
    """The primary subtag of the first valid tag in ``Content-Language`` values (``zh-CN`` -> ``zh``)."""
    for value in values:
        for tag in value.split(","):
            m = _TAG.match(tag.strip())
            if m and m.group(1).lower() not in ("und", "mul", "zxx"):
                return m.group(1).lower()
    return None


def _script(ch: str) -> str | None:
    code = ord(ch)
    for first, last, script in _RANGES:
        if first <= code <= last:
            return script
    return None


def script_language(text: str) -> str | None:
    """The language the writing system of ``text`` points to, or None for Latin or too little text.

    Lines quoted with ``>`` are left out. A script counts when it has at least 2 characters
    and, weighing an ideograph or syllable as three letters, at least a third of the weight
    of the Latin letters (an English signature under a Chinese reply does not outweigh it).
    """
    # Quoted lines are someone else's words (often our own English acknowledgement).
    sample = "\n".join(line for line in text[:_SAMPLE].split("\n") if not line.lstrip().startswith(">"))
    counts = Counter(script for script in map(_script, _NOT_LATIN.findall(sample)) if script)
    if not counts:
        return None
    latin = len(_ASCII_LETTER.findall(sample))
    script, count = counts.most_common(1)[0]
    if counts["kana"] >= 2 and (counts["kana"] + counts["han"]) * 3 >= latin / 3:
        return "ja"
    if count < 2 or count * 3 < latin / 3:
        return None
    if script == "han":
        return "zh"
    if script == "cyrillic":
        return "uk" if any(ch in _UKRAINIAN for ch in sample) else "ru"
    return _SCRIPT_LANGUAGE.get(script)


def charset_language(charsets: Iterable[str]) -> str | None:
    """The language a national charset label implies (``gb2312`` -> ``zh``), or None."""
    for charset in charsets:
        language = _CHARSET_LANGUAGE.get(charset.strip().strip("\"'").lower())
        if language:
            return language
    return None


def has_other_script(text: str) -> bool:
    """True when ``text`` has a character outside Latin (a cheap test before the script count)."""
    return _NOT_LATIN.search(text) is not None


def guess_language(declared: Iterable[str], text: str, charsets: Iterable[str] = ()) -> str | None:
    """The language of a message: declared tag, else script of ``text``, else charset; or None."""
    return declared_language(declared) or script_language(text) or charset_language(charsets)
