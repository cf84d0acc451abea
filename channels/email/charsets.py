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
import re
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

# Every label of the WHATWG Encoding Standard (encodings.json), by the Python codec that
# decodes it; a label also listed in _SUPERSETS above keeps that (wider) codec. Python knows
# most labels already; this table is what makes ``iso-8859-8-i``, ``x-mac-cyrillic``,
# ``windows-874``, ``ks_c_5601-1989``, ``x-euc-jp`` and the other browser labels work too.
_WHATWG = {
    "utf-8": "unicode-1-1-utf-8 utf-8 utf8",
    "cp866": "866 cp866 csibm866 ibm866",
    "iso8859_2": "csisolatin2 iso-8859-2 iso-ir-101 iso8859-2 iso88592 iso_8859-2 iso_8859-2:1987 l2 latin2",
    "iso8859_3": "csisolatin3 iso-8859-3 iso-ir-109 iso8859-3 iso88593 iso_8859-3 iso_8859-3:1988 l3 latin3",
    "iso8859_4": "csisolatin4 iso-8859-4 iso-ir-110 iso8859-4 iso88594 iso_8859-4 iso_8859-4:1988 l4 latin4",
    "iso8859_5": "csisolatincyrillic cyrillic iso-8859-5 iso-ir-144 iso8859-5 iso88595 iso_8859-5 iso_8859-5:1988",
    "iso8859_6": "arabic asmo-708 csiso88596e csiso88596i csisolatinarabic ecma-114 iso-8859-6 iso-8859-6-e "
                 "iso-8859-6-i iso-ir-127 iso8859-6 iso88596 iso_8859-6 iso_8859-6:1987",
    "iso8859_7": "csisolatingreek ecma-118 elot_928 greek greek8 iso-8859-7 iso-ir-126 iso8859-7 iso88597 "
                 "iso_8859-7 iso_8859-7:1987 sun_eu_greek",
    "iso8859_8": "csiso88598e csisolatinhebrew hebrew iso-8859-8 iso-8859-8-e iso-ir-138 iso8859-8 iso88598 "
                 "iso_8859-8 iso_8859-8:1988 visual csiso88598i iso-8859-8-i logical",
    "iso8859_10": "csisolatin6 iso-8859-10 iso-ir-157 iso8859-10 iso885910 l6 latin6",
    "iso8859_13": "iso-8859-13 iso8859-13 iso885913",
    "iso8859_14": "iso-8859-14 iso8859-14 iso885914",
    "iso8859_15": "csisolatin9 iso-8859-15 iso8859-15 iso885915 iso_8859-15 l9",
    "iso8859_16": "iso-8859-16",
    "koi8_r": "cskoi8r koi koi8 koi8-r koi8_r",
    "koi8_u": "koi8-u koi8-ru",
    "mac_roman": "csmacintosh mac macintosh x-mac-roman",
    "cp874": "dos-874 iso-8859-11 iso8859-11 iso885911 tis-620 windows-874",
    "cp1250": "cp1250 windows-1250 x-cp1250",
    "cp1251": "cp1251 windows-1251 x-cp1251",
    "cp1252": "ansi_x3.4-1968 cp1252 cp819 csisolatin1 ibm819 iso-8859-1 iso-ir-100 iso8859-1 iso88591 "
              "iso_8859-1 iso_8859-1:1987 l1 latin1 windows-1252 x-cp1252",
    "cp1253": "cp1253 windows-1253 x-cp1253",
    "cp1254": "cp1254 csisolatin5 iso-8859-9 iso-ir-148 iso8859-9 iso88599 iso_8859-9 iso_8859-9:1989 l5 "
              "latin5 windows-1254 x-cp1254",
    "cp1255": "cp1255 windows-1255 x-cp1255",
    "cp1256": "cp1256 windows-1256 x-cp1256",
    "cp1257": "cp1257 windows-1257 x-cp1257",
    "cp1258": "cp1258 windows-1258 x-cp1258",
    "mac_cyrillic": "x-mac-cyrillic x-mac-ukrainian",
    "gb18030": "chinese csgb2312 csiso58gb231280 gb2312 gb_2312 gb_2312-80 gbk iso-ir-58 x-gbk gb18030",
    "big5hkscs": "big5 big5-hkscs cn-big5 csbig5 x-x-big5",
    "euc_jis_2004": "cseucpkdfmtjapanese euc-jp x-euc-jp",
    "iso2022_jp_2": "csiso2022jp iso-2022-jp",
    "cp932": "csshiftjis ms932 ms_kanji shift-jis shift_jis sjis windows-31j x-sjis",
    "cp949": "cseuckr csksc56011987 euc-kr iso-ir-149 korean ks_c_5601-1987 ks_c_5601-1989 ksc5601 ksc_5601 "
             "windows-949",
    # WHATWG maps these to its "replacement" decoder (no browser renders them); mail still
    # carries them, and Python decodes all but ISO-2022-CN.
    "hz": "hz-gb-2312",
    "iso2022_kr": "csiso2022kr iso-2022-kr",
    "utf_16_be": "utf-16be",
    "utf_16_le": "utf-16le",
    "utf_16": "utf-16",
    "latin-1": "x-user-defined",
}
for _codec, _labels in _WHATWG.items():
    for _label in _labels.split():
        _SUPERSETS.setdefault(_label, _codec)
