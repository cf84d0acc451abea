"""Password hashing with scrypt (a memory-hard KDF from the standard library).

Hashes are self-describing strings ``scrypt$n$r$p$salt$hash`` (salt and hash base64 without
padding), so the cost can be raised later: :func:`needs_rehash` tells when a stored hash was
made with weaker parameters than the current ones, and the login path re-hashes then.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from dataclasses import dataclass
from typing import Callable


class MalformedHash(ValueError):
    """A stored password hash that is not in the ``scrypt$n$r$p$salt$hash`` format."""


@dataclass(frozen=True)
class ScryptCost:
    """scrypt parameters: CPU/memory cost ``n`` (a power of two), block size ``r``, parallelism ``p``."""

    n: int = 2 ** 15
    r: int = 8
    p: int = 1

    @property
    def maxmem(self) -> int:
        return 128 * self.n * self.r * self.p + 1024 * 1024


DEFAULT_COST = ScryptCost()
MAX_PASSWORD_BYTES = 1024


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


def hash_password(password: str, cost: ScryptCost = DEFAULT_COST, salt_source: Callable[[int], bytes] = os.urandom) -> str:
    """Hash ``password`` with a fresh 16-byte salt; ValueError for an empty or absurdly long password."""
    secret = password.encode("utf-8")
    if not secret or len(secret) > MAX_PASSWORD_BYTES:
        raise ValueError(f"a password must be 1 to {MAX_PASSWORD_BYTES} bytes")
    salt = salt_source(16)
    digest = hashlib.scrypt(secret, salt=salt, n=cost.n, r=cost.r, p=cost.p, maxmem=cost.maxmem, dklen=32)
    return f"scrypt${cost.n}${cost.r}${cost.p}${_b64(salt)}${_b64(digest)}"


def _parse(stored: str) -> tuple[ScryptCost, bytes, bytes]:
    parts = stored.split("$")
    if len(parts) != 6 or parts[0] != "scrypt":
        raise MalformedHash("not a scrypt$n$r$p$salt$hash string")
    try:
        cost = ScryptCost(int(parts[1]), int(parts[2]), int(parts[3]))
        salt, digest = _unb64(parts[4]), _unb64(parts[5])
    except ValueError as e:
        raise MalformedHash(str(e)) from None
    if cost.n < 2 or cost.n & (cost.n - 1) or cost.n > 2 ** 20 or not (1 <= cost.r <= 32) or not (1 <= cost.p <= 16):
        raise MalformedHash("scrypt parameters out of range")
    return cost, salt, digest


def verify_password(password: str, stored: str) -> bool:
    """True when ``password`` matches ``stored``; compares in constant time. MalformedHash for a bad hash."""
    cost, salt, digest = _parse(stored)
    secret = password.encode("utf-8")
    if not secret or len(secret) > MAX_PASSWORD_BYTES:
        return False
    candidate = hashlib.scrypt(secret, salt=salt, n=cost.n, r=cost.r, p=cost.p, maxmem=cost.maxmem, dklen=len(digest))
    return hmac.compare_digest(candidate, digest)


def needs_rehash(stored: str, cost: ScryptCost = DEFAULT_COST) -> bool:
    """True when ``stored`` was made with a lower cost than ``cost``."""
    old, _, _ = _parse(stored)
    return (old.n, old.r, old.p) < (cost.n, cost.r, cost.p)
