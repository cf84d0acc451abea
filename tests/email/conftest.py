"""Fixtures of the email flow tests: a MailFlow on SQLite over the shipped configuration."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import pytest
from twisted.internet import task

from callcenter.runtime.clock import Clock
from callcenter.runtime.events import EventBus
from callcenter.intake.email import MailFlow, MailFlowOptions
from callcenter.records.database import Database
from callcenter.records.mail import MailStore
from callcenter.records.store import RecordStore
from callcenter.dispatch.routing_rules import match_rule
from callcenter.settings import load_settings
from tests.conftest import run_on_reactor

SHIPPED = Path(__file__).resolve().parents[2] / "config"
T0 = 1_795_000_000.0  # a Tuesday, 2026-11-17 10:13 UTC


@pytest.fixture(scope="session")
def shipped_settings():
    """The shipped configuration, loaded once."""
    return load_settings(SHIPPED)


@pytest.fixture
def sqlite_database(tmp_path, _migrated_templates):
    """A started Database on a fresh migrated SQLite file."""
    from twisted.internet import reactor  # not at import time: the root conftest installs it first

    path = tmp_path / f"db-{uuid.uuid4().hex[:8]}.sqlite"
    shutil.copyfile(_migrated_templates("sqlite"), path)
    db = Database(f"sqlite:///{path}", reactor, EventBus())
    db.start()
    yield db
    run_on_reactor(db.stop())


class FlowHarness:
    """A MailFlow with recording callbacks; ``open_queues`` decides queue_open."""

    def __init__(self, db: Database, settings, policy: str = "reopen", unreadable_queue: str | None = None,
                 parse=None) -> None:
        self.fake_clock = task.Clock()
        self.fake_clock.advance(T0)
        clock = Clock(self.fake_clock)
        self.records = RecordStore(db, clock, "FR")
        self.mail = MailStore(db, clock)
        self.new: list = []
        self.replies: list = []
        self.wakes = 0
        self.open_queues = True
        self._tokens = 0
        self.flow = MailFlow(
            records=self.records, mail=self.mail, clock=clock, settings=settings,
            route=lambda facts: match_rule(settings, facts), queue_open=lambda queue, now: self.open_queues,
            on_new_interaction=lambda interaction, routing: self.new.append((interaction, routing)),
            on_customer_reply=self.replies.append, new_token=self._token, wake_outbox=self._wake,
            options=MailFlowOptions(closed_policy=policy, domain="cc.example.com", unreadable_queue=unreadable_queue),
            parse=parse)

    def _token(self) -> str:
        self._tokens += 1
        return f"t{self._tokens}"

    def _wake(self) -> None:
        self.wakes += 1


@pytest.fixture
def harness(sqlite_database, shipped_settings):
    """A FlowHarness with the reopen policy."""
    return FlowHarness(sqlite_database, shipped_settings)


@pytest.fixture
def in_thread():
    """``in_thread(fn, *args)``: a Deferred running a blocking client call on a private thread pool.

    The pool is stopped after the test. The reactor's own pool is not used: the tests never
    stop the reactor, so its non-daemon threads would keep the interpreter from exiting.
    """
    from twisted.internet import reactor
    from twisted.internet.threads import deferToThreadPool
    from twisted.python.threadpool import ThreadPool

    pool = ThreadPool(1, 4, name="email-test-clients")
    pool.start()
    yield lambda fn, *args: deferToThreadPool(reactor, pool, fn, *args)
    pool.stop()