del _codec, _labels, _label

# Tried in order when a codec is a plain superset and strict decoding still fails: the
# extended ISO-2022-JP variants carry the Windows and JIS X 0213 characters.
_SECOND_TRIES = {
    "iso2022_jp_2": ("iso2022_jp_ext", "iso2022_jp_2004", "iso2022_jp_3", "x-iso2022-jp-ms"),
    "cp1252": ("latin-1",),
    "ascii": (),
}

FALLBACK = "utf-8"
_WESTERN = frozenset(("cp1252", "latin-1", "iso8859-15"))


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
    except (LookupError, ValueError):  # ValueError: a label with a NUL in it
        return None


def _try(data: bytes, codec: str) -> str | None:
    try:
        if codec == "x-iso2022-jp-ms":
            return decode_iso2022jp_ms(data)
        return data.decode(codec)
    except (UnicodeDecodeError, LookupError):
        return None


_ESCAPES = {
    b"\x1b(B": "ascii", b"\x1b(J": "roman", b"\x1b(I": "kana", b"\x1b$@": "jis", b"\x1b$B": "jis",
    b"\x1b$(B": "jis", b"\x1b$(Q": "jis", b"\x1b$(D": "jisx0212", b"\x1b$(O": "jis",
}


def decode_iso2022jp_ms(data: bytes) -> str:
    """Decode ISO-2022-JP as Windows mailers write it (CP50220/CP50221, strict).

    Outlook and Japanese webmail put NEC row 13 (circled digits, roman numerals) and IBM
    extension characters into JIS X 0208 segments, which no Python ISO-2022-JP codec
    knows. Each double-byte JIS pair is turned into its Shift_JIS pair and decoded as
    CP932, which has those rows; JIS X 0212 goes through EUC-JP, half-width katakana
    (``ESC ( I`` or SO/SI) through JIS X 0201. Raises ``UnicodeDecodeError`` on bytes
    that are not ISO-2022-JP, so a caller can try another codec.
    """
    out: list[str] = []
    mode = "ascii"
    shifted = False
    i = 0
    while i < len(data):
        if data[i] == 0x1B:
            for seq, name in _ESCAPES.items():
                if data.startswith(seq, i):
                    mode, i = name, i + len(seq)
                    break
            else:
                raise UnicodeDecodeError("x-iso2022-jp-ms", data, i, i + 1, "unknown escape sequence")
            continue
        byte = data[i]
        if byte in (0x0E, 0x0F):  # SO / SI: half-width katakana in or out
            shifted, i = byte == 0x0E, i + 1
            continue
        if byte >= 0x80:
            raise UnicodeDecodeError("x-iso2022-jp-ms", data, i, i + 1, "8-bit byte in a 7-bit encoding")
        if byte < 0x21 or byte == 0x7F or mode in ("ascii", "roman") and not shifted:
            out.append("\u00a5" if mode == "roman" and byte == 0x5C else chr(byte))
            i += 1
            continue
        if mode == "kana" or shifted:
            if byte > 0x5F:
                raise UnicodeDecodeError("x-iso2022-jp-ms", data, i, i + 1, "not a half-width katakana")
            out.append(bytes([byte + 0x80]).decode("cp932"))
            i += 1
            continue
        if i + 1 >= len(data) or not 0x21 <= data[i + 1] <= 0x7E:
            raise UnicodeDecodeError("x-iso2022-jp-ms", data, i, i + 2, "broken double-byte character")
        first, second = byte, data[i + 1]
        if mode == "jisx0212":
            out.append(bytes([0x8F, first | 0x80, second | 0x80]).decode("euc_jp"))
        else:
            lead = (first + 1) // 2 + (0x70 if first <= 0x5E else 0xB0)
            trail = second + (0x1F if second <= 0x5F else 0x20) if first % 2 else second + 0x7E
            out.append(bytes([lead, trail]).decode("cp932"))
        i += 2
    return "".join(out)


def _cyrillic_score(text: str) -> int:
    """How much ``text`` reads like Cyrillic prose: running text is mostly lower case, and
    other non-ASCII characters (box drawing, symbols) count heavily against it."""
    lower = sum(1 for ch in text if "\u0430" <= ch <= "\u044f" or ch == "\u0451")
    upper = sum(1 for ch in text if "\u0410" <= ch <= "\u042f" or ch == "\u0401")
    other = sum(1 for ch in text if ord(ch) > 0x7F) - lower - upper
    return lower - upper - 3 * other


