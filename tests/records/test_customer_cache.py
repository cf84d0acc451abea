"""The customer cache's answers of "nobody": kept, dropped by every write that gives the point
an owner, never kept when read before such a write, and bounded; on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any, Mapping

from twisted.internet.defer import Deferred, ensureDeferred

from callcenter.dispatch.routing_rules import RuleMatch
from callcenter.intake.pipeline import placement
from callcenter.records.admissions import ContactWrite
from callcenter.records.customer_cache import NOBODY, CustomerCache
from callcenter.records.mail import MailStore
from callcenter.records.mail_ingest import Acknowledgement, Arrival, Sender
from callcenter.records.mail_ingest_batch import MailIngest
from callcenter.records.mail_messages import NewMessage
from callcenter.records.store import RecordStore
from callcenter.runtime.clock import Clock
from callcenter.runtime.events import ContactPointAdded, EventBus
from callcenter.records.model import Customer
from tests.records.helpers import T0

PHONE = ("phone", "+33123456789")
EMAIL = ("email", "ada@example.com")


def _nobody_cached(run, store, point) -> None:
    """Look ``point`` up twice: the first goes to the database, the second is answered from memory."""
    assert run(store.find_customer(point)) is None
    assert store.customers.get(point) is NOBODY
    hits = store.customers.nobody_hits
    assert run(store.find_customer(point)) is None
    assert store.customers.nobody_hits == hits + 1  # answered from memory


def test_nobody_is_remembered_until_a_customer_created_with_the_point(run, store):
    """A point nobody owns is answered from memory; the API creating a customer with it drops that."""
    _nobody_cached(run, store, PHONE)
    ada = run(store.create_customer(display_name="Ada", contact_points=[("phone", "01 23 45 67 89")]))
    assert store.customers.get(PHONE) is None
    assert run(store.find_customer(PHONE)).id == ada.id


def test_nobody_is_dropped_when_the_point_is_added_to_a_customer(run, store):
    """The API adding a contact point to an existing customer makes the next lookup find it."""
    ada = run(store.create_customer(display_name="Ada", contact_points=[PHONE]))
    assert run(store.find_customer(PHONE)).id == ada.id  # a positive entry of Ada
    _nobody_cached(run, store, EMAIL)
    run(store.add_contact_point(ada.id, "email", "Ada@Example.com"))
    found = run(store.find_customer(EMAIL))
    assert found.id == ada.id and {p.value for p in found.contact_points} == {PHONE[1], EMAIL[1]}
    assert run(store.find_customer(PHONE)).contact_points == found.contact_points  # Ada's entry was refreshed


def test_nobody_is_dropped_when_a_point_is_added_through_a_merged_id(run, store):
    """After a merge, a point added through the merged id belongs to the survivor and is found;
    the merge itself keeps an unrelated "nobody" (no merge makes an unowned point owned)."""
    ada = run(store.create_customer(display_name="Ada", contact_points=[PHONE]))
    twin = run(store.create_customer(display_name="Twin", contact_points=[("email", "twin@example.com")]))
    _nobody_cached(run, store, EMAIL)
    run(store.merge_customers(ada.id, twin.id))
    assert store.customers.get(EMAIL) is NOBODY
    assert run(store.find_customer(("email", "twin@example.com"))).id == ada.id
    run(store.add_contact_point(twin.id, "email", EMAIL[1]))
    assert run(store.find_customer(EMAIL)).id == ada.id


def test_nobody_is_dropped_by_find_or_create(run, store):
    """A telephony contact creating the customer of an unknown number (find_or_create) makes it found."""
    _nobody_cached(run, store, PHONE)
    created = run(store.find_or_create_customer("phone", "+33 1 23 45 67 89"))
    assert run(store.find_customer(PHONE)).id == created.id
    assert run(store.find_or_create_customer("phone", "0123456789")).id == created.id


def _admission(run, store, points) -> ContactWrite:
    return ContactWrite(interaction_id=run(store.ids.take("interactions"))[0],
                        new_customer_id=run(store.ids.take("customers"))[0], now=T0, points=tuple(points),
                        fields={"channel": "webform", "direction": "inbound", "state": "queued", "queue": "support"})


def test_nobody_is_dropped_by_the_admission_of_a_new_contact(run, store):
    """The intake's one write for a new contact gives its points a new customer: both are found next."""
    _nobody_cached(run, store, PHONE)
    _nobody_cached(run, store, EMAIL)
    admitted = run(store.admit_contact(_admission(run, store, [EMAIL, PHONE])))
    assert admitted.new_customer
    assert run(store.find_customer(PHONE)).id == admitted.customer_id
    assert run(store.find_customer(EMAIL)).id == admitted.customer_id


