"""Merging two customers: what moves, what is recorded, how the merged id resolves."""

from __future__ import annotations

import pytest

from callcenter.runtime.events import CustomersMerged
from callcenter.records import customers as C
from callcenter.records.errors import Conflict, NotFound

from .helpers import at


def _two_customers(run, store):
    survivor = run(store.create_customer("Known", "gold", attributes={"a": "survivor", "s": 1}, external_ids={"crm": "S"},
                                         contact_points=[("email", "known@example.com")]))
    merged = run(store.find_or_create_customer("phone", "0142685300"))
    merged = run(store.update_customer(merged.id, attributes={"a": "merged", "m": 2}, external_ids={"erp": "M"}))
    run(store.create_interaction(merged.id, "voice", "inbound", at=at(10)))
    run(store.create_interaction(survivor.id, "email", "inbound", at=at(20)))
    return survivor, merged


def test_merge_moves_points_and_interactions_and_audits(run, store, database):
    """The survivor gains the points, interactions and missing attributes; an audit row says so."""
    seen = []
    database.bus.subscribe(CustomersMerged, seen.append)
    survivor, merged = _two_customers(run, store)
    result = run(store.merge_customers(survivor.id, merged.id, actor="supervisor-1"))
    assert result.id == survivor.id
    assert [(p.kind, p.value) for p in result.contact_points] == [("phone", "+33142685300"), ("email", "known@example.com")]
    assert result.attributes == {"a": "survivor", "s": 1, "m": 2}
    assert result.external_ids == {"crm": "S", "erp": "M"}
    assert result.provisional is False
    page = run(store.timeline(survivor.id))
    assert [(i.channel, i.customer_id) for i in page.items] == [("email", survivor.id), ("voice", survivor.id)]
    (entry,) = run(database.read(C.audit_entries, "customer", survivor.id))
    assert (entry["action"], entry["actor"]) == ("customer.merge", "supervisor-1")
    assert {k: entry["details"][k] for k in ("merged_id", "contact_points_moved", "interactions_moved")} == {
        "merged_id": merged.id, "contact_points_moved": 1, "interactions_moved": 1,
    }
    assert [(e.survivor_id, e.merged_id, e.actor) for e in seen] == [(survivor.id, merged.id, "supervisor-1")]


def test_merged_id_keeps_resolving_to_the_survivor(run, store):
    """get, timeline, lookups and new interactions for the merged id all land on the survivor."""
    survivor, merged = _two_customers(run, store)
    run(store.merge_customers(survivor.id, merged.id))
    assert run(store.get_customer(merged.id)).id == survivor.id
    assert run(store.find_customer_by_phone("01 42 68 53 00")).id == survivor.id
    assert run(store.timeline(merged.id)).customer_id == survivor.id
    assert run(store.create_interaction(merged.id, "webform", "inbound")).customer_id == survivor.id


def test_chained_merges_resolve_in_one_hop(run, store):
    """After A->B then B->C, A resolves to C."""
    a = run(store.find_or_create_customer("email", "a@example.com"))
    b = run(store.find_or_create_customer("email", "b@example.com"))
    c = run(store.find_or_create_customer("email", "c@example.com"))
    run(store.merge_customers(b.id, a.id))
    run(store.merge_customers(c.id, b.id))
    assert run(store.get_customer(a.id)).id == c.id
    assert len(run(store.get_customer(a.id)).contact_points) == 3


@pytest.mark.parametrize("case", ["self", "into-merged", "merged-again", "unknown"])
def test_refused_merges_change_nothing(run, store, database, case):
    """Self-merge, merging into/from a merged customer and unknown ids raise and store nothing."""
    survivor, merged = _two_customers(run, store)
    other = run(store.find_or_create_customer("email", "third@example.com"))
    run(store.merge_customers(other.id, merged.id))
    before = (run(store.get_customer(survivor.id)), run(store.get_customer(other.id)), run(store.timeline(other.id)),
              run(database.read(C.audit_entries, "customer", survivor.id)))
    survivor_arg, merged_arg, error = {
        "self": (survivor.id, survivor.id, Conflict),
        "into-merged": (merged.id, survivor.id, Conflict),
        "merged-again": (survivor.id, merged.id, Conflict),
        "unknown": (survivor.id, 999, NotFound),
    }[case]
    with pytest.raises(error):
        run(store.merge_customers(survivor_arg, merged_arg))
    after = (run(store.get_customer(survivor.id)), run(store.get_customer(other.id)), run(store.timeline(other.id)),
             run(database.read(C.audit_entries, "customer", survivor.id)))
    assert after == before
