"""Installs Twisted's asyncio reactor, the one reactor this server runs on.

aiosmtplib and other asyncio libraries are awaited through ``Deferred.fromFuture``; that only
works when the reactor drives the same loop asyncio considers current. Under any other reactor
the bridged call would hang forever, so :func:`require_asyncio_reactor` is checked at start-up.
"""

from __future__ import annotations

import asyncio
import sys


class WrongReactor(RuntimeError):
    """The running reactor is not Twisted's AsyncioSelectorReactor."""


def install_asyncio_reactor() -> None:
    """Install the asyncio reactor on a new loop that is also asyncio's current loop.

    Must run before anything imports ``twisted.internet.reactor``. Calling it again once the
    asyncio reactor is installed is harmless; if another reactor got installed first it raises
    :class:`WrongReactor`.
    """
    if "twisted.internet.reactor" in sys.modules:
        require_asyncio_reactor()
        return
    from twisted.internet import asyncioreactor

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    asyncioreactor.install(loop)


def require_asyncio_reactor(reactor: object | None = None) -> None:
    """Raise :class:`WrongReactor` unless ``reactor`` (default: the global one) is the asyncio reactor."""
    from twisted.internet.asyncioreactor import AsyncioSelectorReactor

    if reactor is None:
        from twisted.internet import reactor as global_reactor

        reactor = global_reactor
    if not isinstance(reactor, AsyncioSelectorReactor):
        raise WrongReactor(
            f"the server needs Twisted's asyncio reactor, but {type(reactor).__name__} is installed; "
            "install_asyncio_reactor() must run before twisted.internet.reactor is imported"
        )
