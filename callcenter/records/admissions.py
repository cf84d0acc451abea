"""The one write that stores a new contact: customer, contact points, interaction, log entries.

:func:`admit_contacts` runs on the database's write thread inside one transaction for a whole
batch of contacts (the intake pipeline group-commits the contacts that arrive together). Per
contact it

1. identifies the customer from the contact points it gave, in order of preference: the
   owner of the first point somebody owns; else the customer the pipeline already chose
   (``customer_id``); else a new customer with the reserved ``new_customer_id`` (provisional
   unless told otherwise). Points nobody owns are attached to that customer; a point owned by
   someone else is noted (``{kind}_owner``) for a person to merge, never moved;
2. gives a customer without a name the contact's ``display_name`` and one without a language
   the contact's ``language``;
3. inserts the interaction with its reserved id, and its log: ``created`` then each entry of
   ``events``;
4. runs the channel's ``extra`` unit of work (``extra(conn, uow, interaction)``) for rows of
   its own (a form's confirmation mail, say); extras of one kind that offer ``run_together``
   run together, one statement per table for the whole batch.

Everything of one contact is in the same transaction as its interaction, so a contact is
stored whole or not at all. The batch is written with one statement per table; if any
contact fails (a record error, a constraint another node's write got to first), the batch is
retried one contact per savepoint so the others still commit and only that one gets its error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Mapping, Sequence

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.engine import Connection

from callcenter.runtime.events import ContactPointAdded, CustomerCreated, CustomerUpdated, InteractionCreated
from callcenter.records.batching import together_else_each
from callcenter.records.database import UnitOfWork
from callcenter.records.errors import NotFound
from callcenter.records.interactions import append_events
from callcenter.records.model import Interaction
from callcenter.records.schema import contact_points, customers, interactions

Extra = Callable[[Connection, UnitOfWork, Interaction], Any]

_INTERACTION_DEFAULTS = {
    "queue": None, "agent": None, "queued_at": None, "offered_at": None, "accepted_at": None, "answered_at": None,
    "ended_at": None, "wrap_up_ended_at": None, "disposition": None, "notes": None, "subject": None,
}


@dataclass(frozen=True)
class ContactWrite:
    """One contact to store (validated and normalized by the caller; see the module docstring).

    ``points`` are normalized ``(kind, value)`` pairs in order of preference; ``fields`` the
    interaction's columns (``channel``, ``direction``, ``state``, ``queue``, ``subject``,
    ``payload``, timestamps); ``events`` the log entries after ``created`` as
    ``(kind, actor, details)``.
    """

    interaction_id: int
    new_customer_id: int
    fields: Mapping[str, Any]
    now: datetime
    points: tuple[tuple[str, str], ...] = ()
    customer_id: int | None = None
    tier: str = "basic"
    display_name: str | None = None
    language: str | None = None
    provisional: bool = True
    actor: str | None = None
    events: tuple[tuple[str, "str | None", Mapping[str, Any]], ...] = ()
    extra: Extra | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Admitted:
    """What :func:`admit_contacts` stored for one contact.

    ``identity`` notes contact points that belong to another customer (``{kind}_owner``)."""

    interaction: Interaction
    customer_id: int
    new_customer: bool
    identity: Mapping[str, Any]
    extra: Any = None


def admit_contacts(conn: Connection, uow: UnitOfWork, requests: Sequence[ContactWrite]) -> list[Admitted | Exception]:
    """Store every contact of ``requests`` in this transaction; one outcome per request, in order.

    An outcome is :class:`Admitted`, or the record error / integrity error that contact met
    (then nothing of it is stored; the others are).
    """
    return together_else_each(conn, uow, _admit_all, requests)


def _admit_all(conn: Connection, uow: UnitOfWork, requests: Sequence[ContactWrite]) -> list[Admitted]:
    owners = _owners(conn, {p for r in requests for p in r.points})
    resolved = _resolve(conn, {r.customer_id for r in requests if r.customer_id is not None})
    new_customers: list[dict[str, Any]] = []
    new_points: list[dict[str, Any]] = []
    named: dict[int, dict[str, Any]] = {}
    chosen: list[tuple[int, bool, dict[str, Any]]] = []
    created_ids: set[int] = set()
    for r in requests:
        customer = next((owners[p] for p in r.points if owners.get(p) is not None), None)
        if customer is None and r.customer_id is not None:
            customer = resolved.get(r.customer_id)
            if customer is None:
                raise NotFound("customer", r.customer_id)
        new = customer is None
        if new:
            customer = r.new_customer_id
            created_ids.add(customer)
            new_customers.append({"id": customer, "display_name": (r.display_name or "")[:200], "tier": r.tier,
                                  "language": r.language, "attributes": {}, "external_ids": {},
                                  "provisional": r.provisional, "merged_into": None,
                                  "created_at": r.now, "updated_at": r.now})
        identity: dict[str, Any] = {}
        for kind, value in r.points:
            owner = owners.get((kind, value))
            if owner is None:
                owners[(kind, value)] = customer
                new_points.append({"customer_id": customer, "kind": kind, "value": value, "created_at": r.now})
            elif owner != customer:
                identity[f"{kind}_owner"] = owner
        if not new and (r.display_name or r.language):
            named.setdefault(customer, {"now": r.now, "display_name": r.display_name, "language": r.language})
        chosen.append((customer, new, identity))
    if new_customers:
        conn.execute(_INSERT_CUSTOMERS, new_customers)
        for row in new_customers:
            uow.emit(CustomerCreated(at=row["created_at"].timestamp(), customer_id=row["id"],
                                     provisional=bool(row["provisional"])))
    if new_points:
        conn.execute(_INSERT_POINTS, new_points)
        for row in new_points:
            uow.emit(ContactPointAdded(at=row["created_at"].timestamp(), customer_id=row["customer_id"],
                                       kind=row["kind"], value=row["value"]))
    if named:
        _fill_blanks(conn, uow, named)
    rows = []
    for r, (customer, _, identity) in zip(requests, chosen):
        values = {**_INTERACTION_DEFAULTS, "payload": {}, **r.fields}
        if identity:  # noted on the interaction too, where the person who merges looks
            values["payload"] = {**values["payload"], "identity": identity}
        rows.append({**values, "id": r.interaction_id, "customer_id": customer, "created_at": r.now, "updated_at": r.now})
    conn.execute(_INSERT_INTERACTIONS, rows)
    log = []
    for r, row in zip(requests, rows):
        log.append((r.interaction_id, r.now, "created", r.actor, {"state": row["state"]}))
        log.extend((r.interaction_id, r.now, kind, actor, dict(details)) for kind, actor, details in r.events)
    append_events(conn, uow, log)
    created_all = []
    for r, row, (customer, _, _) in zip(requests, rows, chosen):
        created = Interaction(**{k: row[k] for k in Interaction.__dataclass_fields__ if k != "payload"},
                              payload=dict(row["payload"]))
        uow.emit(InteractionCreated(at=r.now.timestamp(), interaction_id=created.id, customer_id=customer,
                                    channel=created.channel, direction=created.direction, state=created.state,
                                    interaction=created))
        created_all.append(created)
    extras = _run_extras(conn, uow, [(r.extra, created) for r, created in zip(requests, created_all)])
    return [Admitted(created, customer, new, identity, extra)
            for created, (customer, new, identity), extra in zip(created_all, chosen, extras)]


def _run_extras(conn: Connection, uow: UnitOfWork, items: Sequence[tuple[Extra | None, Interaction]]) -> list[Any]:
    """Each contact's ``extra`` outcome, in order. An extra with a ``run_together(conn, uow,
    [(extra, interaction), ...])`` runs with the others of its kind in one call (the forms'
    confirmations of a group commit: one statement per table), after the ones run alone."""
    out: list[Any] = [None] * len(items)
    together: dict[Any, list[int]] = {}
    for n, (extra, created) in enumerate(items):
        if extra is None:
            continue
        runner = getattr(extra, "run_together", None)
        if runner is None:
            out[n] = extra(conn, uow, created)
        else:
            together.setdefault(runner, []).append(n)
    for runner, indexes in together.items():
        for n, result in zip(indexes, runner(conn, uow, [items[n] for n in indexes])):
            out[n] = result
    return out


# Statements built once (building one costs more than running it).
_INSERT_CUSTOMERS = insert(customers)
_INSERT_POINTS = insert(contact_points)
_INSERT_INTERACTIONS = insert(interactions)
_OWNERS = (select(contact_points.c.kind, contact_points.c.value, customers.c.id, customers.c.merged_into)
           .join(customers, customers.c.id == contact_points.c.customer_id)
           .where(contact_points.c.kind.in_(bindparam("kinds", expanding=True)),
                  contact_points.c.value.in_(bindparam("values", expanding=True))))
_RESOLVE = select(customers.c.id, customers.c.merged_into).where(customers.c.id.in_(bindparam("ids", expanding=True)))
_NAMES = (select(customers.c.id, customers.c.display_name, customers.c.language)
          .where(customers.c.id.in_(bindparam("ids", expanding=True))))


def _owners(conn: Connection, points: set[tuple[str, str]]) -> dict[tuple[str, str], int | None]:
    """The customer (resolved through merges) owning each point, or None."""
    found: dict[tuple[str, str], int | None] = dict.fromkeys(points)
    if not points:
        return found
    kinds, values = sorted({k for k, _ in points}), sorted({v for _, v in points})
    for row in conn.execute(_OWNERS, {"kinds": kinds, "values": values}):
        if (row.kind, row.value) in found:
            found[(row.kind, row.value)] = row.merged_into if row.merged_into is not None else row.id
    return found


def _resolve(conn: Connection, ids: set[int]) -> dict[int, int]:
    """Each existing id of ``ids`` -> itself or the survivor of its merge."""
    if not ids:
        return {}
    rows = conn.execute(_RESOLVE, {"ids": sorted(ids)})
    return {row.id: row.merged_into if row.merged_into is not None else row.id for row in rows}


def _fill_blanks(conn: Connection, uow: UnitOfWork, named: Mapping[int, Mapping[str, Any]]) -> None:
    """Give existing customers the name and language they lack (never overwriting one)."""
    rows = conn.execute(_NAMES, {"ids": sorted(named)}).all()
    for row in rows:
        want = named[row.id]
        changes = {}
        if want["display_name"] and not row.display_name:
            changes["display_name"] = want["display_name"][:200]
        if want["language"] and not row.language:
            changes["language"] = want["language"]
        if changes:
            conn.execute(update(customers).where(customers.c.id == row.id).values(**changes, updated_at=want["now"]))
            uow.emit(CustomerUpdated(at=want["now"].timestamp(), customer_id=row.id, fields=tuple(sorted(changes))))
