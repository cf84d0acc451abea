"""A scripted stand-in for the application behind the FastAGI server (satisfies CallHandling)."""

from __future__ import annotations

from twisted.internet.defer import Deferred

from channels.telephony.callhandling import CallInstruction, DialResult, InboundCall, QueuePosition


class ScriptedCallHandling:
    """Answers ``call_arrived`` from a list of instructions (a Deferred entry means "decide later"),
    ``dial_result`` from a list of retry flags, and records everything it was told."""

    def __init__(self, decisions: list[CallInstruction | Deferred | Exception], retries: list[bool] | None = None) -> None:
        self.decisions = list(decisions)
        self.retries = list(retries or [])
        self.positions: list[QueuePosition | None] = []
        self.arrived: list[InboundCall] = []
        self.hung_up: list[tuple[InboundCall, float]] = []
        self.dial_results: list[DialResult] = []
        self.answered: list[tuple[str, str, float]] = []
        self.gone: list[tuple[str, float]] = []

    async def call_arrived(self, call: InboundCall) -> CallInstruction:
        """Record the call and return the next scripted decision (awaiting it if it is a Deferred)."""
        self.arrived.append(call)
        decision = self.decisions.pop(0)
        if isinstance(decision, Exception):
            raise decision
        if isinstance(decision, Deferred):
            return await decision
        return decision

    def queue_position(self, call: InboundCall) -> QueuePosition | None:
        """The next scripted position, or None once the script is used up."""
        return self.positions.pop(0) if self.positions else None

    def caller_hung_up(self, call: InboundCall, at: float) -> None:
        """Record the abandon and its time."""
        self.hung_up.append((call, at))

    async def dial_result(self, result: DialResult) -> bool:
        """Record the result and return the next scripted retry flag."""
        self.dial_results.append(result)
        return self.retries.pop(0)

    def call_answered(self, interaction_id: str, uniqueid: str, at: float) -> None:
        """Record the answer report."""
        self.answered.append((interaction_id, uniqueid, at))

    def channel_gone(self, uniqueid: str, at: float) -> None:
        """Record the hangup-handler report."""
        self.gone.append((uniqueid, at))
