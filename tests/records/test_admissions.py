"""The one write per new contact, reserved ids, batched state changes and the customer cache,
on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import func, select
from twisted.internet.defer import DeferredList, ensureDeferred

from callcenter.records import interactions as I
from callcenter.records.admissions import ContactWrite
from callcenter.records.errors import NotFound
from callcenter.records.schema import customers, interaction_events
from tests.records.helpers import T0, at


def _write(store_ids, run, *, points=(), customer_id=None, name=None, language=None, subject="s", extra=None):
    iid = run(store_ids.take("interactions"))[0]
    cid = run(store_ids.take("customers"))[0]
    return ContactWrite(interaction_id=iid, new_customer_id=cid, now=T0, points=tuple(points), customer_id=customer_id,
                        display_name=name, language=language, extra=extra,
                        fields={"channel": "webform", "direction": "inbound", "state": "queued", "queue": "support",
                                "subject": subject, "queued_at": T0, "payload": {"form": "contact"}},
                        events=(("routed", None, {"queue": "support"}),))


def _count(run, database, table):
    return run(database.read(lambda c: c.execute(select(func.count()).select_from(table)).scalar_one()))


def test_a_new_contact_is_stored_whole_in_one_write(run, store, database):
    """Customer, both contact points, interaction with its reserved id and its log land together."""
    write = _write(store.ids, run, points=[("email", "ada@example.com"), ("phone", "+33123456789")], name="Ada",
                   language="fr")
    admitted = run(store.admit_contact(write))
    assert admitted.interaction.id == write.interaction_id and admitted.new_customer
    assert admitted.customer_id == write.new_customer_id
    customer = run(store.get_customer(admitted.customer_id))
    assert (customer.display_name, customer.language, customer.provisional) == ("Ada", "fr", True)
    assert sorted((p.kind, p.value) for p in customer.contact_points) == [
        ("email", "ada@example.com"), ("phone", "+33123456789")]
    stored = run(store.get_interaction(write.interaction_id))
    assert (stored.state, stored.queue, stored.queued_at, stored.payload) == ("queued", "support", T0, {"form": "contact"})
    assert [e.kind for e in run(store.interaction_events(stored.id))] == ["created", "routed"]


def test_a_known_contact_point_finds_its_owner_and_others_are_noted_not_moved(run, store):
    """The email's owner gets the contact; a phone owned by someone else stays theirs and is noted."""
    ada = run(store.create_customer(display_name="", contact_points=[("email", "ada@example.com")]))
    bob = run(store.create_customer(display_name="Bob", contact_points=[("phone", "+33123456789")]))
    admitted = run(store.admit_contact(_write(store.ids, run, name="Ada L.",
                                              points=[("email", "ada@example.com"), ("phone", "+33123456789"),
                                                      ("phone", "+33987654321")])))
    assert admitted.customer_id == ada.id and not admitted.new_customer
    assert admitted.identity == {"phone_owner": bob.id}
    assert admitted.interaction.payload["identity"] == {"phone_owner": bob.id}
    again = run(store.get_customer(ada.id))
    assert again.display_name == "Ada L."  # a customer without a name takes the contact's
    assert ("phone", "+33987654321") in {(p.kind, p.value) for p in again.contact_points}
    assert run(store.get_customer(bob.id)).contact_points[0].value == "+33123456789"


def test_contacts_of_one_moment_share_a_commit_and_a_bad_one_fails_alone(run, store, database):
    """Five contacts at once, one naming an unknown customer: four are stored, that one gets NotFound
    and leaves nothing behind; two contacts from the same new number make one customer."""
    writes = [_write(store.ids, run, points=[("phone", f"+3312345678{n}")], subject=f"c{n}") for n in range(4)]
    writes.append(_write(store.ids, run, customer_id=999_999, subject="bad"))
    twin = _write(store.ids, run, points=[("phone", "+33123456780")], subject="twin")
    before = _count(run, database, customers)

    async def burst():
        return await DeferredList([ensureDeferred(store.admit_contact(w)) for w in [*writes, twin]], consumeErrors=True)

    results = run(burst())
    assert [ok for ok, _ in results] == [True, True, True, True, False, True]
    assert results[4][1].check(NotFound)
    assert results[5][1].customer_id == results[0][1].customer_id
    assert _count(run, database, customers) == before + 4
    try:
        run(store.get_interaction(writes[4].interaction_id))
    except NotFound:
        pass
    else:
        raise AssertionError("the refused contact's interaction exists")


