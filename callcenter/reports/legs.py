"""Queue legs: the visits of one contact to the queues, derived from its event log (pure).

A contact may visit several queues. It enters a queue when it is queued (created queued, or
queued later by a channel flow), and each of these closes the leg it is on and opens the next
one, at the same instant:

- **overflow** (the routing core's ``overflowed`` entry, ``{"source", "target"}``) and a
  supervisor's **move** (``moved``, ``{"queue"}``): the leg leaves unanswered ("overflowed");
- **transfer** (a ``state`` entry with ``step: transfer``, ``{"queue"}``): the leg was answered
  and its agent's handling ends at the transfer ("transferred"); the first answer stays on
  the first leg, the next queue's wait starts at the transfer;
- **callback requested** (an ``abandon`` step whose ``reason`` is ``callback_requested``): the
  customer asked to be called back instead of waiting; not an abandon. The callback itself is
  a contact whose payload names the one it serves (``callback_for``): its legs are
  **callback legs**, counted apart from the queue's waiting customers;
- **reopen** (a customer's reply reopens finished email): a new leg in the last queue.

Within a leg: ``connect`` is the answer (its agent is the leg's agent), ``end`` the end of
the conversation, ``wrap_up_end`` the end of the after-contact work; ``abandon`` closes the
leg unanswered. Outbound contacts (click-to-dial, an outbound call reported by a PBX) never
wait in a queue: they have no legs, except a callback (outbound, ``callback_for`` set), which
waits in a queue for an agent like any contact.

:func:`legs_of` is the one derivation; the reports read the log from the record
(:mod:`callcenter.records.reporting`) and today's live figures from the committed writes
(:mod:`callcenter.reports.livestats`) and both call it, so both see the same legs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Mapping, Sequence

CALLBACK_REASON = "callback_requested"

#: The kinds of log entry :func:`legs_of` reads; an entry of any other kind changes no leg.
SHAPING_KINDS = frozenset({"created", "routed", "overflowed", "moved", "state"})

# Outcomes of a leg.
WAITING, ANSWERED, ABANDONED, OVERFLOWED, CALLBACK_REQUESTED = (
    "waiting", "answered", "abandoned", "overflowed", "callback_requested")


@dataclass(frozen=True)
class ContactHeader:
    """What the legs need of the interaction's row: identity, channel, direction, the queue it
    was created for, its disposition, and ``callback_for`` when it is a callback."""

    id: int
    channel: str
    direction: str
    queue: str | None
    disposition: str | None = None
    callback_for: int | None = None


@dataclass(frozen=True)
class LogEntry:
    """One entry of the interaction's event log: ``kind`` and ``details`` as the record keeps
    them, ``id`` its place in the log (0 when unknown)."""

    at: datetime
    kind: str
    details: Mapping[str, Any] = field(default_factory=dict)
    id: int = 0


@dataclass(frozen=True)
class ContactHistory:
    """A contact's header and the entries of its log that shape legs, oldest first."""

    header: ContactHeader
    entries: tuple[LogEntry, ...]


@dataclass(frozen=True)
class Leg:
    """One visit of contact ``contact`` to ``queue`` (``index`` 0 is the first).

    ``left_at`` is when it stopped waiting (answered, abandoned, overflowed, callback asked);
    ``handled_until`` when its agent's work on it ended (the transfer, or the end of wrap-up);
    ``ended_at`` when the conversation ended. ``disposition`` is the contact's, on the leg
    that finished it. The ``contact_*`` fields describe the whole contact and are set on its
    first leg only (None elsewhere): ``contact_wait`` from first entry to the first answer on
    any leg, ``contact_outcome`` the first leg's outcome unless a later leg was answered,
    ``contact_legs_answered`` how many legs were answered, ``contact_finished`` whether the
    last answered leg's handling ended, ``contact_transferred`` whether any leg was
    transferred, ``contact_disposition`` the contact's disposition.
    """

    contact: int
    index: int
    queue: str
    channel: str
    entered_at: datetime
    outcome: str = WAITING
    left_at: datetime | None = None
    agent: str | None = None
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    handled_until: datetime | None = None
    transferred: bool = False
    callback: bool = False
    disposition: str | None = None
    contact_wait: float | None = None
    contact_outcome: str | None = None
    contact_legs_answered: int | None = None
    contact_finished: bool | None = None
    contact_transferred: bool | None = None
    contact_disposition: str | None = None

    @property
    def wait(self) -> float | None:
        """Seconds from entry to leaving the queue (None while waiting)."""
        return None if self.left_at is None else max(0.0, (self.left_at - self.entered_at).total_seconds())

    @property
    def handle_time(self) -> float | None:
        """Talk + hold + wrap-up seconds: answer to ``handled_until``; None until handling ended."""
        if self.answered_at is None or self.handled_until is None:
            return None
        return max(0.0, (self.handled_until - self.answered_at).total_seconds())