def test_nobody_is_dropped_when_an_admission_adds_a_point_to_a_known_customer(run, store):
    """A contact giving a known phone and a new email attaches the email: its "nobody" goes."""
    ada = run(store.create_customer(display_name="Ada", contact_points=[PHONE]))
    _nobody_cached(run, store, EMAIL)
    admitted = run(store.admit_contact(_admission(run, store, [PHONE, EMAIL])))
    assert admitted.customer_id == ada.id and not admitted.new_customer
    assert run(store.find_customer(EMAIL)).id == ada.id


class _Policy:
    """An ingest policy routing everything to ``support``, always open, acknowledging nothing;
    new mail is placed as the intake pipeline places every contact."""

    closed_policy = "reopen"
    default_tier = "basic"
    unreadable_queue = None

    def route(self, facts: Mapping[str, Any]) -> RuleMatch:
        """Every message to ``support``."""
        return RuleMatch(rule="default", queue="support", priority=0, tier="basic", tier_bonus=0.0, ladder=(),
                         fallback=None, skipped=())

    def queue_open(self, queue: str, now: Any) -> bool:
        """Always open."""
        return True

    def placement(self, match: RuleMatch, now: Any, queue: str) -> Any:
        """Queued in ``queue`` with its ``routed`` entry."""
        return placement(match, now, queue=queue)

    def acknowledgement(self, arrival: Arrival, customer: Customer, interaction: Any, queue_closed: bool) -> Acknowledgement:
        """No acknowledgement."""
        return Acknowledgement(None, "none in this test")


def test_nobody_is_dropped_by_received_mail_from_the_address(run, store, database):
    """A received message from an unknown sender makes its customer; the address is found next."""
    _nobody_cached(run, store, EMAIL)
    mail = MailStore(database, Clock(store.fake_clock))
    message = NewMessage(raw=b"Message-ID: <m1@x>\n\nhello", direction="inbound", message_id="m1@x",
                         content_hash="h-m1", sender=EMAIL[1], subject="Hi", body_text="hello")
    arrival = Arrival(message=message, sender=Sender(EMAIL[1], "Ada"), mailbox="support@cc.example.com", subject="Hi")
    ingested = run(MailIngest(mail, Clock(store.fake_clock)).submit(arrival, _Policy()))
    assert ingested.kind == "new"
    assert run(store.find_customer(EMAIL)).id == ingested.customer.id