def test_a_burst_of_reservations_shares_one_round_trip(run, store, monkeypatch):
    """A thousand contacts arriving at once each take an id: all distinct, and on PostgreSQL a
    burst of any size costs two reservations (the first take's block, then one for all still
    waiting) instead of one block per take."""
    from callcenter.records import ids as ids_module

    reads = []
    real = ids_module._reserve

    def counted(conn, table, count):
        reads.append(count)
        return real(conn, table, count)

    monkeypatch.setattr(ids_module, "_reserve", counted)

    async def burst():
        taken = await DeferredList([ensureDeferred(store.ids.take("interactions")) for _ in range(1000)])
        return [ids[0] for ok, ids in taken if ok]

    taken = run(burst())
    assert len(taken) == 1000 and len(set(taken)) == 1000
    assert len(reads) == (0 if store.ids.sqlite else 2), reads


def test_reserved_ids_never_meet_ids_given_inside_a_write(run, store):
    """Ids reserved ahead and ids taken by plain creations are all distinct (on PostgreSQL the
    reserved block and the sequence's next value are both from the one sequence)."""
    reserved = run(store.ids.take("interactions", 3))
    customer = run(store.create_customer(display_name="X"))
    plain = run(store.create_interaction(customer.id, "voice", "inbound"))
    later = run(store.ids.take("interactions"))
    ids = [*reserved, plain.id, *later]
    assert len(set(ids)) == len(ids) and reserved == sorted(reserved) and later[0] > reserved[-1]
    admitted = run(store.admit_contact(_write(store.ids, run, points=[("email", "x@example.com")])))
    assert admitted.interaction.id not in ids


def test_batched_state_changes_match_one_at_a_time(run, store, database):
    """The batched path gives the same rows, log and events as changing each interaction alone;
    an unknown interaction in the batch fails alone."""
    customer = run(store.create_customer(display_name="S"))
    a, b = (run(store.create_interaction(customer.id, "voice", "inbound", state="queued")) for _ in range(2))
    requests = [(a.id, "offered", at(5), None, {"step": "offer"}, {"agent": "alice", "offered_at": at(5)}),
                (b.id, "offered", at(6), "sys", {}, {"agent": "bob", "offered_at": at(6)}),
                (999_999, "offered", at(7), None, {}, {})]
    outcomes = run(database.write(I.update_states, requests))
    assert isinstance(outcomes[2], NotFound)
    assert outcomes[:2] == [run(store.get_interaction(a.id)), run(store.get_interaction(b.id))]
    assert (outcomes[0].state, outcomes[0].agent, outcomes[0].offered_at) == ("offered", "alice", at(5))
    log = run(store.interaction_events(b.id))
    assert (log[-1].kind, log[-1].actor, log[-1].details) == ("state", "sys", {"from": "queued", "to": "offered"})
    together = run(database.write(I.update_states, [(a.id, "accepted", at(8), None, {}, {"accepted_at": at(8)}),
                                                   (b.id, "queued", at(8), None, {}, {"agent": None})]))
    assert [i.state for i in together] == ["accepted", "queued"] and together[1].agent is None
    assert _count(run, database, interaction_events) == 2 + 2 + 2  # created, offered, then one more each


def test_the_customer_cache_answers_hot_lookups_and_forgets_on_change(run, store):
    """A found customer is served from memory until it changes; a remembered miss ends when the point gets an owner."""
    assert run(store.find_customer_by_phone("+33 1 23 45 67 89")) is None
    ada = run(store.create_customer(display_name="Ada", contact_points=[("phone", "+33123456789")]))
    assert run(store.find_customer_by_phone("+33 1 23 45 67 89")).id == ada.id  # the remembered miss was dropped
    hits = store.customers.hits
    assert run(store.find_customer_by_phone("+33123456789")).display_name == "Ada"
    assert store.customers.hits == hits + 1
    run(store.update_customer(ada.id, display_name="Ada Lovelace"))
    assert run(store.find_customer_by_phone("+33123456789")).display_name == "Ada Lovelace"
    other = run(store.create_customer(display_name="Twin", contact_points=[("email", "twin@example.com")]))
    run(store.merge_customers(other.id, ada.id))
    assert run(store.find_customer_by_phone("+33123456789")).id == other.id
