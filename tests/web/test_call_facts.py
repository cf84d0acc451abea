"""A call's facts reach the server from several reports (Dial's U() subroutine, the hangup handler,
the dialresult request, AMI events); whichever comes first counts and the rest change nothing, in
any order, so the record is the same however the PBX's reports interleave."""

from __future__ import annotations

import itertools

import pytest
from twisted.internet.defer import ensureDeferred

from channels.telephony.callhandling import DialAgent, DialResult, InboundCall

CALLER = "1700000100.1"
AGENT_LEG = "1700000100.2"


@pytest.fixture
def app(make_app):
    """The application on the shipped config (SQLite), Alice and Carol available for billing."""
    app = make_app()
    app.switchboard.set_available("alice")
    return app


def _call(at: float) -> InboundCall:
    return InboundCall(uniqueid=CALLER, channel=f"PJSIP/trunk-{CALLER}", caller_number="+14155550177",
                       caller_name="Kim Ode", dialed_number="+18005550100", extension="+18005550100",
                       context="from-pstn", language="en", queue_hint=None, ivr_digits="1", args=(),
                       variables=(), arrived_at=at)


def _ring(run, app) -> int:
    """A call to the main line, IVR 1 (billing, no ladder), offered to Alice: returns its
    interaction once dialled."""
    decision = run(ensureDeferred(app.voice.call_arrived(_call(app.clock.now()))))
    assert isinstance(decision, DialAgent) and decision.endpoint == "PJSIP/1001"
    return int(decision.interaction_id)


def _dial_result(app, iid: int, status: str) -> bool:
    result = DialResult(str(iid), status, CALLER, f"PJSIP/trunk-{CALLER}", app.clock.now())
    outcome: list = []
    ensureDeferred(app.voice.dial_result(result)).addBoth(outcome.append)
    return outcome[0]


def _steps(run, app, iid: int) -> list[str]:
    run(app.switchboard.settled())
    return [e.details["step"] for e in run(app.store.interaction_events(iid)) if e.kind == "state"]


ANSWERS = {
    "u-subroutine": lambda app, iid: app.voice.call_answered(str(iid), AGENT_LEG, app.clock.now()),
    "ami-dialend": lambda app, iid: app.voice.answered(CALLER, app.clock.now()),
}
HANGUPS = {
    "hangup-handler": lambda app, iid: app.voice.channel_gone(CALLER, app.clock.now()),
    "ami-hangup": lambda app, iid: app.voice.channel_gone(CALLER, app.clock.now()),
    "dialresult-answer": lambda app, iid: _dial_result(app, iid, "ANSWER"),
}


@pytest.mark.parametrize("answers", list(itertools.permutations(ANSWERS)), ids="+".join)
@pytest.mark.parametrize("hangups", list(itertools.permutations(HANGUPS, 2)), ids="+".join)
def test_an_answered_call_ends_the_same_whatever_reports_it_and_in_what_order(run, app, answers, hangups):
    """Every answer report, then every hang-up report, each order: connected once, ended once,
    Alice in wrap-up, nothing offered again."""
    iid = _ring(run, app)
    for name in answers:
        ANSWERS[name](app, iid)
        assert app.switchboard.holding[iid] == "alice"
    for name in hangups:
        HANGUPS[name](app, iid)
    assert _steps(run, app, iid) == ["offer", "accept", "connect", "end"]
    assert app.switchboard.wrapping[iid] == "alice" and app.switchboard.router.waiting() == []
    assert app.switchboard.router.agent_view("alice").state == "wrap_up"


@pytest.mark.parametrize("order", list(itertools.permutations(["ami-dialend", "dialresult"])), ids="+".join)
def test_a_failed_dial_counts_once_and_the_caller_is_routed_again(run, app, order):
    """NOANSWER reported by AMI and by the dialresult request, in either order: one missed offer
    for Alice, the caller keeps holding (CC_RETRY 1) and is offered to Carol."""
    iid = _ring(run, app)
    app.switchboard.set_available("carol")
    retries = []
    for name in order:
        if name == "ami-dialend":
            app.voice.dial_failed(CALLER, "NOANSWER", app.clock.now())
        else:
            retries.append(_dial_result(app, iid, "NOANSWER"))
    assert retries == [True]
    assert app.switchboard.router.agent_view("alice").no_answer == 1
    again = run(ensureDeferred(app.voice.call_arrived(_call(app.clock.now()))))
    assert again == DialAgent("PJSIP/1003", 20, str(iid))
    assert _steps(run, app, iid) == ["offer", "return", "offer"]


@pytest.mark.parametrize("order", list(itertools.permutations(["ami-cancel", "hangup-handler", "ami-hangup"])),
                         ids="+".join)