class _HeldAnswers(RecordStore):
    """A record store whose first lookup's answer, read from the database, is held back until
    ``release`` fires: the window between a read's snapshot and its answer on the reactor."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.read_done: Deferred = Deferred()
        self.release: Deferred = Deferred()
        self._held = False

    async def _find_many(self, points):
        found = await super()._find_many(points)
        if not self._held:
            self._held = True
            self.read_done.callback(None)
            await self.release
        return found


def _held_store(database, store) -> _HeldAnswers:
    return _HeldAnswers(database, Clock(store.fake_clock), "FR")


def test_a_nobody_read_before_the_point_was_added_is_not_kept(run, store, database):
    """A lookup whose read saw nobody, answering after the point was added and published, says
    nobody (its read's truth) but leaves nothing in memory: the next lookup finds the owner."""
    held = _held_store(database, store)
    lookup = ensureDeferred(held.find_customer(PHONE))
    run(held.read_done)  # the read is done: it saw nobody
    ada = run(store.create_customer(display_name="Ada", contact_points=[PHONE]))  # committed and published
    held.release.callback(None)
    assert run(lookup) is None
    assert held.customers.get(PHONE) is None
    assert held.customers.stats()["nobody"] == 0
    assert run(held.find_customer(PHONE)).id == ada.id


def test_a_nobody_answered_before_the_point_was_added_is_dropped_by_it(run, store, database):
    """The other order: the stale answer arrives first and is kept; the write's event drops it."""
    held = _held_store(database, store)
    lookup = ensureDeferred(held.find_customer(PHONE))
    run(held.read_done)
    held.release.callback(None)
    assert run(lookup) is None and held.customers.get(PHONE) is NOBODY
    ada = run(store.create_customer(display_name="Ada", contact_points=[PHONE]))
    assert run(held.find_customer(PHONE)).id == ada.id


def _customer(cid: int) -> Customer:
    return Customer(id=cid, display_name=f"C{cid}", tier="basic", language=None, attributes={}, external_ids={},
                    provisional=False, created_at=T0, updated_at=T0, contact_points=())


def test_the_cache_is_bounded_and_nobody_takes_at_most_its_share():
    """Entries of both kinds count against the capacity; "nobody" keeps to its own share, its
    oldest out first, so unknown points never push known customers below the rest of the room."""
    cache = CustomerCache(EventBus(), capacity=8, nobody_capacity=2)
    for n in range(8):
        cache.put(("phone", f"+3310000000{n}"), _customer(n), cache.generation)
    assert len(cache) == 8
    for n in range(5):
        cache.put(("email", f"nobody{n}@example.org"), None, cache.generation)
    assert len(cache) == 8 and cache.stats()["nobody"] == 2
    assert cache.get(("email", "nobody4@example.org")) is NOBODY and cache.get(("email", "nobody3@example.org")) is NOBODY
    assert cache.get(("email", "nobody2@example.org")) is None
    assert cache.get(("phone", "+33100000000")) is None and cache.get(("phone", "+33100000001")) is None  # oldest out
    assert cache.get(("phone", "+33100000007")).id == 7
    for n in range(8, 20):
        cache.put(("phone", f"+331000000{n:02d}"), _customer(n), cache.generation)
    assert len(cache) == 8 and cache.stats()["nobody"] == 2  # the "nobody" share is used recently: kept
    assert CustomerCache(EventBus(), capacity=8).stats()["entries"] == 0


def test_the_default_share_of_nobody_is_a_quarter_and_zero_capacity_keeps_nothing():
    """By default a quarter of the room may answer "nobody"; a cache of capacity 0 keeps nothing."""
    cache = CustomerCache(EventBus(), capacity=100)
    for n in range(100):
        cache.put(("email", f"nobody{n}@example.org"), None, cache.generation)
    assert len(cache) == 25
    empty = CustomerCache(EventBus(), capacity=0)
    empty.put(PHONE, None, empty.generation)
    empty.put(EMAIL, _customer(1), empty.generation)
    assert len(empty) == 0 and empty.get(PHONE) is None


def test_a_point_event_drops_its_nobody_and_refuses_answers_read_before_it():
    """The bus's ContactPointAdded drops that point's "nobody" and starts a new generation, so an
    answer ("nobody" or a customer) read before it is not kept; other points' "nobody" stay."""
    bus = EventBus()
    cache = CustomerCache(bus, capacity=10)
    cache.put(PHONE, None, cache.generation)
    cache.put(EMAIL, None, cache.generation)
    before = cache.generation
    bus.publish(ContactPointAdded(at=0.0, customer_id=1, kind=PHONE[0], value=PHONE[1]))
    assert cache.get(PHONE) is None and cache.get(EMAIL) is NOBODY
    cache.put(PHONE, None, before)
    cache.put(("phone", "+33999999999"), _customer(2), before)
    assert len(cache) == 1
    cache.put(PHONE, _customer(1), cache.generation)
    assert cache.get(PHONE).id == 1
    cache.put(PHONE, None, cache.generation)  # an owned point is not said to be nobody's
    assert cache.get(PHONE).id == 1
