"""The narrow interface between the FastAGI server and the application.

The server turns each ``inbound`` FastAGI request into an :class:`InboundCall` and asks the
application (any object satisfying :class:`CallHandling`) what to do; it carries out the
:data:`CallInstruction` on the channel. A ``dialresult`` request becomes a :class:`DialResult`.

A call that is re-routed after a failed dial (``CC_RETRY=1``) arrives again through
``call_arrived`` with the same ``uniqueid``: that is how the application recognises it as the
same interaction, still waiting.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Union

from channels.telephony.agi_protocol import quote_argument


@dataclass(frozen=True)
class InboundCall:
    """A caller waiting in the dialplan, as the FastAGI environment describes it.

    ``caller_number`` is ``agi_callerid`` exactly as the PBX gave it (None when absent or
    ``unknown``); the application normalises it to E.164. ``dialed_number`` is ``agi_dnid``
    (None for ``unknown``). ``queue_hint`` and ``ivr_digits`` are the request's first two
    arguments (``AGI(agi://host/inbound,support,${IVR_DIGITS})``); without a second argument
    ``ivr_digits`` is the ``IVR_DIGITS`` channel variable if it was read. ``args`` holds all arguments.
    ``variables`` are the channel variables the server read (name -> value, unset ones absent).
    ``arrived_at`` is when the request came in (epoch seconds, injected clock).
    """

    uniqueid: str
    channel: str
    caller_number: str | None
    caller_name: str | None
    dialed_number: str | None
    extension: str
    context: str
    language: str
    queue_hint: str | None
    ivr_digits: str | None
    args: tuple[str, ...]
    variables: tuple[tuple[str, str], ...]
    arrived_at: float

    def variable(self, name: str) -> str | None:
        """The value read for channel variable ``name``, or None."""
        return dict(self.variables).get(name)


@dataclass(frozen=True)
class DialAgent:
    """Send the caller to an agent's phone: the dialplan dials ``endpoint`` for ``timeout_seconds``.

    Raises ``ValueError`` (or ``AgiArgumentError`` for CR/LF/NUL) on construction for an empty
    endpoint, a non-positive timeout or an unusable interaction id.
    """

    endpoint: str
    timeout_seconds: int
    interaction_id: str

    def __post_init__(self) -> None:
        if not self.endpoint or not self.interaction_id:
            raise ValueError("DialAgent needs an endpoint and an interaction id")
        if not isinstance(self.timeout_seconds, int) or self.timeout_seconds <= 0:
            raise ValueError(f"dial timeout must be a positive whole number of seconds: {self.timeout_seconds!r}")
        quote_argument(self.endpoint)
        quote_argument(self.interaction_id)


@dataclass(frozen=True)
class QueueClosed:
    """No service now: the dialplan plays ``announcement`` (the CC_CLOSED_ANNOUNCEMENT variable)."""

    announcement: str = "closed"

    def __post_init__(self) -> None:
        quote_argument(self.announcement)


@dataclass(frozen=True)
class ReleaseCall:
    """End the session without dialling (e.g. a blocked caller): the dialplan goes on to hang up."""


CallInstruction = Union[DialAgent, QueueClosed, ReleaseCall]


@dataclass(frozen=True)
class QueuePosition:
    """Where a waiting caller stands, for announcements (CC_QUEUE_POSITION, CC_ESTIMATED_WAIT)."""

    position: int
    estimated_wait_seconds: int | None = None


@dataclass(frozen=True)
class DialResult:
    """The dialplan's report after dialling an agent: ``status`` is Asterisk's ``DIALSTATUS``
    (``ANSWER``, ``NOANSWER``, ``BUSY``, ``CHANUNAVAIL``, ``CONGESTION``, ``CANCEL``...)."""

    interaction_id: str
    status: str
    uniqueid: str
    channel: str
    at: float


class CallHandling(Protocol):
    """What the FastAGI server needs from the application (the switchboard implements it)."""

    async def call_arrived(self, call: InboundCall) -> CallInstruction:
        """Route ``call``; return when there is a decision. The caller hears music until then.

        May take as long as the queue does. An exception ends the session without dialling
        (logged); a decision returned after :meth:`caller_hung_up` is ignored.
        """
        ...

    def queue_position(self, call: InboundCall) -> QueuePosition | None:
        """The caller's current place in line, or None to announce nothing. Called between hold
        slices; must be cheap and must not block."""
        ...

    def caller_hung_up(self, call: InboundCall, at: float) -> None:
        """The caller hung up (``HANGUP``, a dead channel or a closed socket) at ``at`` before the
        session could hand the call to the dialplan: end the interaction as abandoned."""
        ...

    async def dial_result(self, result: DialResult) -> bool:
        """Record how dialling the offered agent ended. Return True to route the call again
        (the caller keeps holding, CC_RETRY=1), False to let the dialplan finish. A caller who
        is still there is never dropped: an unknown or stale report still routes again."""
        ...

    def call_answered(self, interaction_id: str, uniqueid: str, at: float) -> None:
        """The agent's phone answered the call of ``interaction_id`` (Dial's ``U()`` subroutine;
        ``uniqueid`` is the agent channel's). The interaction is answered and held by the agent."""
        ...

    def channel_gone(self, uniqueid: str, at: float) -> None:
        """The caller channel ``uniqueid`` hung up (its hangup handler ran): a waiting or ringing
        call is abandoned, a connected one ended. Repeated or unknown reports are ignored."""
        ...