def test_a_caller_leaving_while_the_phone_rings_is_abandoned_once(run, app, order):
    """DialEnd CANCEL, the hangup handler and AMI Hangup, any order: abandoned once, the offer to
    Alice withdrawn, Alice not charged a no-answer, nothing left in line."""
    iid = _ring(run, app)
    for name in order:
        if name == "ami-cancel":
            app.voice.dial_failed(CALLER, "CANCEL", app.clock.now())
        else:
            app.voice.channel_gone(CALLER, app.clock.now())
    assert _steps(run, app, iid) == ["offer", "abandon"]
    assert run(app.store.get_interaction(iid)).state == "abandoned"
    assert app.switchboard.router.waiting() == [] and app.switchboard.router.agent_view("alice").no_answer == 0


def test_a_late_dial_result_for_a_caller_still_waiting_never_hangs_up(run, make_app):
    """The PBX never reported on the ring (a lost report): the core's safety-net expiry, 15 s after
    the ring time, puts the call back in line; the late NOANSWER then still routes the caller
    again (CC_RETRY 1) instead of ending the call."""
    from twisted.internet import reactor

    from tests.support.virtualtime import VirtualTimeReactor

    clock = VirtualTimeReactor(reactor, 1_800_000_000.0)
    app = make_app(reactor=clock)
    app.switchboard.set_available("alice")
    iid = _ring(run, app)
    clock.advance_to(clock.seconds() + 20 + 14)
    assert app.switchboard.offers[iid]["agent"] == "alice"      # the PBX's ring time comes first
    clock.advance_to(clock.seconds() + 2)
    assert iid not in app.switchboard.offers
    assert _dial_result(app, iid, "NOANSWER") is True
    assert [v.interaction for v in app.switchboard.router.waiting()] == [iid]


def test_a_caller_back_from_a_dial_nobody_reported_is_routed_again(run, app):
    """The dialresult request never reached the server (CC_RETRY unset, the dialplan routes
    again): the same call asking again while ringing is a failed dial, not a reason to drop it."""
    iid = _ring(run, app)
    app.switchboard.set_available("carol")
    again = run(ensureDeferred(app.voice.call_arrived(_call(app.clock.now()))))
    assert again == DialAgent("PJSIP/1003", 20, str(iid))
    assert app.switchboard.router.agent_view("alice").no_answer == 1


def test_ended_calls_are_remembered_for_late_reports_then_forgotten(run, make_app):
    """An ended call is still recognised (late duplicate reports) for ENDED_MEMORY seconds; the
    next call to end after that forgets it, and only it: a later call on the same channel keeps
    its own entry."""
    import dataclasses

    from twisted.internet import reactor

    from callcenter.intake.voice_calls import ENDED_MEMORY
    from tests.support.virtualtime import VirtualTimeReactor

    clock = VirtualTimeReactor(reactor, 1_800_000_000.0)
    app = make_app(reactor=clock)
    app.switchboard.set_available("alice")
    first = _ring(run, app)
    app.voice.channel_gone(CALLER, clock.seconds())                 # abandoned while ringing
    assert app.voice.is_call(CALLER) and app.voice.interaction_for_channel(CALLER) == first
    clock.advance_to(clock.seconds() + ENDED_MEMORY / 2)
    again = run(ensureDeferred(app.voice.call_arrived(_call(clock.seconds()))))   # same channel, a new call
    assert isinstance(again, DialAgent) and int(again.interaction_id) != first
    other = dataclasses.replace(_call(clock.seconds()), uniqueid="1700000200.1")
    app.switchboard.set_available("carol")
    run(ensureDeferred(app.voice.call_arrived(other)))
    app.voice.channel_gone(other.uniqueid, clock.seconds())
    clock.advance_to(clock.seconds() + ENDED_MEMORY / 2 + 1)
    app.voice.channel_gone(other.uniqueid, clock.seconds())          # a late copy: already ended
    third = dataclasses.replace(_call(clock.seconds()), uniqueid="1700000300.1")
    app.switchboard.set_available("alice")
    app.voice.channel_gone(CALLER, clock.seconds())                  # ends the second call on CALLER
    run(ensureDeferred(app.voice.call_arrived(third)))
    app.voice.channel_gone(third.uniqueid, clock.seconds())          # forgets what ended before now - memory
    assert app.voice.is_call(CALLER) and app.voice.interaction_for_channel(CALLER) == int(again.interaction_id)
    assert app.voice.is_call(other.uniqueid)
    clock.advance_to(clock.seconds() + ENDED_MEMORY + 1)
    fourth = dataclasses.replace(_call(clock.seconds()), uniqueid="1700000400.1")
    run(ensureDeferred(app.voice.call_arrived(fourth)))
    app.voice.channel_gone(fourth.uniqueid, clock.seconds())
    assert not app.voice.is_call(CALLER) and not app.voice.is_call(other.uniqueid)
    assert not app.voice.is_call(third.uniqueid) and app.voice.is_call(fourth.uniqueid)
    assert app.voice.interaction_for_channel(CALLER) is None
    run(app.switchboard.settled())
