"""The life of an interaction as an explicit state machine.

Every channel's interaction moves through the same states::

    new -> queued -> offered -> accepted -> connected -> wrap_up -> completed
                  \\-> abandoned (customer gave up while queued or offered)
    new -> unhandled (nobody will take it: queue closed for calls, caller blocked)

An offer that is rejected, expires or fails (phone busy) puts the interaction back to
``queued``; a transfer puts a connected interaction back to ``queued`` on another queue; a
customer's reply reopens a ``completed`` email. :func:`transition` is the only place that
knows which moves are legal and which lifecycle timestamp each one stamps; an illegal move
raises :class:`IllegalTransition` instead of being ignored.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class State(str, enum.Enum):
    """Where an interaction stands."""

    NEW = "new"
    QUEUED = "queued"
    OFFERED = "offered"
    ACCEPTED = "accepted"
    CONNECTED = "connected"
    WRAP_UP = "wrap_up"
    COMPLETED = "completed"
    ABANDONED = "abandoned"
    UNHANDLED = "unhandled"


class Step(str, enum.Enum):
    """What happened to the interaction."""

    QUEUE = "queue"              # submitted to the routing core
    OFFER = "offer"              # offered to an agent
    RETURN = "return"            # offer rejected, expired or failed: back in line
    ACCEPT = "accept"            # the agent took it (email/form opened; call: phone picked up)
    CONNECT = "connect"          # the customer and agent are talking / the agent works on it
    END = "end"                  # the customer part is over (hang-up, agent done): wrap-up starts
    WRAP_UP_END = "wrap_up_end"  # the agent finished the after-work
    ABANDON = "abandon"          # the customer gave up before an agent connected
    TRANSFER = "transfer"        # the agent handed it to another queue
    REOPEN = "reopen"            # a customer reply reopened finished work
    REFUSE = "refuse"            # nobody will take it (queue closed, caller blocked)


class IllegalTransition(Exception):
    """``step`` is not possible from ``state``; nothing was changed."""

    def __init__(self, state: State, step: Step) -> None:
        super().__init__(f"cannot {step.value} an interaction that is {state.value}")
        self.state = state
        self.step = step


@dataclass(frozen=True)
class Transition:
    """The outcome of a step: the new state and the lifecycle timestamp to stamp (if any)."""

    state: State
    stamp: str | None


_TABLE: dict[tuple[State, Step], Transition] = {}


def _allow(sources: tuple[State, ...], step: Step, target: State, stamp: str | None) -> None:
    for source in sources:
        _TABLE[(source, step)] = Transition(target, stamp)


_WAITING = (State.QUEUED, State.OFFERED)
_allow((State.NEW,), Step.QUEUE, State.QUEUED, "queued_at")
_allow((State.QUEUED,), Step.QUEUE, State.QUEUED, None)  # moved to another queue, overflow
_allow((State.QUEUED,), Step.OFFER, State.OFFERED, "offered_at")
_allow((State.OFFERED,), Step.RETURN, State.QUEUED, None)
_allow((State.OFFERED,), Step.ACCEPT, State.ACCEPTED, "accepted_at")
_allow((State.OFFERED, State.ACCEPTED), Step.CONNECT, State.CONNECTED, "answered_at")
_allow((State.ACCEPTED, State.CONNECTED), Step.END, State.WRAP_UP, "ended_at")
_allow((State.WRAP_UP,), Step.WRAP_UP_END, State.COMPLETED, "wrap_up_ended_at")
_allow(_WAITING, Step.ABANDON, State.ABANDONED, "ended_at")
_allow((State.ACCEPTED, State.CONNECTED), Step.TRANSFER, State.QUEUED, None)
_allow((State.COMPLETED, State.WRAP_UP), Step.REOPEN, State.QUEUED, "queued_at")
_allow((State.NEW,), Step.REFUSE, State.UNHANDLED, "ended_at")


def transition(state: State | str, step: Step | str) -> Transition:
    """The transition ``step`` makes from ``state``; :class:`IllegalTransition` if there is none."""
    state, step = State(state), Step(step)
    try:
        return _TABLE[(state, step)]
    except KeyError:
        raise IllegalTransition(state, step) from None


def can(state: State | str, step: Step | str) -> bool:
    """Whether ``step`` is legal from ``state``."""
    return (State(state), Step(step)) in _TABLE


FINAL_STATES = frozenset({State.COMPLETED, State.ABANDONED, State.UNHANDLED})
