"""Split a reply's text into what the sender wrote now and the quoted history, for folding.

:func:`split_quoted` finds where the quoted history starts, recognizing what common mail
clients put there:

- an attribution line: ``On <date>, <name> wrote:`` (Gmail, Apple Mail, Thunderbird; also
  wrapped over two lines), ``Le ... a écrit :``, ``Am ... schrieb ...:``, ``El ... escribió:``,
  and the Chinese/Japanese ``在 ... 写道：`` / ``... 寫道：`` / ``... 書きました：``;
- an Outlook separator: ``-----Original Message-----`` (and ``原始邮件``/``原始郵件`` variants), or
  a header block ``From: ...`` followed by ``Sent:``/``Date:`` and ``To:``/``Subject:``
  lines (also the Chinese ``发件人:``/``发送时间:`` labels), optionally after an underscore rule;
- a trailing block of ``>``-quoted lines (only when nothing but quoted or blank lines
  follows, so answers written between quotes are never hidden).

Nothing is ever removed: ``new + quoted`` keeps every line, only the split point is chosen.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_ATTRIBUTION = [
    re.compile(r"^\s*On\b.{0,400}\bwrote:\s*$", re.IGNORECASE | re.DOTALL),
    re.compile(r"^\s*Le\b.{0,400}\ba écrit\s?:\s*$", re.IGNORECASE | re.DOTALL),
    re.compile(r"^\s*Am\b.{0,400}\bschrieb\b.{0,100}:\s*$", re.IGNORECASE | re.DOTALL),
    re.compile(r"^\s*El\b.{0,400}\bescribió:\s*$", re.IGNORECASE | re.DOTALL),
    re.compile(r"^\s*.{0,400}(写道|寫道|書きました)\s*[:：]\s*$", re.DOTALL),
]
_SEPARATOR = re.compile(
    r"^\s*-{2,}\s*(Original Message|Original|原始邮件|原始郵件|Ursprüngliche Nachricht|Message d'origine)\s*-{2,}\s*$",
    re.IGNORECASE,
)
_RULE = re.compile(r"^\s*_{10,}\s*$")
_HEADER_FROM = re.compile(r"^\s*\*?(From|发件人|寄件者|Von|De)\s*\*?\s*[:：]", re.IGNORECASE)
_HEADER_FOLLOW = re.compile(
    r"^\s*\*?(Sent|Date|To|Subject|Cc|发送时间|日期|收件人|主题|抄送|寄件日期|收件者|主旨|Gesendet|An|Betreff|Envoyé|À|Objet)\s*\*?\s*[:：]",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class QuotedSplit:
    """The result of :func:`split_quoted`.

    ``new`` is the text before the history (trailing blank lines dropped); ``quoted`` is
    the history from its first line (attribution or separator included); ``marker`` names
    what was recognized (``"attribution"``, ``"separator"``, ``"header-block"``,
    ``"quote"``) or is None when the whole text is new.
    """

    new: str
    quoted: str
    marker: str | None


def _is_quote(line: str) -> bool:
    return line.lstrip().startswith(">")


def _attribution_at(lines: list[str], i: int) -> int:
    """How many lines (1 or 2) form an attribution starting at ``i``; 0 when none does."""
    for span in (1, 2):
        if i + span > len(lines):
            break
        candidate = " ".join(ln.strip() for ln in lines[i:i + span])
        if len(candidate) > 500 or (span == 2 and not lines[i + 1].strip()):
            continue
        if any(p.match(candidate) for p in _ATTRIBUTION):
            return span
    return 0


def _header_block_at(lines: list[str], i: int) -> bool:
    """True when a ``From:`` line at ``i`` is followed by at least two header-like lines."""
    if not _HEADER_FROM.match(lines[i]):
        return False
    follow = 0
    for line in lines[i + 1:i + 7]:
        if _HEADER_FOLLOW.match(line):
            follow += 1
        elif line.strip():
            break
    return follow >= 2


def _trailing_quote_start(lines: list[str]) -> int | None:
    """Index of the first line of a quoted block that runs (with blank lines) to the end."""
    start = None
    for i in range(len(lines) - 1, -1, -1):
        line = lines[i]
        if _is_quote(line):
            start = i
        elif line.strip():
            break
    return start


def split_quoted(text: str) -> QuotedSplit:
    """Split ``text`` into the new part and the quoted history (see the module docstring)."""
    lines = text.replace("\r\n", "\n").split("\n")
    cut, marker = None, None
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        if _SEPARATOR.match(line):
            cut, marker = i, "separator"
        elif _RULE.match(line) and i + 1 < len(lines) and _header_block_at(lines, i + 1):
            cut, marker = i, "header-block"
        elif _header_block_at(lines, i):
            cut, marker = i, "header-block"
        elif not _is_quote(line) and _attribution_at(lines, i):
            span = _attribution_at(lines, i)
            following = next((ln for ln in lines[i + span:] if ln.strip()), "")
            said = " ".join(lines[i:i + span])
            # A sentence such as "On Monday Ann wrote:" inside the answer is not history:
            # real attributions are followed by quotes or carry a date or an address.
            if _is_quote(following) or "@" in said or re.search(r"\d", said):
                cut, marker = i, "attribution"
        if cut is not None:
            break
    if cut is None:
        start = _trailing_quote_start(lines)
        if start is not None:
            cut, marker = start, "quote"
    if cut is None:
        return QuotedSplit(text.strip("\n"), "", None)
    return QuotedSplit("\n".join(lines[:cut]).rstrip(), "\n".join(lines[cut:]).strip("\n"), marker)
