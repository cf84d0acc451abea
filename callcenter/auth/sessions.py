"""Browser sessions: opaque random tokens with idle and absolute expiry, and a CSRF token each.

The cookie carries only the session token (HttpOnly, SameSite=Lax, Secure behind TLS); the
CSRF token is given to the page and must come back in the ``X-CSRF-Token`` header or the
``csrf_token`` form field of every state-changing request. Time and randomness are injected.

The store is in memory and keyed by the SHA-256 of the token (:func:`token_key`), which is
also all the record keeps (:mod:`callcenter.records.sessions`): the web layer writes each
session there and :meth:`SessionStore.restore` puts them back on start, so a restart keeps
people signed in while a copy of the database alone lets nobody in.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, replace
from typing import Callable

ROLES = ("agent", "supervisor", "admin")


def token_key(token: str) -> str:
    """The SHA-256 (hex) of a session token: how a session is found and stored."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Session:
    """One logged-in browser; ``token`` is '' for a restored session until its browser presents it."""

    token: str
    csrf_token: str
    user_id: str
    role: str
    created_at: float
    last_seen: float


class SessionStore:
    """Creates, looks up, refreshes and revokes sessions.

    A session expires ``idle_timeout`` seconds after its last use and ``max_age`` seconds after
    it was created, whichever comes first.
    """

    def __init__(self, idle_timeout: float = 8 * 3600, max_age: float = 24 * 3600,
                 token_source: Callable[[int], str] = secrets.token_urlsafe) -> None:
        self.idle_timeout = idle_timeout
        self.max_age = max_age
        self._token = token_source
        self._sessions: dict[str, Session] = {}

    def create(self, user_id: str, role: str, now: float) -> Session:
        """Start a session for ``user_id`` with ``role``; ValueError for an unknown role."""
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}")
        session = Session(self._token(32), self._token(32), user_id, role, now, now)
        self._sessions[token_key(session.token)] = replace(session, token="")
        return session

    def restore(self, key: str, session: Session) -> None:
        """Put back a session read from the record under its :func:`token_key` ``key``."""
        self._sessions[key] = replace(session, token="")

    def get(self, token: str | None, now: float) -> Session | None:
        """The live session for ``token`` (refreshing its idle timer), or None if unknown/expired."""
        if not token:
            return None
        key = token_key(token)
        session = self._sessions.get(key)
        if session is None:
            return None
        if self.expired(session, now):
            del self._sessions[key]
            return None
        session = replace(session, last_seen=now)
        self._sessions[key] = session
        return replace(session, token=token)

    def expired(self, session: Session, now: float) -> bool:
        """True once ``session`` is past its idle or absolute lifetime at ``now``."""
        return now - session.last_seen >= self.idle_timeout or now - session.created_at >= self.max_age

    def revoke(self, token: str) -> None:
        """End one session (logout); unknown tokens are ignored."""
        self._sessions.pop(token_key(token), None)

    def revoke_user(self, user_id: str) -> int:
        """End every session of ``user_id``; returns how many ended."""
        keys = [k for k, s in self._sessions.items() if s.user_id == user_id]
        for k in keys:
            del self._sessions[k]
        return len(keys)

    def purge(self, now: float) -> None:
        """Drop expired sessions."""
        for key in [k for k, s in self._sessions.items() if self.expired(s, now)]:
            del self._sessions[key]


def csrf_ok(session: Session, presented: str | None) -> bool:
    """True when ``presented`` is this session's CSRF token (constant-time comparison)."""
    return presented is not None and hmac.compare_digest(session.csrf_token.encode(), presented.encode())
