"""Shared values for the record tests."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from twisted.internet import task

from callcenter.clock import Clock
from callcenter.records.store import RecordStore

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=timezone.utc)


def at(seconds: float) -> datetime:
    """``T0`` plus ``seconds``."""
    return T0 + timedelta(seconds=seconds)


@pytest.fixture
def store(database):
    """A RecordStore (default region FR) whose clock is a task.Clock set to T0."""
    clock = task.Clock()
    clock.advance(T0.timestamp())
    s = RecordStore(database, Clock(clock), "FR")
    s.fake_clock = clock
    return s
