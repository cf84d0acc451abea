"""Units of work on customers: lookup, identity resolution, create, update, merge.

Each public function runs on a database thread inside the transaction the
:class:`~callcenter.records.database.Database` opened: readers take ``(conn, ...)``, writers
``(conn, uow, ...)``. Inputs are already validated and normalized by the store; the time is
passed in (``now``). They return frozen dataclasses and raise the record's typed errors,
which roll the transaction back.

A merged customer keeps its row with ``merged_into`` set to the survivor; merges re-point
earlier merges, so resolution is always one hop.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Iterable, Sequence

from sqlalchemy import bindparam, case, func, insert, select, update
from sqlalchemy.engine import Connection

from callcenter.runtime.events import ContactPointAdded, CustomerCreated, CustomersMerged, CustomerUpdated
from callcenter.records.database import UnitOfWork
from callcenter.records.errors import Conflict, NotFound
from callcenter.records.model import ContactPoint, Customer
from callcenter.records.schema import audit_log, contact_points, customers, interactions

UPDATABLE_FIELDS = ("display_name", "tier", "language", "attributes", "external_ids", "provisional")


def resolve_id(conn: Connection, customer_id: int) -> int:
    """The id that ``customer_id`` resolves to (itself, or the survivor of its merge).

    Raises :class:`NotFound` when no such customer exists.
    """
    row = conn.execute(_RESOLVE, {"customer_id": customer_id}).first()
    if row is None:
        raise NotFound("customer", customer_id)
    return row.merged_into if row.merged_into is not None else row.id


def get_customer(conn: Connection, customer_id: int) -> Customer:
    """The customer ``customer_id`` resolves to, with its contact points; :class:`NotFound` if none."""
    rows = conn.execute(_BY_ID, {"customer_id": customer_id}).all()
    if not rows:
        raise NotFound("customer", customer_id)
    return _customer(rows)


def find_by_contact(conn: Connection, kind: str, value: str) -> Customer | None:
    """The customer owning the normalized contact point ``(kind, value)``, or None."""
    rows = conn.execute(_BY_CONTACT, {"kind": kind, "value": value}).all()
    return _customer(rows) if rows else None


def find_many_by_contact(conn: Connection, points: Sequence[tuple[str, str]]) -> list[Customer | None]:
    """:func:`find_by_contact` for each ``(kind, value)``, in order, in one query."""
    if not points:
        return []
    by_point: dict[tuple[str, str], list[Any]] = {}
    params = {"kinds": sorted({k for k, _ in points}), "values": sorted({v for _, v in points})}
    for row in conn.execute(_BY_CONTACTS, params):
        # The INs may match a pair nobody asked for (a kind of one, the value of another).
        by_point.setdefault((row.hit_kind, row.hit_value), []).append(row)
    found = {point: _customer(rows) for point, rows in by_point.items()}
    return [found.get(point) for point in points]


def find_or_create(conn: Connection, uow: UnitOfWork, kind: str, value: str, tier: str, now: datetime) -> Customer:
    """The owner of ``(kind, value)``; if nobody owns it, a new provisional customer that does."""
    found = find_by_contact(conn, kind, value)
    if found is not None:
        return found
    return create_customer(conn, uow, dict(display_name="", tier=tier, provisional=True), [(kind, value)], now)


def create_customer(
    conn: Connection,
    uow: UnitOfWork,
    fields: dict[str, Any],
    points: Iterable[tuple[str, str]],
    now: datetime,
) -> Customer:
    """Insert a customer with ``fields`` (see :data:`UPDATABLE_FIELDS`, and optionally a
    reserved ``id``) and contact points.

    Raises :class:`Conflict` if a contact point already belongs to a customer.
    """
    values = dict(display_name="", language=None, attributes={}, external_ids={}, provisional=False)
    values.update(fields)
    if values.get("id") is None:
        values.pop("id", None)
        explicit = uow.new_id(conn, "customers")
        if explicit is not None:
            values["id"] = explicit
    customer_id = conn.execute(
        insert(customers).values(**values, created_at=now, updated_at=now).returning(customers.c.id)
    ).scalar_one()
    uow.emit(CustomerCreated(at=now.timestamp(), customer_id=customer_id, provisional=bool(values["provisional"])))
    for kind, value in points:
        _attach(conn, uow, customer_id, kind, value, now)
    return get_customer(conn, customer_id)


def update_customer(conn: Connection, uow: UnitOfWork, customer_id: int, changes: dict[str, Any], now: datetime) -> Customer:
    """Apply ``changes`` (validated fields of :data:`UPDATABLE_FIELDS`) to the resolved customer."""
    survivor = resolve_id(conn, customer_id)
    if changes:
        conn.execute(update(customers).where(customers.c.id == survivor).values(**changes, updated_at=now))
        uow.emit(CustomerUpdated(at=now.timestamp(), customer_id=survivor, fields=tuple(sorted(changes))))
    return get_customer(conn, survivor)


def add_contact_point(conn: Connection, uow: UnitOfWork, customer_id: int, kind: str, value: str, now: datetime) -> Customer:
    """Attach ``(kind, value)`` to the resolved customer; adding one it already has is a no-op.

    Raises :class:`Conflict` when another customer owns it (merge them instead).
    """
    survivor = resolve_id(conn, customer_id)
    owner = conn.execute(
        select(contact_points.c.customer_id).where(contact_points.c.kind == kind, contact_points.c.value == value)
    ).scalar()
    if owner != survivor:
        _attach(conn, uow, survivor, kind, value, now)
        conn.execute(update(customers).where(customers.c.id == survivor).values(updated_at=now))
    return get_customer(conn, survivor)


def merge_customers(
    conn: Connection, uow: UnitOfWork, survivor_id: int, merged_id: int, actor: str | None, now: datetime
) -> Customer:
    """Merge ``merged_id`` into ``survivor_id`` and return the survivor.

    Contact points and interactions move to the survivor; attributes and external ids are
    combined (the survivor's value wins on a shared key); the survivor stays provisional only
    if both were. An audit row records what moved. Raises :class:`NotFound` for an unknown
    id and :class:`Conflict` for a self-merge or when either customer was already merged.
    """
    if survivor_id == merged_id:
        raise Conflict("a customer cannot be merged into itself")
    rows = {
        r.id: r
        for r in conn.execute(select(customers).where(customers.c.id.in_((survivor_id, merged_id))).with_for_update())
    }
    for ident in (survivor_id, merged_id):
        if ident not in rows:
            raise NotFound("customer", ident)
        if rows[ident].merged_into is not None:
            raise Conflict(f"customer {ident} was already merged into customer {rows[ident].merged_into}")
    survivor, merged = rows[survivor_id], rows[merged_id]
    moved_points = conn.execute(
        update(contact_points).where(contact_points.c.customer_id == merged_id).values(customer_id=survivor_id)
    ).rowcount
    moved_interactions = conn.execute(
        update(interactions).where(interactions.c.customer_id == merged_id).values(customer_id=survivor_id)
    ).rowcount
    # Earlier merges into the merged customer now point at the survivor: resolution stays one hop.
    conn.execute(update(customers).where(customers.c.merged_into == merged_id).values(merged_into=survivor_id))
    conn.execute(update(customers).where(customers.c.id == merged_id).values(merged_into=survivor_id, updated_at=now))
    conn.execute(
        update(customers)
        .where(customers.c.id == survivor_id)
        .values(
            attributes={**merged.attributes, **survivor.attributes},
            external_ids={**merged.external_ids, **survivor.external_ids},
            provisional=bool(survivor.provisional and merged.provisional),
            updated_at=now,
        )
    )
    conn.execute(
        insert(audit_log).values(
            at=now,
            actor=actor,
            action="customer.merge",
            subject_kind="customer",
            subject_id=survivor_id,
            details={
                "survivor_id": survivor_id,
                "merged_id": merged_id,
                "contact_points_moved": moved_points,
                "interactions_moved": moved_interactions,
                "merged_customer": {
                    "display_name": merged.display_name,
                    "tier": merged.tier,
                    "language": merged.language,
                    "attributes": merged.attributes,
                    "external_ids": merged.external_ids,
                    "provisional": bool(merged.provisional),
                },
            },
        )
    )
    uow.emit(CustomersMerged(at=now.timestamp(), survivor_id=survivor_id, merged_id=merged_id, actor=actor))
    return get_customer(conn, survivor_id)


def audit_entries(conn: Connection, subject_kind: str, subject_id: int) -> list[dict[str, Any]]:
    """The audit rows about one subject, oldest first, as plain dicts."""
    rows = conn.execute(
        select(audit_log)
        .where(audit_log.c.subject_kind == subject_kind, audit_log.c.subject_id == subject_id)
        .order_by(audit_log.c.id)
    ).all()
    return [dict(r._mapping) for r in rows]


def count_customers(conn: Connection) -> int:
    """How many customer rows exist, merged ones included (for tests and benchmarks)."""
    return conn.execute(select(func.count()).select_from(customers)).scalar_one()


def _attach(conn: Connection, uow: UnitOfWork, customer_id: int, kind: str, value: str, now: datetime) -> None:
    owner = conn.execute(
        select(contact_points.c.customer_id).where(contact_points.c.kind == kind, contact_points.c.value == value)
    ).scalar()
    if owner is not None:
        raise Conflict(f"{kind} {value} already belongs to customer {owner}")
    conn.execute(insert(contact_points).values(customer_id=customer_id, kind=kind, value=value, created_at=now))
    uow.emit(ContactPointAdded(at=now.timestamp(), customer_id=customer_id, kind=kind, value=value))


# A customer and its contact points come back in one query, one row per point (or one row
# with NULL point columns when it has none). Statements are built once: lookups are hot.
_points = contact_points.alias("points")
_CUSTOMER_COLUMNS = [
    *customers.c,
    _points.c.id.label("point_id"),
    _points.c.kind.label("point_kind"),
    _points.c.value.label("point_value"),
    _points.c.created_at.label("point_created_at"),
]
_POINT_ORDER = (case((_points.c.kind == "phone", 0), else_=1), _points.c.id)
_hit = contact_points.alias("hit")
_BY_CONTACT = (
    select(*_CUSTOMER_COLUMNS)
    .select_from(_hit.join(customers, customers.c.id == _hit.c.customer_id).outerjoin(_points, _points.c.customer_id == customers.c.id))
    .where(_hit.c.kind == bindparam("kind"), _hit.c.value == bindparam("value"))
    .order_by(*_POINT_ORDER)
)
_BY_CONTACTS = (
    select(*_CUSTOMER_COLUMNS, _hit.c.kind.label("hit_kind"), _hit.c.value.label("hit_value"))
    .select_from(_hit.join(customers, customers.c.id == _hit.c.customer_id).outerjoin(_points, _points.c.customer_id == customers.c.id))
    # Two plain INs, not a row-value IN: SQLite searches the (kind, value) index only for these.
    .where(_hit.c.kind.in_(bindparam("kinds", expanding=True)), _hit.c.value.in_(bindparam("values", expanding=True)))
    .order_by(*_POINT_ORDER)
)
_RESOLVE = select(customers.c.id, customers.c.merged_into).where(customers.c.id == bindparam("customer_id"))
_asked = customers.alias("asked")
_BY_ID = (
    select(*_CUSTOMER_COLUMNS)
    .select_from(customers.outerjoin(_points, _points.c.customer_id == customers.c.id))
    .where(
        customers.c.id
        == select(func.coalesce(_asked.c.merged_into, _asked.c.id)).where(_asked.c.id == bindparam("customer_id")).scalar_subquery()
    )
    .order_by(*_POINT_ORDER)
)


def _customer(rows: list[Any]) -> Customer:
    first = rows[0]
    return Customer(
        id=first.id,
        display_name=first.display_name,
        tier=first.tier,
        language=first.language,
        attributes=dict(first.attributes),
        external_ids=dict(first.external_ids),
        provisional=bool(first.provisional),
        created_at=first.created_at,
        updated_at=first.updated_at,
        contact_points=tuple(
            ContactPoint(id=r.point_id, customer_id=first.id, kind=r.point_kind, value=r.point_value, created_at=r.point_created_at)
            for r in rows
            if r.point_id is not None
        ),
    )
