"""The switchboard writes what it decides about an interaction in decision order, and
``settled()`` waits for all of it: also for writes queued by a write that was running."""

from __future__ import annotations

from callcenter.dispatch.routing_rules import match_rule


def test_routing_an_already_queued_interaction_records_its_offer_before_settled_returns(run, make_app):
    """An interaction stored queued (a reopened email, a contact stored with its routing) is
    routed by route_existing; the offer the core makes at once is in the record once
    settled() returns, after the routing's own write."""
    app = make_app()
    board = app.switchboard
    board.set_available("alice")

    async def scenario():
        customer = await app.store.create_customer(display_name="Ana", contact_points=[("email", "ana@example.org")])
        interaction = await app.store.create_interaction(customer.id, "email", "inbound", state="queued",
                                                         queue="support", subject="Help")
        facts = {"channel": "email", "to": "billing@example.com", "tier": customer.tier, "attributes": {},
                 "language": None, "subject": interaction.subject, "body": ""}
        board.route_existing(interaction, match_rule(board.settings, facts), facts)
        await board.settled()
        return await app.store.get_interaction(interaction.id), await app.store.interaction_events(interaction.id)

    stored, events = run(scenario())
    assert board.offers[stored.id]["agent"] == "alice"
    assert (stored.state, stored.agent) == ("offered", "alice")
    assert [(e.kind, e.details.get("step")) for e in events] == [("created", None), ("queued", None), ("state", "offer")]
