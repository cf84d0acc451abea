"""A real browser for tests: Debian's Chromium driven by Playwright, on the server's own loop.

The server under test runs on the Twisted asyncio reactor, and so does the browser: the
scenario is an ``async def`` on Playwright's async API, run as an asyncio task on the very
loop the reactor drives, so the page's requests are served while the scenario awaits them.
(Playwright's sync API would block that loop and deadlock against the test's own server.)

The browser is always ``/usr/bin/chromium`` (``scripts/system-deps`` installs it); Playwright
never downloads one. It runs headless with a fresh user-data directory and without the
background traffic a desktop browser makes (sync, component updates, QUIC probes)::

    @pytest.mark.browser
    def test_form(tmp_path):
        \"\"\"...\"\"\"
        async def scenario(context):
            page = await context.new_page()
            await page.goto(url)
            return await page.title()
        assert run_in_chromium(scenario, tmp_path) == "..."

:func:`require_chromium` skips a test when the browser or the ``playwright`` package is absent.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path
from typing import Any, Awaitable, Callable, TypeVar

import pytest

T = TypeVar("T")

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def require_chromium() -> None:
    """Skip the calling test unless Debian's chromium and the playwright package are installed."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"{CHROMIUM} is missing (scripts/system-deps installs it)")
    pytest.importorskip("playwright.async_api")


async def with_chromium(scenario: Callable[[Any], Awaitable[T]], user_data_dir: Path | None = None) -> T:
    """Launch headless Chromium with a persistent context in ``user_data_dir`` (a fresh
    temporary directory if None), run ``scenario(context)``, close the browser, return the
    scenario's result. An asyncio coroutine: call it on the asyncio loop."""
    from playwright.async_api import async_playwright

    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as scratch:
        profile = user_data_dir or Path(scratch)
        profile.mkdir(parents=True, exist_ok=True)
        async with async_playwright() as playwright:
            context = await playwright.chromium.launch_persistent_context(
                str(profile), executable_path=str(CHROMIUM), headless=True, args=list(CHROMIUM_FLAGS))
            try:
                return await scenario(context)
            finally:
                await context.close()


def run_in_chromium(scenario: Callable[[Any], Awaitable[T]], tmp_path: Path, timeout: float = 60.0) -> T:
    """Run ``scenario`` in a fresh browser on the reactor's asyncio loop and return its result.

    Skips the test when no browser is installed (:func:`require_chromium`); raises what the
    scenario raises, or ``TimeoutError`` after ``timeout`` seconds.
    """
    from twisted.internet.defer import Deferred

    from tests.conftest import run_on_reactor

    require_chromium()

    async def bridged() -> T:
        task = asyncio.ensure_future(with_chromium(scenario, tmp_path / "chromium-profile"))
        return await Deferred.fromFuture(task)

    return run_on_reactor(bridged(), timeout=timeout)
