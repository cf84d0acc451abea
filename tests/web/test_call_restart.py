"""Calls across a restart of the server, in the real application: the record says where each call
was, the PBX says whether it is still there (the dialplan asks again with the same uniqueid, the
hangup handler and AMI say when it is gone), and no call or agent stays stuck."""

from __future__ import annotations

import pytest
from twisted.internet import reactor
from twisted.internet.defer import ensureDeferred

from channels.telephony.callevents import ChannelSnapshot, ResyncFinished, ResyncStarted
from channels.telephony.callhandling import DialAgent, InboundCall
from tests.support.virtualtime import VirtualTimeReactor

START = 1_800_000_000.0


def _call(uniqueid: str, at: float) -> InboundCall:
    return InboundCall(uniqueid=uniqueid, channel=f"PJSIP/trunk-{uniqueid}", caller_number="+14155550188",
                       caller_name="Ada Ngo", dialed_number="+18005550100", extension="+18005550100",
                       context="from-pstn", language="en", queue_hint=None, ivr_digits="1", args=(),
                       variables=(), arrived_at=at)


@pytest.fixture
def servers(make_app, migrated_database_url):
    """``start()`` builds and starts a server on one record and one virtual clock (a restart is a
    second ``start()`` after the first one's service stopped)."""
    clock = VirtualTimeReactor(reactor, START)
    return clock, lambda: make_app(migrated_database_url, reactor=clock)


def _arrive(run, app, uniqueid: str):
    """The dialplan's ``inbound`` request for ``uniqueid``: returns the list the decision lands in,
    once the call's interaction exists."""
    from twisted.internet.task import deferLater

    outcome: list = []
    ensureDeferred(app.voice.call_arrived(_call(uniqueid, app.clock.now()))).addBoth(outcome.append)
    for _ in range(500):
        if app.voice.interaction_for_channel(uniqueid) is not None:
            break
        run(deferLater(reactor, 0.005, lambda: None))
    run(app.switchboard.settled())
    return outcome


def _stop(run, app) -> None:
    run(app.switchboard.settled())
    run(app.service.stopService())


def test_a_waiting_caller_who_asks_again_keeps_the_place_and_is_dialled(run, servers):
    """Two callers wait when the server stops; after the restart the one whose dialplan asks
    again (same uniqueid) goes back in line at its original place, ahead of a new caller, and is
    dialled as soon as an agent is free; the one who never asks again is abandoned."""
    clock, start = servers
    first = start()
    _arrive(run, first, "9.1")
    clock.advance_to(START + 5)
    _arrive(run, first, "9.2")
    waiting = [v.interaction for v in first.switchboard.router.waiting()]
    _stop(run, first)
    clock.advance_to(START + 20)
    second = start()
    assert second.switchboard.router.waiting() == []       # calls wait for the PBX's word
    newcomer = _arrive(run, second, "9.3")
    back = _arrive(run, second, "9.2")
    assert [v.interaction for v in second.switchboard.router.waiting()][0] == waiting[1]
    second.switchboard.set_available("alice")
    run(second.switchboard.settled())
    assert back == [DialAgent("PJSIP/1001", 20, str(waiting[1]))] and newcomer == []
    clock.advance_to(START + 20 + second.voice.restore_grace + 1)
    run(second.switchboard.settled())
    lost = run(second.store.get_interaction(waiting[0]))
    assert lost.state == "abandoned"
    log = run(second.store.interaction_events(waiting[0]))
    assert log[-1].details["reason"] == "call_lost_on_restart"


def test_a_connected_call_keeps_its_agent_busy_until_the_pbx_says_it_ended(run, servers):
    """Alice talks when the server stops: after the restart she is busy with it (no call offered
    to her), and the caller channel's hangup handler ends it and starts her wrap-up."""
    clock, start = servers
    first = start()
    first.switchboard.set_available("alice")
    (decision,) = _arrive(run, first, "9.5")
    iid = int(decision.interaction_id)
    first.voice.call_answered(str(iid), "9.6", first.clock.now())
    _stop(run, first)
    second = start()
    second.switchboard.set_available("alice")
    assert second.switchboard.holding[iid] == "alice"
    assert _arrive(run, second, "9.7") == []                # not offered to alice: she is on the call
    second.voice.channel_gone("9.5", second.clock.now())
    run(second.switchboard.settled())
    assert run(second.store.get_interaction(iid)).state == "wrap_up"
    assert second.switchboard.wrapping[iid] == "alice"


def test_the_pbx_channel_list_after_a_restart_ends_calls_that_are_gone(run, servers):
    """With AMI, the resynchronisation's channel list decides at once: a waiting call whose
    channel is gone is abandoned, one still there waits for its dialplan to ask again."""
    clock, start = servers
    first = start()
    _arrive(run, first, "9.8")
    _arrive(run, first, "9.9")
    gone_iid, kept_iid = [v.interaction for v in first.switchboard.router.waiting()]
    _stop(run, first)
    second = start()
    now = second.clock.now()
    events = [ResyncStarted(at=now),
              ChannelSnapshot(at=now, channel="PJSIP/trunk-9.9", uniqueid="9.9", linkedid="9.9", state="Up",
                              caller_number="+14155550188", application="MusicOnHold", duration="00:00:30",
                              bridge_id=None),
              ResyncFinished(at=now, channels=1, devices=0)]
    from callcenter.intake.pbx_events import TelephonyEvents

    feed = TelephonyEvents(second.switchboard, second.voice, second.store)
    for event in events:
        feed(event)
    run(second.switchboard.settled())
    assert run(second.store.get_interaction(gone_iid)).state == "abandoned"
    assert run(second.store.get_interaction(kept_iid)).state == "queued"
    assert _arrive(run, second, "9.9") == [] and [v.interaction for v in second.switchboard.router.waiting()] == [kept_iid]
