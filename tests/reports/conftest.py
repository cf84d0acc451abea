"""Fixtures of the report tests."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session", autouse=True)
def _stop_reactor_threads():
    """Stop the reactor's resolver thread pool at the end of the session.

    The HTTP client resolves the loopback address on the reactor's thread pool; the ``run``
    helper stops the reactor with ``crash()``, which skips the shutdown that would stop that
    pool, and its non-daemon threads would keep the interpreter from exiting.
    """
    yield
    from twisted.internet import reactor

    pool = getattr(reactor, "threadpool", None)
    if pool is not None and pool.started:
        pool.stop()
