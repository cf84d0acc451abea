"""Identity resolution, creation, update and validation of customers through the store."""

from __future__ import annotations

import pytest

from callcenter.runtime.events import ContactPointAdded, CustomerCreated, CustomerUpdated
from callcenter.records import customers as C
from callcenter.records.errors import Conflict, InvalidContact, InvalidInput, NotFound

from .helpers import T0


def test_find_or_create_is_idempotent_across_formats(run, store):
    """The same phone typed two ways finds-or-creates one provisional customer."""
    first = run(store.find_or_create_customer("phone", "01 42 68 53 00"))
    second = run(store.find_or_create_customer("phone", "+33 1 42 68 53 00"))
    assert first == second
    assert first.provisional is True
    assert [(p.kind, p.value) for p in first.contact_points] == [("phone", "+33142685300")]
    assert first.tier == "basic" and first.created_at == T0


def test_email_lookup_ignores_case_space_and_unicode_form(run, store):
    """An email created in one form is found in its upper-case and Unicode-domain forms."""
    created = run(store.find_or_create_customer("email", "Kunde@xn--bcher-kva.example"))
    assert run(store.find_customer_by_email("  KUNDE@Bücher.example ")) == created


def test_unknown_contact_is_not_found_and_not_created(run, store, database):
    """A plain lookup of an unknown phone returns None and creates nothing."""
    assert run(store.find_customer_by_phone("+44 20 7946 0958")) is None
    assert run(database.read(C.count_customers)) == 0


def test_invalid_contact_is_refused_before_storing(run, store, database):
    """An invalid phone raises InvalidContact naming the field and leaves no customer behind."""
    with pytest.raises(InvalidContact) as caught:
        run(store.find_or_create_customer("phone", "12"))
    assert caught.value.field == "value"
    assert run(database.read(C.count_customers)) == 0


def test_create_with_contact_points_publishes_after_commit(run, store, database):
    """A created customer carries its normalized points and its events reach the bus."""
    seen = []
    database.bus.subscribe(CustomerCreated, seen.append)
    database.bus.subscribe(ContactPointAdded, seen.append)
    c = run(
        store.create_customer(
            "Ada Lovelace", "gold", "en-GB", {"vip": True}, {"crm": "A-1"},
            [("email", "Ada@Example.com"), {"kind": "phone", "value": "+44 20 7946 0958"}],
        )
    )
    assert (c.display_name, c.tier, c.language, c.attributes, c.external_ids, c.provisional) == (
        "Ada Lovelace", "gold", "en-GB", {"vip": True}, {"crm": "A-1"}, False,
    )
    assert [(p.kind, p.value) for p in c.contact_points] == [("phone", "+442079460958"), ("email", "ada@example.com")]
    assert [type(e).__name__ for e in seen] == ["CustomerCreated", "ContactPointAdded", "ContactPointAdded"]
    assert run(store.get_customer(c.id)) == c


def test_contact_point_owned_by_another_is_a_conflict_and_changes_nothing(run, store, database):
    """Creating a customer with someone else's phone raises Conflict and stores no customer."""
    owner = run(store.find_or_create_customer("phone", "0142685300"))
    with pytest.raises(Conflict, match=r"\+33142685300"):
        run(store.create_customer("Other", contact_points=[("email", "o@example.com"), ("phone", "01 42 68 53 00")]))
    assert run(database.read(C.count_customers)) == 1
    assert run(store.find_customer_by_email("o@example.com")) is None
    assert run(store.find_customer_by_phone("0142685300")) == owner


