"""Threading keys of a received message, and the reference tag carried in subjects.

A reply is attached to its interaction by looking up, in order, the message ids from
:func:`thread_keys` against every Message-ID sent or received, and failing that by the
reference number :func:`find_reference` reads from a subject tag such as ``[#CC-1234]``.
:func:`tag_subject` writes that tag into outgoing subjects. The lookups themselves belong
to the caller (they need the database); this module is pure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from channels.email.parsing import ParsedMessage

DEFAULT_PREFIX = "CC"
# Reply prefixes of common clients and languages, collapsed into one "Re: " when tagging.
_REPLY_PREFIX = re.compile(
    r"^(\s*(re|aw|sv|vs|antw|antwort|ref|rif|r|回复|回覆|答复|答覆|返信)\s*(\[\d+\]|\(\d+\))?\s*[:：])+\s*",
    re.IGNORECASE,
)
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class ThreadKeys:
    """What a message offers for threading.

    ``message_id``: its own id (None when it has none). ``parents``: ids of earlier
    messages, best first: the In-Reply-To id, then the References ids from the most recent
    to the thread root; its own id and repeats are left out.
    """

    message_id: str | None
    parents: tuple[str, ...]


def thread_keys(parsed: ParsedMessage) -> ThreadKeys:
    """The :class:`ThreadKeys` of ``parsed`` (empty parents for unparseable messages)."""
    ordered: dict[str, None] = {}
    if parsed.in_reply_to:
        ordered[parsed.in_reply_to] = None
    for mid in reversed(parsed.references):
        ordered.setdefault(mid, None)
    ordered.pop(parsed.message_id, None)  # type: ignore[arg-type]
    return ThreadKeys(parsed.message_id, tuple(ordered))


def _tag_pattern(prefix: str) -> re.Pattern[str]:
    return re.compile(r"\[\s*#\s*" + re.escape(prefix) + r"\s*-\s*(\d{1,18})\s*\]", re.IGNORECASE)


def find_reference(subject: str, prefix: str = DEFAULT_PREFIX) -> int | None:
    """The reference number in the first ``[#<prefix>-<n>]`` tag of ``subject``, or None.

    Matching ignores case and stray spaces inside the brackets (``[# cc - 12 ]``), which
    some clients and people introduce.
    """
    m = _tag_pattern(prefix).search(subject or "")
    return int(m.group(1)) if m else None


def tag(reference: int, prefix: str = DEFAULT_PREFIX) -> str:
    """The subject tag for ``reference``: ``[#<prefix>-<reference>]``."""
    return f"[#{prefix}-{reference}]"


def tag_subject(subject: str, reference: int, prefix: str = DEFAULT_PREFIX, reply: bool = True) -> str:
    """``subject`` carrying exactly one tag of ours, for ``reference``, after one ``Re: ``.

    Existing tags with this prefix (for this or another reference) are removed first, so
    the tag is never duplicated; runs of reply prefixes (``Re: RE: AW: 回复:``) collapse
    into one ``Re: `` when ``reply`` is True and are dropped when it is False. Line breaks
    and runs of white space become single spaces, so the result is safe as a header value.
    """
    if reference < 0:
        raise ValueError(f"reference must be a non-negative number, not {reference}")
    text = _SPACES.sub(" ", subject or "").strip()
    text = _tag_pattern(prefix).sub("", text)
    text = _SPACES.sub(" ", text).strip()
    text = _REPLY_PREFIX.sub("", text).strip()
    tagged = f"{tag(reference, prefix)} {text}".strip()
    return f"Re: {tagged}" if reply else tagged
