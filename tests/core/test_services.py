"""Ordered start and stop of the service tree, and the reactor check."""

from __future__ import annotations

import pytest
from twisted.internet import task
from twisted.internet.defer import Deferred

from callcenter.reactor import WrongReactor, require_asyncio_reactor
from callcenter.services import CallbackService, OrderedMultiService


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
