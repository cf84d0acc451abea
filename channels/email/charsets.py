"""Decoding mail bytes to text under the charset a message claims, or a sensible fallback.

Mail in the wild lies about its charset: text labelled ``gb2312`` holds GBK characters,
``iso-8859-1`` holds Windows-1252 smart quotes, ``us-ascii`` holds UTF-8, and some labels
are no charset at all. :func:`decode_bytes` never raises: it maps a label to the codec
that real senders mean (a superset of the labelled one), decodes strictly, and when that
fails tries UTF-8, then the caller's hints, then Windows-1252, then ISO-8859-1 (which
decodes any byte). Every departure from the label is reported as a problem string so the
parser can record it on the message.
"""

from __future__ import annotations

import codecs
from typing import Iterable

# Labels mapped to the codec mail labelled so actually needs. Each target is a superset of
# the labelled charset, so correctly labelled text decodes the same and the common lies
# (GBK characters under "gb2312", NEC/IBM extensions under "shift_jis", Windows-1252
# punctuation under "iso-8859-1") decode too.
_SUPERSETS = {
    "gb2312": "gb18030",
    "gb_2312": "gb18030",
    "gb_2312-80": "gb18030",
    "euc-cn": "gb18030",
    "euccn": "gb18030",
    "x-euc-cn": "gb18030",
    "csgb2312": "gb18030",
    "chinese": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "cp936": "gb18030",
    "windows-936": "gb18030",
    "big5": "big5hkscs",
    "big-5": "big5hkscs",
    "x-big5": "big5hkscs",
    "cn-big5": "big5hkscs",
    "cp950": "big5hkscs",
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "sjis": "cp932",
    "x-sjis": "cp932",
    "ms_kanji": "cp932",
    "windows-31j": "cp932",
    "iso-2022-jp": "iso2022_jp_2",
    "csiso2022jp": "iso2022_jp_2",
    "euc-kr": "cp949",
    "ks_c_5601-1987": "cp949",
    "iso-8859-1": "cp1252",
    "iso8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "l1": "cp1252",
    "iso_8859-1": "cp1252",
    "us-ascii": "ascii",
    "ascii": "ascii",
    "ansi_x3.4-1968": "ascii",
    "utf8": "utf-8",
    "unicode-1-1-utf-8": "utf-8",
    "unicode-1-1-utf-7": "utf-7",
}

# Tried in order when a codec is a plain superset and strict decoding still fails: the
# extended ISO-2022-JP variants carry the Windows and JIS X 0213 characters.
_SECOND_TRIES = {
    "iso2022_jp_2": ("iso2022_jp_ext", "iso2022_jp_2004", "iso2022_jp_3"),
    "cp1252": ("latin-1",),
    "ascii": (),
}

FALLBACK = "utf-8"


def normalize_label(label: str | None) -> str:
    """The charset label lower-cased, unquoted and stripped; ``""`` for none."""
    if not label:
        return ""
    return label.strip().strip("\"'").strip().lower()


def codec_for(label: str | None) -> str | None:
    """The Python codec name used for ``label``, or None when the label is unknown.

    An empty label means the MIME default, US-ASCII.
    """
    norm = normalize_label(label) or "us-ascii"
    target = _SUPERSETS.get(norm, norm)
    try:
        return codecs.lookup(target).name
    except LookupError:
        return None


def _try(data: bytes, codec: str) -> str | None:
    try:
        return data.decode(codec)
    except (UnicodeDecodeError, LookupError):
        return None


def decode_bytes(data: bytes, label: str | None, hints: Iterable[str] = ()) -> tuple[str, str | None]:
    """Decode ``data`` labelled ``label``; return ``(text, problem)``, never raising.

    ``problem`` is None when the label (or its superset) decoded the bytes strictly, else
    a sentence naming the label and the codec finally used. ``hints`` are other charset
    labels worth trying before the Western fallbacks (e.g. the charsets of the message's
    other parts). A UTF-8 byte order mark is dropped.
    """
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8):]
        if not normalize_label(label) or codec_for(label) in ("utf-8", "ascii"):
            label = "utf-8"
    codec = codec_for(label)
    shown = normalize_label(label) or "(none)"
    if codec is not None:
        for name in (codec,) + _SECOND_TRIES.get(codec, ()):
            text = _try(data, name)
            if text is not None:
                return text, None
        if codec == "ascii" and not normalize_label(label):
            first_problem = "8-bit data without a charset label"
        else:
            first_problem = f"charset {shown!r} does not fit the bytes"
    else:
        first_problem = f"unknown charset {shown!r}"
    tried = {codec}
    candidates = [FALLBACK] + [c for c in (codec_for(h) for h in hints) if c] + ["cp1252", "latin-1"]
    for name in candidates:
        if name in tried:
            continue
        tried.add(name)
        text = _try(data, name)
        if text is not None:
            return text, f"{first_problem}; decoded as {name}"
    raise AssertionError("latin-1 decodes every byte string")  # pragma: no cover


def is_known(label: str | None) -> bool:
    """True when ``label`` names a charset this module can decode."""
    return codec_for(label) is not None
