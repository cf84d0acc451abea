"""The interaction lifecycle state machine."""

from __future__ import annotations

import pytest

from callcenter.dispatch.lifecycle import FINAL_STATES, IllegalTransition, State, Step, can, transition


def test_answered_call_walks_every_timestamp_in_order():
    """A handled interaction stamps queued, offered, accepted, answered, ended and wrap-up ended."""
    state, stamps = State.NEW, []
    for step in (Step.QUEUE, Step.OFFER, Step.ACCEPT, Step.CONNECT, Step.END, Step.WRAP_UP_END):
        t = transition(state, step)
        state = t.state
        stamps.append(t.stamp)
    assert state is State.COMPLETED
    assert stamps == ["queued_at", "offered_at", "accepted_at", "answered_at", "ended_at", "wrap_up_ended_at"]


def test_rejected_offer_goes_back_in_line_without_a_stamp():
    """A rejected or expired offer returns the interaction to queued and stamps nothing."""
    assert transition("offered", "return") == transition(State.OFFERED, Step.RETURN)
    assert transition(State.OFFERED, Step.RETURN).state is State.QUEUED
    assert transition(State.OFFERED, Step.RETURN).stamp is None


def test_abandon_only_while_waiting():
    """A customer can abandon while queued or offered, not once connected."""
    assert transition(State.QUEUED, Step.ABANDON).state is State.ABANDONED
    assert transition(State.OFFERED, Step.ABANDON).stamp == "ended_at"
    with pytest.raises(IllegalTransition) as info:
        transition(State.CONNECTED, Step.ABANDON)
    assert "cannot abandon an interaction that is connected" in str(info.value)


def test_final_states_accept_only_a_reopen():
    """Completed work only reopens; abandoned and unhandled work takes no step at all."""
    for state in FINAL_STATES:
        legal = [step for step in Step if can(state, step)]
        assert legal == ([Step.REOPEN] if state is State.COMPLETED else []), state


def test_unknown_names_are_value_errors():
    """A state or step name the machine does not know is a ValueError, not a silent no-op."""
    with pytest.raises(ValueError):
        transition("flying", "queue")
