"""Who makes a request, and the refusal of one.

:class:`Principal` is the signed-in user as the web layer sees them (:func:`user_principal` makes
one from a stored user); :class:`AuthError` is a refused request (401, 403 or 429), answered by
:func:`callcenter.web.guards.deny` or turned into a JsonApi error. Who the principal is, is
decided by :class:`callcenter.web.authn.Authenticator`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from callcenter.web.jsonapi import ApiError


@dataclass(frozen=True)
class Principal:
    """Who makes a request: the user, their role, and the agent login they work as (or None)."""

    user_id: int
    login: str
    role: str
    agent: str | None


class AuthError(Exception):
    """A refused request: ``status`` 401 (who are you?), 403 (not allowed / CSRF) or 429."""

    def __init__(self, status: int, code: str, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.retry_after = status, code, message, retry_after

    def api_error(self) -> ApiError:
        """The same refusal as a JsonApi error."""
        return ApiError(self.status, self.code, self.message)


def user_principal(user: Any) -> Principal:
    """The principal of a stored user (:class:`~callcenter.records.users.User`)."""
    return Principal(user.id, user.login, user.role, user.agent)
