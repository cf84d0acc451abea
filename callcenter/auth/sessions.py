"""Browser sessions: opaque random tokens with idle and absolute expiry, and a CSRF token each.

The cookie carries only the session token (HttpOnly, SameSite=Lax, Secure behind TLS); the
CSRF token is given to the page and must come back in the ``X-CSRF-Token`` header or the
``csrf_token`` form field of every state-changing request. Time and randomness are injected.
Sessions live in memory: a restart logs everyone out, which is the safe failure.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass, replace
from typing import Callable

ROLES = ("agent", "supervisor", "admin")


@dataclass(frozen=True)
class Session:
    """One logged-in browser."""

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
        self._sessions[session.token] = session
        return session

    def get(self, token: str | None, now: float) -> Session | None:
        """The live session for ``token`` (refreshing its idle timer), or None if unknown/expired."""
        if not token:
            return None
        session = self._sessions.get(token)
        if session is None:
            return None
        if now - session.last_seen >= self.idle_timeout or now - session.created_at >= self.max_age:
            del self._sessions[token]
            return None
        session = replace(session, last_seen=now)
        self._sessions[token] = session
        return session

    def revoke(self, token: str) -> None:
        """End one session (logout); unknown tokens are ignored."""
        self._sessions.pop(token, None)

    def revoke_user(self, user_id: str) -> int:
        """End every session of ``user_id``; returns how many ended."""
        tokens = [t for t, s in self._sessions.items() if s.user_id == user_id]
        for t in tokens:
            del self._sessions[t]
        return len(tokens)

    def purge(self, now: float) -> None:
        """Drop expired sessions."""
        for token in [t for t, s in self._sessions.items()
                      if now - s.last_seen >= self.idle_timeout or now - s.created_at >= self.max_age]:
            del self._sessions[token]


def csrf_ok(session: Session, presented: str | None) -> bool:
    """True when ``presented`` is this session's CSRF token (constant-time comparison)."""
    return presented is not None and hmac.compare_digest(session.csrf_token.encode(), presented.encode())
