"""Browser sessions in the record: written as they start, touched, end; read back on start.

Only the SHA-256 of a session's token is stored (:func:`callcenter.auth.sessions.token_key`),
never the token, so reading the database does not let anyone in. The CSRF token is stored as
is: it is worthless without the cookie. Units of work follow :mod:`callcenter.records.users`.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import delete, insert, or_, select, update
from sqlalchemy.engine import Connection

from callcenter.auth.sessions import Session
from callcenter.records.schema import web_sessions


def _at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, timezone.utc)


def _save(conn: Connection, _uow: Any, key: str, session: Session) -> None:
    conn.execute(insert(web_sessions).values(
        token_hash=key, csrf_token=session.csrf_token, user_id=int(session.user_id), role=session.role,
        created_at=_at(session.created_at), last_seen=_at(session.last_seen)))


def _touch(conn: Connection, _uow: Any, key: str, last_seen: float) -> None:
    conn.execute(update(web_sessions).where(web_sessions.c.token_hash == key).values(last_seen=_at(last_seen)))


def _end(conn: Connection, _uow: Any, keys: list[str], user_id: int | None) -> None:
    conn.execute(delete(web_sessions).where(or_(web_sessions.c.token_hash.in_(keys),
                                                web_sessions.c.user_id == user_id)))


def _end_expired(conn: Connection, _uow: Any, idle_before: float, created_before: float) -> None:
    conn.execute(delete(web_sessions).where(or_(web_sessions.c.last_seen <= _at(idle_before),
                                                web_sessions.c.created_at <= _at(created_before))))


def _live(conn: Connection) -> list[tuple[str, Session]]:
    rows = conn.execute(select(web_sessions)).all()
    return [(r.token_hash, Session("", r.csrf_token, str(r.user_id), r.role, r.created_at.timestamp(),
                                   r.last_seen.timestamp())) for r in rows]


class SessionRecords:
    """The ``web_sessions`` table on a :class:`~callcenter.records.database.Database`; each method
    is one transaction on a database thread and raises what the database raises."""

    def __init__(self, db: Any) -> None:
        self._db = db

    async def save(self, key: str, session: Session) -> None:
        """Store a new session under ``key`` (its token's SHA-256)."""
        await self._db.write(_save, key, session)

    async def touch(self, key: str, last_seen: float) -> None:
        """Move a session's last use to ``last_seen`` (epoch seconds)."""
        await self._db.write(_touch, key, last_seen)

    async def end(self, keys: list[str], user_id: int | None = None) -> None:
        """Delete the sessions under ``keys`` and, with ``user_id``, every session of that user."""
        await self._db.write(_end, keys, user_id)

    async def end_expired(self, idle_before: float, created_before: float) -> None:
        """Delete sessions last used at or before ``idle_before`` or created at or before ``created_before``."""
        await self._db.write(_end_expired, idle_before, created_before)

    async def live(self) -> list[tuple[str, Session]]:
        """Every stored session as (key, session with an empty token); the caller drops expired ones."""
        return await self._db.read(_live)
