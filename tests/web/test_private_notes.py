"""An agent's notes are read by that agent, supervisors and admins, never by another agent."""

from __future__ import annotations

from twisted.internet import reactor

from tests.support.http import http_request

SECRET = "customer shouted; promised a callback, do not share"


def _token(run, app, login: str, role: str) -> str:
    if role != "agent":  # agents' users come from config/agents.yaml at start
        run(app.users.create(login, role, login.title()))
    return run(app.users.create_token(login, "tests"))[1]


def _get(run, app, path: str, token: str):
    host, port = app.http.address
    return run(http_request(reactor, "GET", f"http://{host}:{port}{path}", headers={"authorization": f"Bearer {token}"}))


def test_another_agent_sees_the_work_but_not_the_notes(run, make_app):
    """Bob reads Alice's interaction and the customer's timeline without her wrap-up notes or note events;
    Alice and a supervisor read both."""
    app = make_app()
    tokens = {login: _token(run, app, login, role) for login, role in
              (("alice", "agent"), ("bob", "agent"), ("sam", "supervisor"))}
    customer = run(app.store.create_customer(display_name="Ms Note"))
    interaction = run(app.store.create_interaction(customer.id, "email", "inbound", "completed", agent="alice",
                                                   notes=SECRET))
    run(app.store.append_event(interaction.id, "note", actor="alice", details={"text": SECRET}))
    run(app.store.append_event(interaction.id, "state", actor="alice", details={"to": "completed"}))

    for login, sees in (("alice", True), ("sam", True), ("bob", False)):
        one = _get(run, app, f"/api/interactions/{interaction.id}", tokens[login])
        timeline = _get(run, app, f"/api/customers/{customer.id}/timeline", tokens[login])
        card = _get(run, app, f"/api/customers/{customer.id}", tokens[login])
        assert one.status == timeline.status == card.status == 200
        assert (SECRET in one.body.decode()) is sees and (SECRET in timeline.body.decode()) is sees
        assert (SECRET in card.body.decode()) is sees
        assert "state" in [e["kind"] for e in one.json()["events"]]


def test_a_screen_pop_for_another_agent_leaves_the_notes_out():
    """A pop pushed on agent:bob, and bob's desktop snapshot, carry alice's interactions without her notes."""
    from callcenter.web import notes

    earlier = {"id": 1, "agent": "alice", "notes": SECRET}
    own = {"id": 2, "agent": "bob", "notes": "mine"}
    pop = {"interaction": {"id": 3}, "timeline": [earlier, own]}
    pushed = notes.pushed_for("agent:bob", pop)
    assert [i["notes"] for i in pushed["timeline"]] == [None, "mine"]
    assert notes.pushed_for("agent:alice", pop)["timeline"][0]["notes"] == SECRET
    assert notes.pushed_for("supervisors", pop) is pop
    snapshot = notes.agent_snapshot_for(notes.AgentViewer("bob"), {"agent": "bob", "offers": [pop], "work": [],
                                                                   "wrap_up": [pop]})
    assert SECRET not in str(snapshot) and snapshot["agent"] == "bob"
