"""Password hashing, sessions, CSRF tokens and rate limits."""

from __future__ import annotations

import itertools

import pytest

from callcenter.auth.passwords import MalformedHash, ScryptCost, hash_password, needs_rehash, verify_password
from callcenter.auth.ratelimit import Rate, RateLimiter
from callcenter.auth.sessions import SessionStore, csrf_ok

CHEAP = ScryptCost(n=2 ** 10, r=8, p=1)


def test_password_round_trip_and_wrong_password():
    """A hash verifies its password and refuses another."""
    stored = hash_password("correct horse", CHEAP)
    assert stored.startswith("scrypt$1024$8$1$")
    assert verify_password("correct horse", stored)
    assert not verify_password("correct hors", stored)


def test_same_password_different_salt():
    """Two hashes of one password differ (fresh salt each time)."""
    assert hash_password("pw", CHEAP) != hash_password("pw", CHEAP)


def test_rehash_when_cost_rises():
    """A hash made with a lower cost needs re-hashing under the default cost."""
    assert needs_rehash(hash_password("pw", CHEAP))
    assert not needs_rehash(hash_password("pw", CHEAP), CHEAP)


@pytest.mark.parametrize("stored", ["", "bcrypt$x", "scrypt$3$8$1$AA$AA", "scrypt$1024$8$1$!!$AA", "scrypt$a$8$1$AA$AA"])
def test_malformed_hash_is_named(stored):
    """A corrupt stored hash raises MalformedHash instead of verifying anything."""
    with pytest.raises(MalformedHash):
        verify_password("pw", stored)


def test_empty_password_refused():
    """An empty password cannot be set and never verifies."""
    with pytest.raises(ValueError):
        hash_password("", CHEAP)
    assert not verify_password("", hash_password("x", CHEAP))


def tokens():
    counter = itertools.count()
    return lambda n: f"tok{next(counter)}"


def test_session_idle_and_absolute_expiry():
    """A session dies after idle_timeout without use, and after max_age even when used."""
    store = SessionStore(idle_timeout=10, max_age=25, token_source=tokens())
    s = store.create("agent1", "agent", now=0)
    assert store.get(s.token, 9).user_id == "agent1"
    assert store.get(s.token, 18) is not None      # used at 9, idle 9 < 10
    assert store.get(s.token, 25) is None          # absolute age reached
    s2 = store.create("agent1", "agent", now=100)
    assert store.get(s2.token, 110) is None        # idle 10 >= 10


def test_revoke_user_ends_all_their_sessions():
    """Revoking a user ends each of their sessions and no one else's."""
    store = SessionStore(token_source=tokens())
    a, b = store.create("u1", "agent", 0), store.create("u1", "agent", 0)
    c = store.create("u2", "supervisor", 0)
    assert store.revoke_user("u1") == 2
    assert store.get(a.token, 1) is None and store.get(b.token, 1) is None
    assert store.get(c.token, 1) is not None


def test_unknown_role_refused():
    """Only agent, supervisor and admin are roles."""
    with pytest.raises(ValueError):
        SessionStore().create("u", "root", 0)


def test_csrf_token_checked():
    """Only the session's own CSRF token passes."""
    store = SessionStore(token_source=tokens())
    s, other = store.create("u", "agent", 0), store.create("v", "agent", 0)
    assert csrf_ok(s, s.csrf_token)
    assert not csrf_ok(s, other.csrf_token)
    assert not csrf_ok(s, None)


def test_rate_limit_burst_then_refill():
    """A burst is allowed, the next request refused, and tokens come back at the rate."""
    rl = RateLimiter(Rate(burst=3, per_second=0.5))
    assert [rl.allow("ip", 0) for _ in range(4)] == [True, True, True, False]
    assert rl.retry_after("ip", 0) == pytest.approx(2.0)
    assert not rl.allow("ip", 1.9)
    assert rl.allow("ip", 3.9)
    assert rl.allow("other", 0)


def test_rate_limit_prunes_full_buckets():
    """Keys whose buckets have refilled are forgotten, bounding memory."""
    rl = RateLimiter(Rate(burst=1, per_second=1), max_keys=2)
    rl.allow("a", 0)
    rl.allow("b", 0)
    rl.allow("c", 5)
    assert len(rl) == 1
