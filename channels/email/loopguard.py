"""Mail loop protection: recognizing automatic mail, and capping our automatic replies.

:func:`is_automatic` says why a received message must not get an automatic reply (or None
when it may). :class:`AutoReplyLimiter` caps automatic replies per address in a sliding
window, so even a sender that defeats every header check (a broken autoresponder that
sends none of them) gets at most ``max_count`` replies per ``window`` seconds.
"""

from __future__ import annotations

import re
from collections import deque
from typing import Iterable

from channels.email.bounces import looks_like_bounce
from channels.email.headers import normalize_address, parse_addresses
from channels.email.parsing import ParsedMessage

_DAEMON_LOCAL_PARTS = frozenset(("mailer-daemon", "postmaster"))
_BULK_PRECEDENCE = frozenset(("bulk", "junk", "list", "auto_reply"))
_AUTOREPLY_HEADERS = ("x-autoreply", "x-autorespond", "x-autoresponder")
_LIST_HEADERS = ("list-id", "list-unsubscribe")
# Exchange marks mail it generated itself (OOF, inbox-rule forwards, system messages) and
# mail forwarded by an inbox rule that already went round once.
_EXCHANGE_HEADERS = ("x-ms-exchange-generated-message-source", "x-ms-exchange-inbox-rules-loop")
_COMMENT = re.compile(r"\([^()]*\)")
# Subjects of automatic replies as the common clients write them, anchored at the start.
# Outlook/Exchange: "Automatic reply:", "Out of Office:", "Read:", "Not read:",
# "Undeliverable:", "Delivery delayed:"; Apple Mail: "Auto reply:"; Gmail and others:
# "Auto-Reply", "Autoreply", "Vacation reply"; QQ Mail and Foxmail: "自动回复"; Outlook in
# Chinese: "自动答复", "已读:", "未读:", "无法送达:"; traditional Chinese: "自動回覆"; and
# Outlook's automatic reply in German, French, Spanish, Italian, Dutch, Polish, Portuguese,
# Russian, Japanese and Korean.
_AUTOMATIC_SUBJECT = re.compile(
    r"^\s*(?:\[[^\]]*\]\s*)?(?:"
    r"automatic reply|auto[- ]?reply|auto[- ]?response|autoresponse|out of (?:the )?office|"
    r"vacation reply|abwesenheitsnotiz|automatische antwort|r[ée]ponse automatique|respuesta autom[áa]tica|"
    r"risposta automatica|automatisch antwoord|automatyczna odpowied[źz]|resposta autom[áa]tica|"
    r"автоматический ответ|自動応答|자동 회신|"
    r"read|not read|undeliverable|undelivered mail returned to sender|delivery delayed|"
    r"delivery status notification|returned mail|mail delivery failed|"
    r"自动回复|自動回覆|自動回复|自动答复|自動答覆|已读|已讀|未读|未讀|无法送达|無法傳遞|退信"
    r")\s*(?::|：|\(|（|$)",
    re.IGNORECASE,
)
_REPORT_REASONS = {
    "delivery-status": "a delivery status notification (multipart/report; report-type=delivery-status)",
    "global-delivery-status": "a delivery status notification (multipart/report; report-type=global-delivery-status)",
    "disposition-notification": "a read receipt (multipart/report; report-type=disposition-notification)",
    "feedback-report": "an abuse feedback report (multipart/report; report-type=feedback-report)",
}


def _token(value: str | None) -> str:
    """The first token of a header value without comments, lower-cased.

    ``auto-replied; owner=...`` gives ``auto-replied``; ``no (sent by a person)`` gives
    ``no`` (RFC 3834 allows comments, as every structured header does).
    """
    text = value or ""
    while _COMMENT.search(text):
        text = _COMMENT.sub(" ", text)
    return text.split(";")[0].strip().split(" ")[0].lower()


def automatic_subject(subject: str) -> str | None:
    """The automatic-reply prefix ``subject`` starts with (``Automatic reply``), or None."""
    m = _AUTOMATIC_SUBJECT.match(subject)
    return m.group(0).strip().rstrip(":：(（").strip() if m else None


