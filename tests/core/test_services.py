"""Ordered start and stop of the service tree, and the reactor check."""

from __future__ import annotations

import pytest
from twisted.internet import task
from twisted.internet.defer import Deferred

from callcenter.runtime.reactor import WrongReactor, require_asyncio_reactor
from callcenter.runtime.services import CallbackService, OrderedMultiService, StartGate


def test_children_stop_one_by_one_in_reverse():
    """The second child finishes stopping before the first starts stopping."""
    calls = []
    gate = Deferred()

    async def stop_db():
        calls.append("db-stop")

    async def stop_http():
        calls.append("http-stop-begin")
        await gate
        calls.append("http-stop-end")

    root = OrderedMultiService()
    CallbackService("db", lambda: calls.append("db-start"), stop_db).setServiceParent(root)
    CallbackService("http", lambda: calls.append("http-start"), stop_http).setServiceParent(root)
    root.startService()
    done = root.stopService()
    assert calls == ["db-start", "http-start", "http-stop-begin"]
    gate.callback(None)
    assert calls[-2:] == ["http-stop-end", "db-stop"]
    assert done.called


def test_the_server_refuses_another_reactor():
    """A reactor other than the asyncio one is refused with a clear error."""
    with pytest.raises(WrongReactor, match="asyncio reactor"):
        require_asyncio_reactor(task.Clock())


def test_tests_run_on_the_asyncio_reactor():
    """The test session runs on the same reactor the server installs."""
    require_asyncio_reactor()


def test_a_start_gate_holds_back_the_children_after_it_until_its_work_is_done():
    """The listener starts only once the gate's work finished; ready fires after it."""
    calls = []
    gate = Deferred()

    async def rebuild():
        calls.append("rebuild-begin")
        await gate
        calls.append("rebuild-end")

    root = OrderedMultiService()
    CallbackService("db", lambda: calls.append("db-start"), _nothing).setServiceParent(root)
    StartGate("recovery", rebuild).setServiceParent(root)
    CallbackService("smtp", lambda: calls.append("smtp-start"), _nothing).setServiceParent(root)
    root.startService()
    assert calls == ["db-start", "rebuild-begin"] and not root.ready.called
    gate.callback(None)
    assert calls == ["db-start", "rebuild-begin", "rebuild-end", "smtp-start"] and root.ready.called


def test_a_failed_gate_starts_nothing_after_it_and_fails_ready():
    """A rebuild that fails leaves the listeners stopped and ready carries the error."""
    calls = []

    async def broken():
        raise RuntimeError("record unreadable")

    root = OrderedMultiService()
    StartGate("recovery", broken).setServiceParent(root)
    CallbackService("smtp", lambda: calls.append("smtp-start"), _nothing).setServiceParent(root)
    root.startService()
    errors = []
    root.ready.addErrback(errors.append)
    assert calls == [] and errors[0].check(RuntimeError)


def test_stopping_while_a_gate_holds_back_stops_only_what_started():
    """SIGTERM during the rebuild stops the started children; the held-back ones never start."""
    calls = []
    gate = Deferred()

    async def rebuild():
        await gate

    async def stop_smtp():
        calls.append("smtp-stop")

    root = OrderedMultiService()
    StartGate("recovery", rebuild).setServiceParent(root)
    CallbackService("smtp", lambda: calls.append("smtp-start"), stop_smtp).setServiceParent(root)
    root.startService()
    assert root.stopService().called
    gate.callback(None)
    assert calls == []


async def _nothing():
    return None
