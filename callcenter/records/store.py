"""RecordStore: the customer record's API for the rest of the server.

Every method is a coroutine that validates and normalizes its input on the reactor thread
(raising :class:`InvalidInput`/:class:`InvalidContact` before anything is submitted), runs one
unit of work on the database's pool, and returns frozen dataclasses from
:mod:`callcenter.records.model`. Writes publish their domain events after commit.
Errors: :class:`NotFound` (unknown id), :class:`InvalidInput` and its subclass
:class:`InvalidContact` (naming the field), :class:`Conflict`; on any of them nothing stored
has changed.

Customer ids given to any method resolve through merges: a merged id reads and writes the
survivor.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Iterable, Mapping, Sequence

from sqlalchemy.exc import IntegrityError
from twisted.internet.defer import Deferred, fail

from callcenter.runtime.clock import Clock
from callcenter.records import audit, customers, interactions, validate
from callcenter.records.admissions import Admitted, ContactWrite, admit_contacts
from callcenter.records.batching import Coalescer
from callcenter.records.customer_cache import NOBODY, CustomerCache
from callcenter.records.database import Database
from callcenter.records.errors import Conflict, InvalidInput
from callcenter.records.group_commit import GroupCommit, append_events_isolated, each_isolated
from callcenter.records.model import (
    DEFAULT_TIERS,
    INTERACTION_TEXT_FIELDS,
    INTERACTION_TIMESTAMPS,
    Customer,
    Interaction,
    InteractionEvent,
    TimelinePage,
)
from callcenter.records.normalize import CONTACT_KINDS, normalize_contact

DIRECTIONS = ("inbound", "outbound", "internal")
MAX_TIMELINE_PAGE = 500
LOOKUP_BATCH = 500
_TEXT_LIMITS = {"queue": 100, "agent": 100, "disposition": 100, "notes": 64 * 1024, "subject": 998}


class RecordStore:
    """The unified customer record over a started :class:`Database`.

    ``default_region`` (ISO 3166, e.g. ``"FR"``) reads phone numbers written without a
    country code; ``tiers`` lists the accepted tiers, the first being the default;
    ``max_document_bytes`` caps each JSON document (attributes, external ids, payloads,
    details) serialized as UTF-8.
    """

    def __init__(
        self,
        db: Database,
        clock: Clock,
        default_region: str,
        tiers: Sequence[str] = DEFAULT_TIERS,
        max_document_bytes: int = validate.DEFAULT_MAX_DOCUMENT_BYTES,
        event_batch: int = 2000,
        customer_cache_size: int = 100_000,
    ) -> None:
        if not tiers:
            raise ValueError("at least one tier is needed")
        self._db = db
        self._clock = clock
        self._region = default_region
        self.tiers = tuple(tiers)
        self._max_doc = max_document_bytes
        # The hot writes pending at one moment share one transaction: one commit, one disk flush.
        self._writes = GroupCommit(db, [
            ("customer", each_isolated(customers.find_or_create)),
            ("interaction", each_isolated(interactions.create_interaction)),
            ("admit", admit_contacts),
            ("state", interactions.update_states),
            ("event", append_events_isolated),
        ], event_batch)
        # Concurrent lookups share one read transaction: the thread hop costs more than the query.
        self._lookups: Coalescer[tuple[str, str]] = Coalescer(self._find_many, LOOKUP_BATCH)
        #: Customers recently found by a contact point (see :mod:`callcenter.records.customer_cache`).
        self.customers = CustomerCache(db.bus, customer_cache_size)
        #: Ids handed out before their rows are written (see :mod:`callcenter.records.ids`).
        self.ids = db.ids

    # --- customers ---

    async def find_customer_by_phone(self, raw: str) -> Customer | None:
        """The customer owning this phone (any format the default region reads), or None."""
        return await self.find_customer(("phone", normalize_contact("phone", raw, self._region)))

    async def find_customer_by_email(self, raw: str) -> Customer | None:
        """The customer owning this email address (any case or IDNA form), or None."""
        return await self.find_customer(("email", normalize_contact("email", raw, self._region)))

    async def find_customer(self, point: tuple[str, str]) -> Customer | None:
        """The owner of an already normalized contact point ``(kind, value)``, or None.

        Answered from memory for contacts seen recently, owned or not (see
        :mod:`callcenter.records.customer_cache`).
        """
        found = self.customers.get(point)
        if found is not None:
            return None if found is NOBODY else found
        generation = self.customers.generation
        found = await self._lookups.submit(point)
        self.customers.put(point, found, generation)
        return found

    def normalize_point(self, kind: str, raw: str, field: str = "value") -> tuple[str, str]:
        """``(kind, normalized value)``; :class:`InvalidContact` naming ``field`` if unusable."""
        return kind, normalize_contact(kind, raw, self._region, field)

    async def admit_contact(self, write: ContactWrite) -> Admitted:
        """Store a new contact whole (see :mod:`callcenter.records.admissions`) in a write shared
        with the other contacts arriving at the same moment (one commit for all of them).

        Its payload is checked against the document cap first (:class:`InvalidInput`).
        Raises the record error that contact met; nothing of it is stored then.
        """
        validate.check_document("payload", write.fields.get("payload"), self._max_doc, optional=True)
        return await self._writes.submit("admit", write)

    async def find_or_create_customer(self, kind: str, raw: str) -> Customer:
        """The owner of a contact point; a new provisional customer if nobody owns it.

        Idempotent: asking twice for the same contact returns the same customer.
        """
        value = normalize_contact(kind, raw, self._region, "value")
        found = await self.find_customer((kind, value))
        if found is not None:
            return found
        try:
            return await self._writes.submit("customer", (kind, value, self.tiers[0], self._clock.utcnow()))
        except (IntegrityError, Conflict):
            # Another node created it between our read and our write: it exists now.
            found = await self._db.read(customers.find_by_contact, kind, value)
            if found is None:
                raise
            return found

    async def _find_many(self, points: Sequence[tuple[str, str]]) -> list[Customer | None]:
        return await self._db.read(customers.find_many_by_contact, points)

    async def get_customer(self, customer_id: int | str) -> Customer:
        """The customer, or its survivor if it was merged; :class:`NotFound` if unknown."""
        return await self._db.read(customers.get_customer, _ident("customer_id", customer_id))

    async def create_customer(
        self,
        display_name: str = "",
        tier: str | None = None,
        language: str | None = None,
        attributes: Mapping[str, Any] | None = None,
        external_ids: Mapping[str, Any] | None = None,
        contact_points: Iterable[tuple[str, str] | Mapping[str, str]] = (),
    ) -> Customer:
        """Create a (non-provisional) customer with its contact points.

        ``contact_points`` items are ``(kind, raw)`` pairs or ``{"kind": ..., "value": ...}``.
        Raises :class:`Conflict` when a contact point already belongs to someone.
        """
        fields = self._customer_fields(
            dict(display_name=display_name, tier=tier or self.tiers[0], language=language,
                 attributes=attributes or {}, external_ids=external_ids or {})
        )
        points = self._contact_points(contact_points)
        return await self._db.write(customers.create_customer, fields, points, self._clock.utcnow())

    async def update_customer(self, customer_id: int | str, **changes: Any) -> Customer:
        """Change any of display_name, tier, language, attributes, external_ids, provisional.

        Documents are replaced whole. Unknown fields raise :class:`InvalidInput`.
        """
        fields = self._customer_fields(changes)
        return await self._db.write(customers.update_customer, _ident("customer_id", customer_id), fields, self._clock.utcnow())

    async def add_contact_point(self, customer_id: int | str, kind: str, raw: str) -> Customer:
        """Give the customer another phone or email; :class:`Conflict` if someone else has it."""
        value = normalize_contact(kind, raw, self._region, "value")
        return await self._db.write(customers.add_contact_point, _ident("customer_id", customer_id), kind, value, self._clock.utcnow())

    async def merge_customers(self, survivor_id: int | str, merged_id: int | str, actor: str | None = None) -> Customer:
        """Merge ``merged_id`` into ``survivor_id``; returns the survivor (see customers.merge_customers)."""
        survivor, merged = _ident("survivor_id", survivor_id), _ident("merged_id", merged_id)
        actor = validate.text("actor", actor, 100, optional=True)
        return await self._db.write(customers.merge_customers, survivor, merged, actor, self._clock.utcnow())

    async def timeline(self, customer_id: int | str, limit: int = 50, cursor: str | None = None) -> TimelinePage:
        """A page of the customer's interactions on every channel, newest first.

        ``limit`` is 1..500; ``cursor`` is a previous page's ``next_cursor``.
        """
        limit = validate.positive_int("limit", limit, maximum=MAX_TIMELINE_PAGE)
        if cursor is not None:
            interactions.decode_cursor(validate.text("cursor", cursor, 200))
        return await self._db.read(interactions.timeline, _ident("customer_id", customer_id), limit, cursor)

    # --- interactions ---

    async def create_interaction(
        self,
        customer_id: int | str,
        channel: str,
        direction: str,
        state: str = "new",
        *,
        actor: str | None = None,
        payload: Mapping[str, Any] | None = None,
        at: datetime | None = None,
        **fields: Any,
    ) -> Interaction:
        """Log a new interaction (``fields``: queue, agent, subject, disposition, notes, timestamps).

        ``at`` (default: now) is its ``created_at``. Raises :class:`NotFound` for an unknown customer.
        """
        values = self._interaction_fields(fields)
        values.update(
            channel=validate.name("channel", channel),
            direction=validate.choice("direction", direction, DIRECTIONS),
            state=validate.name("state", state),
            payload=validate.document("payload", payload, self._max_doc, optional=True),
        )
        actor = validate.text("actor", actor, 100, optional=True)
        now = validate.timestamp("at", at, optional=True) or self._clock.utcnow()
        return await self._writes.submit("interaction", (_ident("customer_id", customer_id), values, actor, now))

    async def update_interaction_state(
        self,
        interaction_id: int | str,
        state: str,
        at: datetime | None = None,
        actor: str | None = None,
        details: Mapping[str, Any] | None = None,
        **fields: Any,
    ) -> Interaction:
        """Move an interaction to ``state`` at ``at`` (default: now), setting ``fields`` too.

        ``fields`` are any of queue, agent, disposition, notes, subject and the lifecycle
        timestamps (queued_at, offered_at, accepted_at, answered_at, ended_at,
        wrap_up_ended_at). A ``state`` entry goes to the event log in the same transaction.
        """
        values = self._interaction_fields(fields)
        return await self._writes.submit("state", (
            _ident("interaction_id", interaction_id),
            validate.name("state", state),
            validate.timestamp("at", at, optional=True) or self._clock.utcnow(),
            validate.text("actor", actor, 100, optional=True),
            validate.document("details", details, self._max_doc, optional=True),
            values,
        ))

    def append_event(
        self,
        interaction_id: int | str,
        kind: str,
        actor: str | None = None,
        details: Mapping[str, Any] | None = None,
        at: datetime | None = None,
    ) -> Deferred:
        """Append an entry to an interaction's log; batched with concurrent appends (group commit).

        Awaitable (a plain Deferred: no coroutine on the hottest write) firing with the
        :class:`InteractionEvent` once committed and published; failing with
        :class:`InvalidInput` (nothing submitted) or :class:`NotFound` (unknown interaction).
        """
        try:
            request = self._event_request(interaction_id, kind, actor, details, at)
        except InvalidInput as error:
            return fail(error)
        return self._writes.submit("event", request)

    def append_events(self, entries: Iterable[Sequence[Any]]) -> Deferred:
        """Append several entries at once, each ``(interaction_id, kind[, actor[, details[, at]]])``,
        sharing one Deferred and the group commit of the moment.

        Fires once committed (and published, in order) with one outcome per entry, in order: the
        :class:`InteractionEvent`, or :class:`NotFound` in the place of an entry naming an unknown
        interaction (the others are stored). Fails with :class:`InvalidInput` naming the entry
        (``entries[2].kind``) before anything is submitted, and with the database's error when the
        whole transaction failed (then nothing is stored).
        """
        requests = []
        now = self._clock.utcnow()  # one instant for the entries without their own
        try:
            for n, entry in enumerate(entries):
                try:
                    requests.append(self._event_request(*entry, now=now))
                except InvalidInput as error:
                    raise InvalidInput(f"entries[{n}].{error.field}", error.message) from None
                except TypeError:
                    raise InvalidInput(f"entries[{n}]", "must be (interaction_id, kind[, actor[, details[, at]]])") from None
        except InvalidInput as error:
            return fail(error)
        return self._writes.submit_many("event", requests)

    def _event_request(self, interaction_id: Any, kind: Any, actor: Any = None, details: Any = None,
                       at: Any = None, *, now: datetime | None = None) -> tuple:
        return (
            _ident("interaction_id", interaction_id),
            validate.timestamp("at", at, optional=True) or now or self._clock.utcnow(),
            validate.name("kind", kind, 64),
            validate.text("actor", actor, 100, optional=True),
            *validate.document_with_text("details", details, self._max_doc, optional=True),
        )

    async def interaction_view(self, interaction_id: int | str, limit: int = 20) -> tuple[Interaction, Customer, TimelinePage]:
        """An interaction, its customer and the first ``limit`` items of the customer's timeline,
        read in one transaction (a screen pop); :class:`NotFound` if the interaction is unknown."""
        limit = validate.positive_int("limit", limit, maximum=MAX_TIMELINE_PAGE)
        return await self._db.read(_interaction_view, _ident("interaction_id", interaction_id), limit)

    async def get_interaction(self, interaction_id: int | str) -> Interaction:
        """One interaction; :class:`NotFound` if unknown."""
        return await self._db.read(interactions.get_interaction, _ident("interaction_id", interaction_id))

    async def interaction_events(self, interaction_id: int | str) -> tuple[InteractionEvent, ...]:
        """An interaction's event log, oldest first; :class:`NotFound` if unknown."""
        return tuple(await self._db.read(interactions.interaction_log, _ident("interaction_id", interaction_id)))

    # --- audit ---

    async def record_audit(self, action: str, subject_kind: str, subject_id: int = 0, actor: str | None = None,
                           details: Mapping[str, Any] | None = None) -> audit.AuditEntry:
        """Append to the audit trail (config reloads, supervisor actions); returns the entry."""
        return await self._db.write(
            audit.record, self._clock.utcnow(), validate.text("actor", actor, 100, optional=True),
            validate.name("action", action, 64), validate.name("subject_kind", subject_kind, 32), subject_id,
            validate.document("details", details, self._max_doc, optional=True) or {})

    async def recent_audit(self, action_prefix: str | None = None, limit: int = 50) -> list[audit.AuditEntry]:
        """The newest audit entries first, optionally only actions starting with ``action_prefix``."""
        return await self._db.read(audit.recent, action_prefix, validate.positive_int("limit", limit, maximum=500))

    async def drain(self) -> None:
        """Wait for queued event appends and lookups to finish; call before :meth:`Database.stop`."""
        await self._writes.drain()
        await self._lookups.drain()

    # --- validation ---

    def _customer_fields(self, changes: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in changes.items():
            if key == "display_name":
                out[key] = validate.text(key, value, 200, allow_empty=True)
            elif key == "tier":
                out[key] = validate.choice(key, value, self.tiers)
            elif key == "language":
                out[key] = validate.language(key, value)
            elif key in ("attributes", "external_ids"):
                out[key] = validate.document(key, value, self._max_doc)
            elif key == "provisional":
                if not isinstance(value, bool):
                    raise InvalidInput(key, "must be true or false")
                out[key] = value
            else:
                raise InvalidInput(key, "is not a customer field")
        return out

    def _contact_points(self, items: Iterable[Any]) -> list[tuple[str, str]]:
        out = []
        for n, item in enumerate(items):
            where = f"contact_points[{n}]"
            if isinstance(item, Mapping):
                kind, raw = item.get("kind"), item.get("value")
            elif isinstance(item, (tuple, list)) and len(item) == 2:
                kind, raw = item
            else:
                raise InvalidInput(where, "must be a (kind, value) pair")
            kind = validate.choice(f"{where}.kind", kind, CONTACT_KINDS)
            point = (kind, normalize_contact(kind, raw, self._region, f"{where}.value"))
            if point in out:
                raise InvalidInput(where, "is listed twice")
            out.append(point)
        return out

    def _interaction_fields(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in fields.items():
            if key in INTERACTION_TIMESTAMPS:
                out[key] = validate.timestamp(key, value, optional=True)
            elif key in INTERACTION_TEXT_FIELDS:
                out[key] = validate.text(key, value, _TEXT_LIMITS[key], optional=True, allow_empty=True)
            else:
                raise InvalidInput(key, "is not an interaction field")
        return out


def _interaction_view(conn: Any, interaction_id: int, limit: int) -> tuple[Interaction, Customer, TimelinePage]:
    interaction = interactions.get_interaction(conn, interaction_id)
    customer = customers.get_customer(conn, interaction.customer_id)
    return interaction, customer, interactions.timeline(conn, customer.id, limit, None)


def _ident(field: str, value: Any) -> int:
    """An id given as an int or a string of digits (as it arrives from a URL)."""
    if isinstance(value, str) and value.isascii() and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**63:
        raise InvalidInput(field, "must be a positive integer id")
    return value
