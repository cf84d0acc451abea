"""Test-session set-up shared by every test directory.

The server runs on Twisted's asyncio reactor (see callcenter/runtime/reactor.py), so the tests do too:
it is installed before any test module imports ``twisted.internet.reactor``.
"""

from callcenter.runtime.reactor import install_asyncio_reactor


def pytest_configure(config):
    """Install the asyncio reactor once, before collection imports any test module."""
    install_asyncio_reactor()


def pytest_unconfigure(config):
    """Stop the reactor's thread pool: tests crash the reactor rather than stop it, so its
    shutdown triggers never run and the pool's worker threads would keep the process alive."""
    from twisted.internet import reactor

    pool = getattr(reactor, "threadpool", None)
    if pool is not None and not pool.joined:
        pool.stop()