def test_update_changes_fields_and_publishes(run, store, database):
    """update_customer changes the given fields, bumps updated_at and names them in the event."""
    seen = []
    database.bus.subscribe(CustomerUpdated, seen.append)
    c = run(store.find_or_create_customer("email", "x@example.com"))
    store.fake_clock.advance(60)
    u = run(store.update_customer(str(c.id), display_name="X", tier="platinum", provisional=False))
    assert (u.display_name, u.tier, u.provisional, u.created_at, u.updated_at.timestamp() - T0.timestamp()) == (
        "X", "platinum", False, T0, 60.0,
    )
    assert [e.fields for e in seen] == [("display_name", "provisional", "tier")]


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"tier": "diamond"}, "tier"),
        ({"language": "not a tag!"}, "language"),
        ({"attributes": ["not", "an", "object"]}, "attributes"),
        ({"attributes": {"when": T0}}, "attributes"),
        ({"attributes": {"blob": "x" * (64 * 1024)}}, "attributes"),
        ({"external_ids": {"n": float("nan")}}, "external_ids"),
        ({"display_name": 42}, "display_name"),
        ({"provisional": "no"}, "provisional"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_updates_name_the_field_and_change_nothing(run, store, changes, field):
    """Wrong types, unknown tiers, oversized or non-JSON documents raise InvalidInput on their field."""
    c = run(store.create_customer("Before", attributes={"a": 1}))
    with pytest.raises(InvalidInput) as caught:
        run(store.update_customer(c.id, **{"display_name": "After", **changes}))
    assert caught.value.field == field
    assert run(store.get_customer(c.id)) == c


def test_document_just_under_the_cap_is_accepted(run, store):
    """An attribute document exactly at the size cap is stored whole."""
    overhead = len('{"blob":""}')
    c = run(store.create_customer("Big", attributes={"blob": "y" * (64 * 1024 - overhead)}))
    assert len(run(store.get_customer(c.id)).attributes["blob"]) == 64 * 1024 - overhead


def test_configured_tiers_replace_the_defaults(run, database):
    """A store built with its own tier list accepts those tiers only, the first as default."""
    from twisted.internet import task

    from callcenter.runtime.clock import Clock
    from callcenter.records.store import RecordStore

    s = RecordStore(database, Clock(task.Clock()), "US", tiers=("standard", "vip"))
    assert run(s.create_customer("A")).tier == "standard"
    assert run(s.create_customer("B", tier="vip")).tier == "vip"
    with pytest.raises(InvalidInput, match="tier"):
        run(s.create_customer("C", tier="gold"))


def test_unknown_and_malformed_ids(run, store):
    """An unknown id raises NotFound; a non-numeric id raises InvalidInput on its field."""
    with pytest.raises(NotFound):
        run(store.get_customer(999))
    with pytest.raises(InvalidInput) as caught:
        run(store.get_customer("abc"))
    assert caught.value.field == "customer_id"


def test_add_contact_point_is_idempotent_for_its_owner(run, store):
    """Adding a point the customer already has is a no-op; another customer's point conflicts."""
    a = run(store.find_or_create_customer("phone", "0142685300"))
    b = run(store.find_or_create_customer("phone", "0142685301"))
    a2 = run(store.add_contact_point(a.id, "email", "A@example.com"))
    assert run(store.add_contact_point(a.id, "email", "a@example.com")).contact_points == a2.contact_points
    with pytest.raises(Conflict):
        run(store.add_contact_point(b.id, "email", "a@example.com"))


def test_find_or_create_unit_of_work_directly(database):
    """The sync unit of work creates once, then finds, inside caller-owned transactions."""
    from callcenter.records.database import UnitOfWork

    uow = UnitOfWork()
    with database.engine.begin() as conn:
        made = C.find_or_create(conn, uow, "email", "z@example.com", "basic", T0)
    with database.engine.begin() as conn:
        again = C.find_or_create(conn, UnitOfWork(), "email", "z@example.com", "basic", T0)
    assert made == again
    assert [type(e).__name__ for e in uow.events] == ["CustomerCreated", "ContactPointAdded"]


def test_lookup_of_many_contacts_in_one_query_keeps_order(database):
    """find_many_by_contact answers each point in request order, None for unknown, repeats too."""
    from callcenter.records.database import UnitOfWork

    with database.engine.begin() as conn:
        a = C.create_customer(conn, UnitOfWork(), {"display_name": "A", "tier": "basic"},
                              [("phone", "+33142685300"), ("email", "a@example.com")], T0)
        b = C.create_customer(conn, UnitOfWork(), {"display_name": "B", "tier": "basic"}, [("email", "b@example.com")], T0)
    with database.engine.connect() as conn:
        found = C.find_many_by_contact(
            conn, [("email", "b@example.com"), ("email", "none@example.com"), ("phone", "+33142685300"),
                   ("email", "a@example.com"), ("email", "b@example.com")]
        )
    assert found == [b, None, a, a, b]


def test_concurrent_find_or_create_makes_one_customer(run, store, database):
    """Two simultaneous find-or-creates of one unknown contact yield one customer."""
    from twisted.internet.defer import ensureDeferred, gatherResults

    async def both():
        return await gatherResults([ensureDeferred(store.find_or_create_customer("email", e))
                                    for e in ("race@example.com", "RACE@example.com", "race@Example.com")])

    a, b, c = run(both())
    assert a.id == b.id == c.id
    assert run(database.read(C.count_customers)) == 1