def is_automatic(
    parsed: ParsedMessage, own_addresses: Iterable[str] = (), envelope_sender: str | None = None,
) -> str | None:
    """Why ``parsed`` must get no automatic reply, or None when it may get one.

    Checked in this order (the first that applies is the reason): unparseable; sent from
    one of ``own_addresses``; ``Auto-Submitted`` other than ``no`` (comments ignored, RFC
    3834); ``X-Loop`` naming one of ``own_addresses``; Exchange's
    ``X-MS-Exchange-Generated-Message-Source`` or ``X-MS-Exchange-Inbox-Rules-Loop``;
    ``X-Apple-Action: VACATION``; ``X-Autoreply``, ``X-Autorespond`` or
    ``X-Autoresponder``; ``Precedence`` bulk, junk, list or auto_reply; ``List-Id`` or
    ``List-Unsubscribe``; an empty return path (the ``Return-Path: <>`` header or
    ``envelope_sender == ""``, the SMTP null sender); a MAILER-DAEMON or postmaster
    sender; a ``multipart/report`` of any report type (delivery status, read receipt,
    abuse feedback report...); a non-standard bounce; a subject that automatic replies use
    (``Automatic reply:``, ``Out of Office:``, ``Read:``, ``自动回复``...); no sender
    address at all. The reason is a sentence a person can read in a list.
    """
    if parsed.unparseable:
        return "the message could not be parsed"
    sender = parsed.from_.address if parsed.from_ else ""
    own = {normalize_address(a) for a in own_addresses}
    if sender and sender in own:
        return f"sent from our own address {sender}"
    auto = _token(parsed.header("auto-submitted"))
    if auto and auto != "no":
        return f"Auto-Submitted: {auto}"
    for value in parsed.header_all("x-loop"):
        looped = {a.address for a in parse_addresses([value])[0]} | {normalize_address(value)}
        if looped & own:
            return f"X-Loop names our address {sorted(looped & own)[0]}"
    for name in _EXCHANGE_HEADERS:
        if parsed.header(name) is not None:
            return f"generated by Exchange ({name} header)"
    if _token(parsed.header("x-apple-action")).startswith("vacation"):
        return "an Apple Mail vacation reply (X-Apple-Action: VACATION)"
    for name in _AUTOREPLY_HEADERS:
        if parsed.header(name) is not None:
            return f"{name} header present"
    precedence = _token(parsed.header("precedence"))
    if precedence in _BULK_PRECEDENCE:
        return f"Precedence: {precedence}"
    for name in _LIST_HEADERS:
        if parsed.header(name) is not None:
            return f"mailing list ({name} header)"
    return_path = parsed.header("return-path")
    if envelope_sender == "" or (return_path is not None and normalize_address(return_path) == ""):
        return "empty return path (null sender)"
    if sender.split("@", 1)[0] in _DAEMON_LOCAL_PARTS:
        return f"sent by {sender.split('@', 1)[0]}"
    if parsed.content_type == "multipart/report":
        return _REPORT_REASONS.get(
            parsed.report_type or "", f"a report (multipart/report; report-type={parsed.report_type or 'missing'})")
    if looks_like_bounce(parsed):
        return "a non-standard bounce"
    prefix = automatic_subject(parsed.subject)
    if prefix:
        return f"an automatic reply by its subject ({prefix})"
    if not sender:
        return "no sender address"
    return None


class AutoReplyLimiter:
    """At most ``max_count`` automatic replies per address in any ``window`` seconds.

    Pure: the time is passed to every call. Addresses are compared lower-cased.
    ``allow`` both checks and, when it answers True, counts the reply.
    """

    def __init__(self, max_count: int = 10, window: float = 3 * 3600) -> None:
        if max_count < 0 or window <= 0:
            raise ValueError("max_count must be >= 0 and window > 0")
        self.max_count = max_count
        self.window = window
        self._sent: dict[str, deque[float]] = {}

    def _recent(self, address: str, now: float) -> deque[float]:
        times = self._sent.get(address)
        if times is None:
            return deque()
        while times and times[0] <= now - self.window:
            times.popleft()
        if not times:
            del self._sent[address]
        return times

    def allow(self, address: str, now: float) -> bool:
        """True (and the reply counted) when ``address`` is under its cap at ``now``."""
        key = normalize_address(address)
        times = self._recent(key, now)
        if len(times) >= self.max_count:
            return False
        times.append(now)
        self._sent[key] = times
        return True

    def remaining(self, address: str, now: float) -> int:
        """How many more automatic replies ``address`` may get at ``now`` (nothing counted)."""
        return self.max_count - len(self._recent(normalize_address(address), now))

    def forget_idle(self, now: float) -> int:
        """Drop the history of addresses with no reply inside the window; return how many."""
        idle = [a for a, t in self._sent.items() if not t or t[-1] <= now - self.window]
        for address in idle:
            del self._sent[address]
        return len(idle)
