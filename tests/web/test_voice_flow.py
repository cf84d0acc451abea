"""Calls end to end: FastAGI on loopback -> switchboard -> routing core -> record, in the real app."""

from __future__ import annotations


import pytest
from twisted.internet import reactor

from tests.support.agi_peer import agi_env, connect_agi

BILLING_LINE = "+18005550102"
MAIN_LINE = "+18005550100"


@pytest.fixture
def app(make_app, migrated_database_url):
    """The application on the shipped config (queues always open for the test), started."""
    return make_app(migrated_database_url)


def fastagi_port(app) -> int:
    """The port the FastAGI service bound."""
    return app.fastagi.port.getHost().port


async def pause(seconds: float) -> None:
    """Let the reactor run for a while."""
    from twisted.internet import task

    await task.deferLater(reactor, seconds, lambda: None)


def test_inbound_call_is_routed_to_the_agent_phone_and_logged_answered(run, app):
    """A call to the billing line is offered to Alice (billing 5): the dialplan gets her phone,
    the answer (Dial's U() subroutine) connects it, the caller's hangup handler ends it, and the
    record has every timestamp and the customer."""
    board = app.switchboard
    board.set_available("alice")

    async def scenario():
        peer = await connect_agi(reactor, fastagi_port(app), agi_env("inbound", "1700000000.1", "+14155550134", BILLING_LINE))
        await peer.finished
        assert peer.variables["CC_AGENT_ENDPOINT"] == "PJSIP/1001" and peer.variables["CC_OUTCOME"] == "dial"
        iid = int(peer.variables["CC_INTERACTION_ID"])
        answered = await connect_agi(reactor, fastagi_port(app),
                                     agi_env("answered", "1700000000.7", "+14155550134", BILLING_LINE, (str(iid),)))
        assert await answered.finished == []
        await app.switchboard.settled()
        assert (await app.store.get_interaction(iid)).state == "connected" and board.holding[iid] == "alice"
        gone = await connect_agi(reactor, fastagi_port(app), agi_env("hangup", "1700000000.1", "+14155550134", BILLING_LINE))
        assert await gone.finished == []
        await app.switchboard.settled()
        return iid

    iid = run(scenario())
    interaction = run(app.store.get_interaction(iid))
    assert (interaction.channel, interaction.queue, interaction.agent, interaction.state) == ("voice", "billing", "alice", "wrap_up")
    assert interaction.queued_at and interaction.offered_at and interaction.answered_at and interaction.ended_at
    customer = run(app.store.find_customer_by_phone("+14155550134"))
    assert customer.id == interaction.customer_id and customer.provisional
    log = run(app.store.interaction_events(iid))
    assert [(e.kind, e.details.get("to")) for e in log] == [
        ("created", None), ("routed", None), ("queued", None), ("state", "offered"), ("state", "accepted"),
        ("state", "connected"), ("state", "wrap_up")]
    assert log[0].details["state"] == "queued" and log[1].details["rule"] == "voice-billing-line"
    assert log[2].details["position"] == 1
    assert log[3].details["agent"] == "alice" and log[3].details["trace"]["candidates"] == ["alice"]
    assert board.wrapping[iid] == "alice" and iid not in board.holding


def test_no_answer_reoffers_to_another_agent_while_the_caller_holds(run, app):
    """IVR 1 (billing, no ladder): NOANSWER from Alice's phone, CC_RETRY=1, the call comes back to Carol."""
    board = app.switchboard
    board.set_available("alice")

    async def scenario():
        env = agi_env("inbound", "1700000000.2", "+14155550135", MAIN_LINE, ("", "1"))
        first = await connect_agi(reactor, fastagi_port(app), env)
        await first.finished
        iid = int(first.variables["CC_INTERACTION_ID"])
        board.set_available("carol")
        r = await connect_agi(reactor, fastagi_port(app), agi_env("dialresult", "1700000000.2", "+14155550135",
                                                                   MAIN_LINE, (str(iid), "NOANSWER")))
        await r.finished
        assert r.variables["CC_RETRY"] == "1"
        again = await connect_agi(reactor, fastagi_port(app), env)
        await again.finished
        return iid, again.variables

    iid, variables = run(scenario())
    assert variables["CC_INTERACTION_ID"] == str(iid)
    assert variables["CC_AGENT_ENDPOINT"] == "PJSIP/1003"   # carol; alice is backing off
    assert board.router.agent_view("alice").no_answer == 1


def test_caller_hanging_up_while_queued_is_abandoned_with_its_wait(run, app):
    """Nobody available: the caller holds, hangs up, and the interaction ends abandoned."""

    async def scenario():
        peer = await connect_agi(reactor, fastagi_port(app), agi_env("inbound", "1700000000.3", "+14155550136", BILLING_LINE))
        await peer.first_command
        await pause(0.05)
        peer.hang_up()
        await peer.finished
        for _ in range(500):    # the session notices the hang-up on its next read
            await app.switchboard.settled()
            customer = await app.store.find_customer_by_phone("+14155550136")
            items = (await app.store.timeline(customer.id)).items if customer else ()
            if items and items[0].state == "abandoned":
                break
            await pause(0.01)

    run(scenario())
    customer = run(app.store.find_customer_by_phone("+14155550136"))
    page = run(app.store.timeline(customer.id))
    (interaction,) = page.items
    assert interaction.state == "abandoned" and interaction.ended_at is not None
    assert app.switchboard.router.waiting() == []
