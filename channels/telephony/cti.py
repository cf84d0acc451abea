"""The generic HTTP CTI API for PBXs other than Asterisk: event parsing and call tracking.

A PBX posts ``event=newCall|answer|hangup`` with ``from``, ``to``, ``direction``, ``callId``,
``user`` and ``cause`` (urlencoded form or JSON). :func:`parse_cti_event` validates one post
into a :class:`CtiEvent`; :class:`CtiCallTracker` is the pure per-call state machine that makes
the API safe against what real PBXs send:

* duplicates are idempotent (the same reply, no second effect);
* out-of-order events are absorbed: ``answer`` or ``hangup`` for a call never announced creates
  it first; a ``newCall`` or ``answer`` after the ``hangup`` changes nothing;
* calls never hung up are closed by :meth:`CtiCallTracker.expire` after ``max_call_age``.

The tracker returns effects as data (:class:`CallEffect`); the caller carries them out
against the switchboard. Time is passed in.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from typing import Mapping

EVENTS = ("newCall", "answer", "hangup")
DIRECTIONS = ("in", "out")
_CALL_ID = re.compile(r"^[A-Za-z0-9._:@\-]{1,128}$")
_NUMBER = re.compile(r"^\+?[0-9*#]{1,32}$")
_USER = re.compile(r"^[A-Za-z0-9._@\-]{1,64}$")
_CAUSE = re.compile(r"^[A-Za-z0-9_ \-]{0,64}$")


class CtiInputError(ValueError):
    """A CTI post that cannot be accepted; ``field`` names the offending parameter."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class CtiEvent:
    """One validated CTI post."""

    event: str
    call_id: str
    direction: str
    from_number: str | None
    to_number: str | None
    user: str | None
    cause: str | None


def _optional(params: Mapping[str, object], name: str, pattern: re.Pattern, what: str) -> str | None:
    value = params.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise CtiInputError(name, f"must be a string, not {type(value).__name__}")
    value = value.strip()
    if not pattern.match(value):
        raise CtiInputError(name, f"must be {what}")
    return value


def parse_cti_event(params: Mapping[str, object]) -> CtiEvent:
    """Validate one post's parameters; raise :class:`CtiInputError` naming the first bad field.

    ``from``/``to`` are phone numbers or extensions (digits, ``*``, ``#``, optional leading ``+``,
    spaces and dashes removed); anything else, including CR/LF, is refused rather than stored.
    """
    unknown = sorted(set(params) - {"event", "from", "to", "direction", "callId", "user", "cause"})
    if unknown:
        raise CtiInputError(unknown[0], "unknown parameter")
    event = params.get("event")
    if event not in EVENTS:
        raise CtiInputError("event", f"must be one of {', '.join(EVENTS)}")
    call_id = _optional(params, "callId", _CALL_ID, "1-128 characters of letters, digits and ._:@-")
    if call_id is None:
        raise CtiInputError("callId", "is required")
    direction = params.get("direction") or "in"
    if direction not in DIRECTIONS:
        raise CtiInputError("direction", "must be in or out")

    def number(name: str) -> str | None:
        raw = params.get(name)
        if isinstance(raw, str):
            raw = re.sub(r"[\s\-().]", "", raw)
            return _optional({name: raw}, name, _NUMBER, "a phone number or extension")
        return _optional(params, name, _NUMBER, "a phone number or extension")

    from_number, to_number = number("from"), number("to")
    if event == "newCall" and (from_number if direction == "in" else to_number) is None:
        raise CtiInputError("from" if direction == "in" else "to", "is required for newCall")
    return CtiEvent(
        event=str(event), call_id=call_id, direction=str(direction), from_number=from_number,
        to_number=to_number, user=_optional(params, "user", _USER, "an agent login"),
        cause=_optional(params, "cause", _CAUSE, "a short cause code"),
    )


class CallState(enum.Enum):
    """Where a tracked CTI call is."""

    RINGING = "ringing"
    ANSWERED = "answered"
    ENDED = "ended"


@dataclass(frozen=True)
class CallEffect:
    """Something the switchboard must do: ``kind`` is create, answer or end."""

    kind: str
    call_id: str
    at: float
    event: CtiEvent | None = None
    reason: str | None = None


@dataclass
class TrackedCall:
    """A call the tracker knows: its state and when it started/changed."""

    call_id: str
    state: CallState
    started: float
    changed: float
    first: CtiEvent = field(repr=False)


class CtiCallTracker:
    """Per-call state machine over CTI events; see the module docstring for its guarantees.

    ``max_call_age`` (seconds) closes calls that were never hung up; ``forget_after`` keeps
    ended calls that long so late duplicates stay idempotent.
    """

    def __init__(self, max_call_age: float = 4 * 3600, forget_after: float = 3600) -> None:
        self._calls: dict[str, TrackedCall] = {}
        self.max_call_age = max_call_age
        self.forget_after = forget_after

    def get(self, call_id: str) -> TrackedCall | None:
        """The tracked call, or None."""
        return self._calls.get(call_id)

    def __len__(self) -> int:
        return len(self._calls)

    def handle(self, event: CtiEvent, now: float) -> list[CallEffect]:
        """Apply one event at ``now``; return the effects to carry out (empty for a duplicate)."""
        call = self._calls.get(event.call_id)
        effects: list[CallEffect] = []
        if call is None:
            call = TrackedCall(event.call_id, CallState.RINGING, now, now, event)
            self._calls[event.call_id] = call
            effects.append(CallEffect("create", event.call_id, now, event))
        if call.state is CallState.ENDED:
            return effects
        if event.event == "answer" and call.state is CallState.RINGING:
            call.state, call.changed = CallState.ANSWERED, now
            effects.append(CallEffect("answer", event.call_id, now, event))
        elif event.event == "hangup":
            reason = event.cause or ("completed" if call.state is CallState.ANSWERED else "unanswered")
            call.state, call.changed = CallState.ENDED, now
            effects.append(CallEffect("end", event.call_id, now, event, reason))
        return effects

    def expire(self, now: float) -> list[CallEffect]:
        """End calls older than ``max_call_age`` and forget ended ones older than ``forget_after``."""
        effects = []
        for call_id in sorted(self._calls):
            call = self._calls[call_id]
            if call.state is not CallState.ENDED and now - call.started >= self.max_call_age:
                call.state, call.changed = CallState.ENDED, now
                effects.append(CallEffect("end", call_id, now, None, "timeout"))
            elif call.state is CallState.ENDED and now - call.changed >= self.forget_after:
                del self._calls[call_id]
        return effects
