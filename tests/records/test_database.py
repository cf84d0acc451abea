"""The Database: units of work on the thread pool, events published only after commit."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import pytest
from sqlalchemy import func, insert, select
from twisted.internet.defer import ensureDeferred

from callcenter.runtime.events import DomainEvent
from callcenter.records.database import DatabaseStopped
from callcenter.records.schema import agents

from .helpers import T0


@dataclass(frozen=True)
class AgentAdded(DomainEvent):
    """Test event emitted by the writes below."""

    login: str


def _add_agent(conn, uow, login):
    conn.execute(insert(agents).values(login=login, name="", created_at=T0))
    uow.emit(AgentAdded(at=T0.timestamp(), login=login))
    return login


def _add_agent_then_fail(conn, uow, login):
    _add_agent(conn, uow, login)
    raise ValueError("boom after insert")


def _count_agents(conn):
    return conn.execute(select(func.count()).select_from(agents)).scalar_one()


def test_write_publishes_after_commit_on_the_reactor_thread(run, database):
    """A subscriber runs on the reactor thread and already sees the committed row."""
    seen = []

    def on_event(event):
        with database.engine.connect() as conn:
            seen.append((event.login, _count_agents(conn), threading.current_thread() is threading.main_thread()))

    database.bus.subscribe(AgentAdded, on_event)
    assert run(database.write(_add_agent, "alice")) == "alice"
    assert seen == [("alice", 1, True)]


def test_rolled_back_write_publishes_nothing_and_stores_nothing(run, database):
    """When the unit of work raises, its emitted events are dropped and its insert undone."""
    seen = []
    database.bus.subscribe(AgentAdded, seen.append)
    with pytest.raises(ValueError, match="boom after insert"):
        run(database.write(_add_agent_then_fail, "bob"))
    assert seen == []
    assert run(database.read(_count_agents)) == 0


def test_stop_waits_for_work_in_flight(run, database):
    """stop() returns only after a write already running has committed and published."""
    gate = threading.Event()
    seen = []
    database.bus.subscribe(AgentAdded, seen.append)

    def slow_write(conn, uow):
        gate.wait(5)
        return _add_agent(conn, uow, "carol")

    async def scenario():
        write = ensureDeferred(database.write(slow_write))
        stop = ensureDeferred(database.stop())
        stopped_early = stop.called
        gate.set()
        await stop
        published_by_stop = [e.login for e in seen]
        return stopped_early, published_by_stop, await write

    stopped_early, published_by_stop, result = run(scenario())
    assert (stopped_early, published_by_stop, result) == (False, ["carol"], "carol")
    with database.engine.connect() as conn:
        assert _count_agents(conn) == 1


def test_work_after_stop_is_refused(run, database):
    """Submitting work to a stopped database raises DatabaseStopped instead of hanging."""
    run(database.stop())
    with pytest.raises(DatabaseStopped):
        run(database.read(_count_agents))


def test_ping_answers(run, database):
    """ping() is True on a reachable database."""
    assert run(database.ping()) is True
