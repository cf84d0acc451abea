"""What the routing core decides, as data, and what its views show.

Every decision has a ``kind`` and converts to a JSON-ready dict with :meth:`to_dict`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Decision:
    """Base of every decision; ``at`` is when it was made."""

    at: float

    kind = "decision"

    def to_dict(self) -> dict[str, Any]:
        """The decision as a JSON-ready dict with its ``kind``."""
        return {"kind": self.kind, **asdict(self)}


@dataclass(frozen=True)
class Offer(Decision):
    """Offer ``interaction`` to ``agent`` until ``expires_at``; ``trace`` says why."""

    interaction: int
    agent: str
    queue: str
    expires_at: float
    trace: dict[str, Any] = field(default_factory=dict)

    kind = "offer"


@dataclass(frozen=True)
class OfferEnded(Decision):
    """An offer ended without acceptance: ``why`` is expired, rejected, failed, withdrawn."""

    interaction: int
    agent: str
    why: str

    @property
    def kind(self) -> str:  # type: ignore[override]
        """``offer_expired`` for a missed offer (timed out, delivery failed), else ``offer_withdrawn``."""
        return "offer_expired" if self.why in ("expired", "failed") else "offer_withdrawn"


@dataclass(frozen=True)
class Queued(Decision):
    """The interaction waits in ``queue`` at ``position``; ``resumed`` for a returning caller."""

    interaction: int
    queue: str
    position: int
    resumed: bool = False

    kind = "queued"


@dataclass(frozen=True)
class StepRelaxed(Decision):
    """The requirements ladder moved to ``step`` (``requirement`` text; empty: any member)."""

    interaction: int
    step: int
    requirement: str

    kind = "step_relaxed"


@dataclass(frozen=True)
class Overflowed(Decision):
    """The interaction moved from ``source`` to ``target`` keeping its place in time."""

    interaction: int
    source: str
    target: str
    why: str

    kind = "overflowed"


@dataclass(frozen=True)
class NoAgents(Decision):
    """No member of ``queue`` who could take the interaction is logged in."""

    interaction: int
    queue: str

    kind = "no_agents"


@dataclass(frozen=True)
class AgentStateChanged(Decision):
    """``agent`` is now ``state`` (logged_out, not_ready, available, busy, wrap_up)."""

    agent: str
    state: str
    reason: str | None = None

    kind = "agent_state"


@dataclass(frozen=True)
class WrapUpEnded(Decision):
    """``agent``'s wrap-up on ``channel`` is over (wrap-up is per channel).

    ``why``: ``timer`` (its time came, also when it was already over as it was restored),
    ``agent`` (:meth:`~routing.router.Router.end_wrap_up`), ``logout`` (the agent logged out),
    ``agent_not_configured`` (a reload removed the agent).
    """

    agent: str
    channel: str | None = None
    why: str = "timer"

    kind = "wrap_up_ended"


@dataclass(frozen=True)
class Removed(Decision):
    """The interaction left routing (accepted, cancelled, completed)."""

    interaction: int
    why: str

    kind = "removed"


@dataclass(frozen=True)
class WaitingView:
    """A waiting interaction: its queue, place, score and the parts of the score."""

    interaction: int
    queue: str
    position: int
    score: float
    parts: dict[str, float]
    priority: int
    tier: str
    waited: float
    step: int
    requirement: str
    offered_to: str | None
    estimated_wait: float | None


@dataclass(frozen=True)
class AgentView:
    """An agent's state for desktops and dashboards."""

    agent: str
    state: str
    reason: str | None
    since: float
    used: int
    capacity: int
    work: tuple[int, ...]
    offers: tuple[int, ...]
    phone_registered: bool
    no_answer: int
    wrap_ups: tuple[tuple[str, float], ...] = ()