def legs_of(history: ContactHistory) -> list[Leg]:
    """The legs of one contact, in order; [] for an outbound contact or one never queued."""
    header = history.header
    if header.direction == "outbound" and header.callback_for is None:
        return []
    # Plain dicts while walking the log (a frozen Leg per change is slow at 100,000 contacts).
    legs: list[dict[str, Any]] = []

    def open_leg(at: datetime, queue: str | None) -> None:
        queue = queue or (legs[-1]["queue"] if legs else header.queue) or ""
        legs.append({"queue": queue, "entered_at": at, "outcome": WAITING})

    for entry in history.entries:
        kind, d = entry.kind, entry.details
        step = d.get("step") if kind == "state" else None
        current = legs[-1] if legs else None
        waiting = current is not None and current["outcome"] == WAITING
        answered = current is not None and current["outcome"] == ANSWERED
        if kind == "created":
            if d.get("state") == "queued":
                open_leg(entry.at, header.queue)
        elif kind == "routed":
            if current is not None and len(legs) == 1 and d.get("queue"):
                current["queue"] = d["queue"]
        elif kind in ("overflowed", "moved") or (step == "queue" and d.get("from") == "queued"):
            target = d.get("target") or d.get("queue")
            if waiting and target and target != current["queue"]:
                current.update(outcome=OVERFLOWED, left_at=entry.at)
                open_leg(entry.at, target)
        elif step == "queue" or step == "reopen":
            if not waiting:
                open_leg(entry.at, d.get("queue"))
        elif step == "connect":
            if waiting:
                current.update(outcome=ANSWERED, left_at=entry.at, answered_at=entry.at, agent=d.get("agent"))
        elif step == "transfer":
            if answered:
                current.update(transferred=True, handled_until=entry.at, ended_at=entry.at)
            open_leg(entry.at, d.get("queue"))
        elif step == "end":
            if answered and current.get("ended_at") is None:
                current["ended_at"] = entry.at
        elif step == "wrap_up_end":
            if answered and current.get("handled_until") is None:
                current.update(handled_until=entry.at, ended_at=current.get("ended_at") or entry.at)
        elif step == "abandon":
            if waiting:
                why = CALLBACK_REQUESTED if d.get("reason") == CALLBACK_REASON else ABANDONED
                current.update(outcome=why, left_at=entry.at)
    if not legs:
        return []
    answered_legs = [leg for leg in legs if leg.get("answered_at") is not None]
    first, last = legs[0], legs[-1]
    if answered_legs:
        answered_legs[-1]["disposition"] = header.disposition
        wait = max(0.0, (answered_legs[0]["answered_at"] - first["entered_at"]).total_seconds())
    else:
        left = last.get("left_at")
        wait = None if left is None else max(0.0, (left - first["entered_at"]).total_seconds())
    first.update(
        contact_wait=wait, contact_outcome=ANSWERED if answered_legs else last["outcome"],  # never "overflowed"
        contact_legs_answered=len(answered_legs),
        contact_finished=bool(answered_legs) and last["outcome"] != WAITING
        and answered_legs[-1].get("handled_until") is not None,
        contact_transferred=any(leg.get("transferred") for leg in legs), contact_disposition=header.disposition)
    callback = header.callback_for is not None
    return [Leg(header.id, i, leg.pop("queue"), header.channel, leg.pop("entered_at"), callback=callback, **leg)
            for i, leg in enumerate(legs)]


def header_of(interaction: Any) -> ContactHeader:
    """The :class:`ContactHeader` of a record's interaction row (any object with its fields)."""
    payload = getattr(interaction, "payload", None) or {}
    callback_for = payload.get("callback_for")
    return ContactHeader(interaction.id, interaction.channel, interaction.direction, interaction.queue,
                         interaction.disposition, callback_for if isinstance(callback_for, int) else None)


def entries_of(events: Sequence[Any]) -> tuple[LogEntry, ...]:
    """The :class:`LogEntry` values of record events (anything with ``at``, ``kind``, ``details``)."""
    return tuple(LogEntry(e.at, e.kind, dict(e.details or {}), e.id) for e in events)
