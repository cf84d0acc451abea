"""Fixtures of the authentication tests: a UserStore on each database with a cheap scrypt cost."""

from __future__ import annotations

import itertools

import pytest
from twisted.internet import task

from callcenter.auth.passwords import ScryptCost
from callcenter.runtime.clock import Clock
from callcenter.records.users import UserStore

T0 = 1_772_355_600.0  # 2026-03-01 09:00 UTC
CHEAP = ScryptCost(n=2 ** 4, r=8, p=1)


def counting_tokens():
    """A token source giving ``tok0000...``, ``tok0001...``: repeatable, still unique."""
    counter = itertools.count()
    return lambda nbytes: f"tok{next(counter):04d}" + "x" * nbytes


@pytest.fixture
def fake_clock():
    """A task.Clock at T0, moved by hand."""
    clock = task.Clock()
    clock.advance(T0)
    return clock


@pytest.fixture
def users(database, fake_clock):
    """A UserStore on the test database (SQLite and PostgreSQL), cheap hashes, counting tokens."""
    return UserStore(database, Clock(fake_clock), cost=CHEAP, token_source=counting_tokens())


@pytest.fixture
def site(run, users, fake_clock):
    """The security test site (tests/authn/site.py) with generous login rates."""
    from tests.authn.site import build_site

    s = build_site(run, users, fake_clock)
    yield s
    s.hub.stopService()
    run(s.http.stopService())