_GB2312_PAIR = re.compile(rb"[\xa1-\xf7][\xa1-\xfe]")
_HIGH_RUN = re.compile(rb"[\x80-\xff]+")
_DETECT_SAMPLE = 64 * 1024


def _share(text: str, low: str, high: str) -> float:
    """The share of ``text``'s non-ASCII characters that lie in ``low``..``high``."""
    wide = [ch for ch in text if ord(ch) > 0x7F]
    return sum(1 for ch in wide if low <= ch <= high) / len(wide) if wide else 0.0


def detect_codec(data: bytes) -> str:
    """A guess at the codec of 8-bit ``data`` that is not UTF-8 and carries no usable label.

    Small and deterministic, in this order: Korean when every 8-bit run is double-byte and
    reads as Hangul in EUC-KR; Japanese when Shift_JIS gives kana; Cyrillic (KOI8-R or
    Windows-1251, whichever gives mostly lower-case letters) when most letters are 8-bit;
    Chinese when the pairs fit GB2312 (GB18030), else Big5; Windows-1252 for the rest.
    """
    if len(data) > _DETECT_SAMPLE:  # a sample is enough, cut after an ASCII byte so no character is split
        cut = max(data.rfind(b" ", 0, _DETECT_SAMPLE), data.rfind(b"\n", 0, _DETECT_SAMPLE))
        data = data[: cut if cut > 0 else _DETECT_SAMPLE]
    runs = _HIGH_RUN.findall(data)
    high = sum(len(r) for r in runs)
    if not high:
        return "ascii"
    if all(len(r) % 2 == 0 for r in runs):
        korean = _try(data, "cp949")
        if korean is not None and _share(korean, "\uac00", "\ud7a3") >= 0.9:
            return "cp949"
    japanese = _try(data, "cp932")
    if japanese is not None and _share(japanese, "\u3040", "\u30ff") >= 0.2:
        return "cp932"
    letters = sum(1 for b in data if 0x41 <= b <= 0x5A or 0x61 <= b <= 0x7A)
    words = len(runs) >= 2 and high / len(runs) <= 12
    cyrillic = None
    if high >= 0.5 * (letters + high):
        scores = {codec: _cyrillic_score(data.decode(codec, "replace")) for codec in ("koi8_r", "cp1251")}
        best = max(scores, key=lambda codec: (scores[codec], codec == "cp1251"))
        cyrillic = best if scores[best] > 0 else None
    if cyrillic and words:
        return cyrillic
    if high < 0.3 * (letters + high):  # a few accented letters in Latin-script text
        return cyrillic or "cp1252"
    pairs = sum(len(_GB2312_PAIR.findall(r)) for r in runs)
    if pairs * 2 >= high * 0.8 and _try(data, "gb18030") is not None:
        return "gb18030"
    if _try(data, "big5hkscs") is not None:
        return "big5hkscs"
    return cyrillic or "cp1252"


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
    if codec in _WESTERN and not data.isascii() and (utf8 := _try(data, "utf-8")) is not None:
        # Valid multi-byte UTF-8 under a Western label is UTF-8 mislabelled: as Windows-1252
        # it would read "Ã©" for "é", and real Western text never forms such sequences.
        return utf8, f"charset {shown!r} holds UTF-8; decoded as utf-8"
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
    # UTF-8 first: it is what undeclared 8-bit mail mostly is, and it never decodes text in
    # another charset by accident. Then the other parts' charsets, then a detection.
    candidates = [FALLBACK] + [c for c in (codec_for(h) for h in hints) if c] + [detect_codec(data), "cp1252", "latin-1"]
    for name in candidates:
        if name not in tried:
            tried.add(name)
            text = _try(data, name)
            if text is not None:
                return text, f"{first_problem}; decoded as {name}"
        if name == FALLBACK:
            text = _mostly_utf8(data)
            if text is not None:
                return text, f"{first_problem}; decoded as utf-8 with a few broken sequences replaced"
    raise AssertionError("latin-1 decodes every byte string")  # pragma: no cover


def _mostly_utf8(data: bytes) -> str | None:
    """``data`` as UTF-8 with U+FFFD for broken sequences, when it is mostly good UTF-8: at
    least two well-formed non-ASCII characters and one broken sequence, or one for every ten
    of them (a character cut at a line or length limit). Else None, so a stray Latin-1 byte
    in ASCII text is read as Latin-1, not replaced."""
    text = data.decode("utf-8", "replace")
    broken = text.count("\ufffd")
    good = sum(1 for ch in text if ord(ch) > 0x7F) - broken
    return text if good >= 2 and broken <= max(1, good // 10) else None


def is_known(label: str | None) -> bool:
    """True when ``label`` names a charset this module can decode."""
    return codec_for(label) is not None
