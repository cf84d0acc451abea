"""The audit trail: who did what to which object, and when (config reloads, supervisor actions).

Units of work for :meth:`callcenter.records.database.Database.write`/``read``. Rows are
append-only; ``details`` is a JSON document. Subjects without a numeric id (the
configuration) use ``subject_id`` 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Mapping

from sqlalchemy import insert, select
from sqlalchemy.engine import Connection

from callcenter.records.database import UnitOfWork
from callcenter.records.schema import audit_log


@dataclass(frozen=True)
class AuditEntry:
    """One audit row."""

    id: int
    at: datetime
    actor: str | None
    action: str
    subject_kind: str
    subject_id: int
    details: dict[str, Any]


def _entry(row: Any) -> AuditEntry:
    m = row._mapping
    return AuditEntry(m["id"], m["at"], m["actor"], m["action"], m["subject_kind"], m["subject_id"], dict(m["details"]))


def record(conn: Connection, uow: UnitOfWork, at: datetime, actor: str | None, action: str,
           subject_kind: str, subject_id: int, details: Mapping[str, Any]) -> AuditEntry:
    """Append one audit row and return it."""
    values = dict(at=at, actor=actor, action=action, subject_kind=subject_kind, subject_id=subject_id,
                  details=dict(details))
    new_id = conn.execute(insert(audit_log).values(**values)).inserted_primary_key[0]
    return AuditEntry(new_id, **values)


def recent(conn: Connection, action_prefix: str | None, limit: int) -> list[AuditEntry]:
    """The newest ``limit`` rows, newest first, optionally only actions starting with the prefix."""
    query = select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
    if action_prefix:
        query = query.where(audit_log.c.action.startswith(action_prefix, autoescape=True))
    return [_entry(r) for r in conn.execute(query).all()]
