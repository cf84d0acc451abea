"""The password policy: what a new password must be before it is hashed and stored.

A password is refused when it is shorter than :data:`MIN_LENGTH` characters, longer than the
hasher takes, one character repeated, the user's own login, or on the list of common
passwords shipped in ``common_passwords.txt`` (compared without case, and also with trailing
digits and punctuation taken off, so ``Password123!`` is caught as ``password``). Length is what
protects most; the list catches the few long passwords that every guessing tool tries first.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

from callcenter.auth.passwords import MAX_PASSWORD_BYTES

MIN_LENGTH = 10


class WeakPassword(ValueError):
    """A password the policy refuses; the message says which rule and is safe to show."""


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    """The shipped list of common passwords, lower-cased."""
    text = resources.files("callcenter.auth").joinpath("common_passwords.txt").read_text(encoding="utf-8")
    return frozenset(line.strip().lower() for line in text.splitlines() if line.strip() and not line.startswith("#"))


def check_password(password: str, login: str = "") -> None:
    """Raise :class:`WeakPassword` when ``password`` breaks the policy (module docstring)."""
    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"a password must have at least {MIN_LENGTH} characters")
    if len(password.encode("utf-8")) > MAX_PASSWORD_BYTES:
        raise WeakPassword(f"a password must be at most {MAX_PASSWORD_BYTES} bytes")
    lowered = password.lower()
    if len(set(lowered)) == 1:
        raise WeakPassword("a password must not be one character repeated")
    if login and login.strip().lower() in (lowered, lowered.rstrip("0123456789!@#$%^&*.?-_ ")):
        raise WeakPassword("a password must not be the login")
    common = common_passwords()
    if lowered in common or lowered.rstrip("0123456789!@#$%^&*.?-_ ") in common | {"password", "passw0rd", "qwerty",
                                                                                   "letmein", "welcome", "admin"}:
        raise WeakPassword("this password is on the list of common passwords; choose another")
