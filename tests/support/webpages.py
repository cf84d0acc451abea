"""What the browser tests of the web pages share: the site's URL, signing in on the form,
collecting what went wrong on a page, the seeded demo floor, and where screenshots go.

Screenshots are the browser tests' artifacts: they are written to ``$CALLCENTER_SHOTS``
(default ``/tmp/callcenter-shots``) so a person can look at every page at both sizes after a run.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

SHOTS = Path(os.environ.get("CALLCENTER_SHOTS", "/tmp/callcenter-shots"))
SIZES = ((1366, 768), (1400, 1000))


def site_url(app: Any) -> str:
    """The running app's base URL (``http://host:port``)."""
    host, port = app.http.address
    return f"http://{host}:{port}"


async def sign_in(page: Any, url: str, login: str, password: str, start: str = "/login") -> None:
    """Open ``start`` (``/login``, or ``/`` which leads there), sign in on the form as ``login``
    and wait for the page it leads to."""
    await page.goto(url + start)
    await page.fill("#login", login)
    await page.fill("#password", password)
    await page.click("[data-testid=login-submit]")
    await page.wait_for_load_state("networkidle")


def watch(page: Any, problems: list[str]) -> None:
    """Collect every 4xx/5xx response, console error and uncaught page error of ``page``."""
    page.on("response", lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    page.on("console", lambda m: problems.append(f"console: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))


def seeded_floor(run: Callable[..., Any], make_app: Callable[..., Any], directory: Path, password: str) -> tuple:
    """The app (``make_app`` of tests/web/conftest.py) on the demo floor's configuration written
    under ``directory``, seeded by :func:`callcenter.demo.seed_floor`; ``(app, summary)``. Call
    ``summary.stop_timers()`` when done."""
    from callcenter.demo import seed_floor, write_config
    from tests.web.conftest import SHIPPED_CONFIG

    app = make_app(config=write_config(directory / "demo-config", SHIPPED_CONFIG))
    return app, run(seed_floor(app, password), timeout=120)
