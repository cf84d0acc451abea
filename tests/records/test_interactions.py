"""Interactions: the cross-channel timeline, state changes and the batched event log."""

from __future__ import annotations

import pytest
from sqlalchemy import event as sa_event
from twisted.internet.defer import gatherResults, ensureDeferred

from callcenter.runtime.events import InteractionEventAppended, InteractionStateChanged
from callcenter.records.errors import InvalidInput, NotFound

from .helpers import T0, at

CHANNELS = ("voice", "email", "webform")


def _customer_with_interactions(run, store, n):
    c = run(store.find_or_create_customer("phone", "0142685300"))
    made = []
    for k in range(n):
        # Pairs share a timestamp, so the id must break the tie.
        made.append(run(store.create_interaction(c.id, CHANNELS[k % 3], "inbound", at=at(k // 2))))
    return c, made


def test_timeline_pages_newest_first_across_channels(run, store):
    """Paging with the cursor walks every interaction once, newest first, ties by id."""
    c, made = _customer_with_interactions(run, store, 11)
    expected = sorted(made, key=lambda i: (i.created_at, i.id), reverse=True)
    seen, cursor, pages = [], None, 0
    while True:
        page = run(store.timeline(c.id, limit=4, cursor=cursor))
        seen.extend(page.items)
        pages += 1
        cursor = page.next_cursor
        if cursor is None:
            break
    assert [i.id for i in seen] == [i.id for i in expected]
    assert {i.channel for i in seen} == set(CHANNELS)
    assert pages == 3


def test_timeline_of_a_customer_without_interactions_is_empty(run, store):
    """A customer with no interactions gets one empty last page."""
    c = run(store.find_or_create_customer("email", "quiet@example.com"))
    page = run(store.timeline(c.id))
    assert (page.items, page.next_cursor) == ((), None)


@pytest.mark.parametrize("kwargs, field", [({"limit": 0}, "limit"), ({"limit": 501}, "limit"), ({"cursor": "%%%"}, "cursor"),
                                           ({"cursor": "bm90IGEgY3Vyc29y"}, "cursor")])
def test_timeline_rejects_bad_paging(run, store, kwargs, field):
    """Limits outside 1..500 and forged cursors raise InvalidInput on their field."""
    c = run(store.find_or_create_customer("email", "p@example.com"))
    with pytest.raises(InvalidInput) as caught:
        run(store.timeline(c.id, **kwargs))
    assert caught.value.field == field


def test_state_change_sets_fields_and_logs_from_to(run, store, database):
    """A state change stores its timestamp fields and appends a 'state' entry with from/to."""
    seen = []
    database.bus.subscribe(InteractionStateChanged, seen.append)
    c = run(store.find_or_create_customer("phone", "0142685300"))
    i = run(store.create_interaction(c.id, "voice", "inbound", "new", payload={"uniqueid": "1700000000.1"}))
    u = run(store.update_interaction_state(i.id, "queued", at=at(5), actor="switchboard", details={"why": "ivr"},
                                           queue="sales", queued_at=at(5)))
    assert (u.state, u.queue, u.queued_at, u.payload) == ("queued", "sales", at(5), {"uniqueid": "1700000000.1"})
    log = run(store.interaction_events(i.id))
    assert [(e.kind, e.actor, e.details) for e in log] == [
        ("created", None, {"state": "new"}),
        ("state", "switchboard", {"why": "ivr", "from": "new", "to": "queued"}),
    ]
    assert [(e.previous_state, e.state, e.at) for e in seen] == [("new", "queued", at(5).timestamp())]


def test_bad_interaction_input_names_the_field(run, store):
    """Unknown fields, naive timestamps and bad directions are refused before storing."""
    c = run(store.find_or_create_customer("phone", "0142685300"))
    i = run(store.create_interaction(c.id, "voice", "inbound"))
    for call, field in [
        (lambda: store.create_interaction(c.id, "voice", "sideways"), "direction"),
        (lambda: store.create_interaction(c.id, "Voice!", "inbound"), "channel"),
        (lambda: store.update_interaction_state(i.id, "ended", ended_at=T0.replace(tzinfo=None)), "ended_at"),
        (lambda: store.update_interaction_state(i.id, "ended", colour="red"), "colour"),
    ]:
        with pytest.raises(InvalidInput) as caught:
            run(call())
        assert caught.value.field == field
    assert run(store.get_interaction(i.id)) == i
    with pytest.raises(NotFound):
        run(store.create_interaction(999, "voice", "inbound"))


def test_concurrent_appends_share_commits_and_publish_after(run, store, database):
    """Fifty concurrent appends commit in far fewer transactions, each published once, in order."""
    c = run(store.find_or_create_customer("phone", "0142685300"))
    i = run(store.create_interaction(c.id, "voice", "inbound"))
    commits = []
    sa_event.listen(database.engine, "commit", lambda conn: commits.append(1))
    published = []
    database.bus.subscribe(InteractionEventAppended, published.append)

    async def append_all():
        return await gatherResults([ensureDeferred(store.append_event(i.id, "dtmf", details={"n": n})) for n in range(50)])

    results = run(append_all())
    assert [r.details["n"] for r in results] == list(range(50))
    assert len({r.id for r in results}) == 50
    assert len(commits) < 10
    assert [e.event_id for e in published] == [r.id for r in results]
    assert [e.details["n"] for e in run(store.interaction_events(i.id))[1:]] == list(range(50))


def test_one_bad_append_fails_alone(run, store):
    """In a batch, an append for an unknown interaction raises NotFound; the others commit."""
    c = run(store.find_or_create_customer("phone", "0142685300"))
    i = run(store.create_interaction(c.id, "voice", "inbound"))

    async def mixed():
        ds = [ensureDeferred(store.append_event(iid, "note")) for iid in (i.id, 999, i.id)]
        outcomes = []
        for d in ds:
            try:
                outcomes.append((await d).interaction_id)
            except NotFound as e:
                outcomes.append(("not found", e.ident))
        return outcomes

    assert run(mixed()) == [i.id, ("not found", 999), i.id]
    assert [e.kind for e in run(store.interaction_events(i.id))] == ["created", "note", "note"]
    run(store.drain())


def test_bulk_append_answers_each_entry_and_one_unknown_fails_alone(run, store, database):
    """append_events: one Deferred, one outcome per entry in order; an unknown interaction's entry
    is NotFound in its place, the others are stored and published after the commit, in order."""
    c = run(store.find_or_create_customer("phone", "0142685300"))
    i = run(store.create_interaction(c.id, "voice", "inbound"))
    j = run(store.create_interaction(c.id, "email", "inbound"))
    published = []
    commits = []
    database.bus.subscribe(InteractionEventAppended, lambda e: published.append((e.event_id, len(commits))))
    sa_event.listen(database.engine, "commit", lambda conn: commits.append(1))
    when = at(30)

    async def bulk():
        return await store.append_events([(i.id, "dtmf", "caller", {"digit": 1}),
                                          (424242, "dtmf"),
                                          (j.id, "note", None, {"text": "é", "nested": {"a": [1, 2]}}, when),
                                          (str(i.id), "dtmf", None, None)])

    outcomes = run(bulk())
    assert isinstance(outcomes[1], NotFound) and outcomes[1].ident == 424242
    good = [outcomes[0], outcomes[2], outcomes[3]]
    assert [(e.interaction_id, e.kind) for e in good] == [(i.id, "dtmf"), (j.id, "note"), (i.id, "dtmf")]
    assert outcomes[2].at == when and outcomes[2].details == {"text": "é", "nested": {"a": [1, 2]}}
    assert outcomes[0].at == outcomes[3].at == T0  # the store's clock, one instant per call
    assert [eid for eid, _ in published] == [e.id for e in good]
    assert all(after_commits >= 1 for _, after_commits in published)  # each seen after a commit
    assert run(store.interaction_events(i.id))[1:] == (outcomes[0], outcomes[3])
    assert run(store.interaction_events(j.id))[1:] == (outcomes[2],)


def test_bulk_append_refuses_bad_entries_naming_them_and_stores_nothing(run, store):
    """A bad entry fails the whole call with InvalidInput naming it; nothing is submitted."""
    c = run(store.find_or_create_customer("phone", "0142685300"))
    i = run(store.create_interaction(c.id, "voice", "inbound"))
    for entries, field in [([(i.id, "dtmf"), (i.id, "Bad Kind")], "entries[1].kind"),
                           ([(i.id, "dtmf", None, {"x": float("nan")})], "entries[0].details"),
                           ([(i.id,)], "entries[0]"),
                           ([(0, "dtmf")], "entries[0].interaction_id")]:
        with pytest.raises(InvalidInput) as caught:
            run(store.append_events(entries))
        assert caught.value.field == field
    assert run(store.append_events([])) == []
    assert [e.kind for e in run(store.interaction_events(i.id))] == ["created"]


def test_single_append_refuses_bad_input_through_its_deferred(run, store):
    """append_event's validation errors arrive when awaited (a failed Deferred), nothing stored."""
    c = run(store.find_or_create_customer("phone", "0142685300"))
    i = run(store.create_interaction(c.id, "voice", "inbound"))
    d = store.append_event(i.id, "dtmf", details=["not", "an", "object"])
    with pytest.raises(InvalidInput) as caught:
        run(d)
    assert caught.value.field == "details"
    assert [e.kind for e in run(store.interaction_events(i.id))] == ["created"]


def test_details_changed_by_the_caller_after_the_append_are_not_stored(run, store):
    """What is stored and returned is the details as given at the call, not as changed later."""
    c = run(store.find_or_create_customer("phone", "0142685300"))
    i = run(store.create_interaction(c.id, "voice", "inbound"))
    details = {"digit": 1, "path": [1]}
    flat = {"digit": 2}
    d = store.append_events([(i.id, "dtmf", None, details), (i.id, "dtmf", None, flat)])
    details["path"].append(object())
    details["digit"] = 9
    flat["digit"] = 9
    outcomes = run(d)
    assert [e.details for e in outcomes] == [{"digit": 1, "path": [1]}, {"digit": 2}]
    assert [e.details for e in run(store.interaction_events(i.id))[1:]] == [{"digit": 1, "path": [1]}, {"digit": 2}]
