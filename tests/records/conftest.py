"""Fixtures of the record tests (the databases and ``run`` come from tests/conftest.py)."""

from __future__ import annotations

import pytest
from twisted.internet import task

from callcenter.runtime.clock import Clock
from callcenter.records.store import RecordStore
from tests.records.helpers import T0


@pytest.fixture
def store(database):
    """A RecordStore (default region FR) whose clock, ``store.fake_clock``, is a task.Clock at T0."""
    clock = task.Clock()
    clock.advance(T0.timestamp())
    s = RecordStore(database, Clock(clock), "FR")
    s.fake_clock = clock
    return s
