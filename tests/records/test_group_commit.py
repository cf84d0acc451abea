"""Concurrent creations and state changes commit together, each failing alone."""

from __future__ import annotations

import pytest
from twisted.internet.defer import DeferredList, ensureDeferred

from callcenter.records.errors import NotFound


def test_concurrent_creations_share_a_commit_but_fail_alone(run, store):
    """Interactions created at once for good and unknown customers: the good ones exist, the bad
    one fails with NotFound, nothing else is affected."""
    customer = run(store.create_customer(display_name="Batch"))

    async def burst():
        calls = [ensureDeferred(store.create_interaction(customer.id, "voice", "inbound", subject=f"c{n}"))
                 for n in range(5)]
        calls.insert(2, ensureDeferred(store.create_interaction(999_999, "voice", "inbound")))
        return await DeferredList(calls, consumeErrors=True)

    results = run(burst())
    assert [ok for ok, _ in results] == [True, True, False, True, True, True]
    assert results[2][1].check(NotFound)
    page = run(store.timeline(customer.id))
    assert sorted(i.subject for i in page.items) == ["c0", "c1", "c2", "c3", "c4"]


def test_concurrent_find_or_create_of_one_contact_gives_one_customer(run, store):
    """Ten callers with the same new number at once: one provisional customer."""

    async def burst():
        return await DeferredList([ensureDeferred(store.find_or_create_customer("phone", "+33 1 23 45 67 89"))
                                   for _ in range(10)])

    ids = {customer.id for ok, customer in run(burst()) if ok}
    assert len(ids) == 1


def test_a_bad_state_change_does_not_undo_the_others(run, store):
    """State changes of several interactions at once: one for an unknown id fails, the rest land."""
    customer = run(store.create_customer())
    a = run(store.create_interaction(customer.id, "email", "inbound"))
    b = run(store.create_interaction(customer.id, "email", "inbound"))

    async def burst():
        return await DeferredList([ensureDeferred(store.update_interaction_state(a.id, "queued")),
                                   ensureDeferred(store.update_interaction_state(424242, "queued")),
                                   ensureDeferred(store.update_interaction_state(b.id, "queued"))],
                                  consumeErrors=True)

    results = run(burst())
    assert [ok for ok, _ in results] == [True, False, True]
    assert run(store.get_interaction(a.id)).state == run(store.get_interaction(b.id)).state == "queued"
    with pytest.raises(NotFound):
        run(store.get_interaction(424242))
