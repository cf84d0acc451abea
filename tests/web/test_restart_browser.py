"""An open agent desktop across a restart of a real `callcenter serve`: it comes back signed in and
shows the server's current state without a reload, or goes to sign in when its session is gone."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.core.test_serve_command import CLI, ROOT, free_port, make_admin_token, run_cli, wait_for_health
from tests.support.browser import run_in_chromium

PASSWORD = "correct horse battery staple"
SHOTS = Path("/tmp")


class Server:
    """`callcenter serve` in ``workdir`` on a fixed HTTP port, started and stopped like an operator does."""

    def __init__(self, workdir: Path) -> None:
        self.workdir, self.port, self.proc = workdir, free_port(), None
        self.url = f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start the process and wait until /health answers (blocking)."""
        self.proc = subprocess.Popen(CLI + ["serve", "--http-port", str(self.port), "--fastagi-port", "0",
                                            "--smtp-port", "0"], cwd=self.workdir, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
        wait_for_health(self.port, self.proc)

    def stop(self) -> int:
        """SIGTERM, as a service manager does; the exit status (blocking)."""
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=60)


@pytest.fixture
def server(tmp_path):
    """A migrated workdir with agent alice (password set) and an admin token; the server running."""
    import shutil

    shutil.copytree(ROOT / "config", tmp_path / "config")
    assert run_cli("migrate", cwd=tmp_path).returncode == 0
    added = subprocess.run(CLI + ["user", "add", "alice", "--role", "agent", "--password-stdin"], cwd=tmp_path,
                           input=PASSWORD + "\n", capture_output=True, text=True, timeout=120,
                           env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert added.returncode == 0, added.stderr
    s = Server(tmp_path)
    s.token = make_admin_token(tmp_path / "var" / "callcenter.sqlite3")
    s.start()
    yield s
    if s.proc.poll() is None:
        s.stop()


async def blocking(fn, *args) -> Any:
    """Run a blocking call (process start/stop) off the loop the browser and reactor share."""
    return await asyncio.get_running_loop().run_in_executor(None, fn, *args)


async def open_desktop(context, server: Server):
    """Alice signs in and goes available; the page, live."""
    page = await context.new_page()
    await page.goto(server.url + "/login?next=/desktop")
    await page.fill("#login", "alice")
    await page.fill("#password", PASSWORD)
    await page.click("[data-testid=login-submit]")
    await page.wait_for_url("**/desktop")
    await page.click("[data-testid=go-available]")
    await page.locator("[data-testid=state]", has_text="Available").wait_for()
    await page.locator("#link[data-state=ok]").wait_for()
    return page


async def restart_while_watching(page, server: Server, name: str, while_down=None) -> None:
    """Stop the server, see the page notice, (do ``while_down``), start it again."""
    assert await blocking(server.stop) == 0
    # Locators, not wait_for_function: the page's CSP forbids the eval a polled predicate needs.
    await page.locator("#link[data-state=lost]").wait_for(timeout=20000)
    await page.screenshot(path=str(SHOTS / f"{name}-down.png"))
    if while_down is not None:
        while_down()
    await blocking(server.start)


@pytest.mark.browser
def test_an_open_desktop_comes_back_signed_in_and_shows_the_current_state(server, tmp_path):
    """Alice's desktop is open and available; the server restarts; a supervisor pauses her for
    lunch; her page, never reloaded, shows the live link and 'Not ready (lunch)'."""

    async def scenario(context):
        page = await open_desktop(context, server)
        loads = []
        page.on("load", lambda _: loads.append(page.url))
        await restart_while_watching(page, server, "desktop-restart")
        await page.locator("#link[data-state=ok]").wait_for(timeout=45000)
        r = await page.request.post(server.url + "/api/supervisor/agents/alice/state",
                                    headers={"authorization": f"Bearer {server.token}"},
                                    data={"state": "not_ready", "reason": "lunch"})
        assert r.status == 200, await r.text()
        await page.locator("[data-testid=state]", has_text="lunch").wait_for(timeout=20000)
        await page.screenshot(path=str(SHOTS / "desktop-restart-back.png"))
        me = await page.request.get(server.url + "/api/me")
        return (loads, page.url, await page.locator("[data-testid=state]").inner_text(),
                me.status, (await me.json())["state"])

    loads, url, shown, status, state = run_in_chromium(scenario, tmp_path, timeout=150)
    assert loads == [] and url.endswith("/desktop")
    assert status == 200 and state["state"] == "not_ready" and "Not ready" in shown


@pytest.mark.browser
def test_a_desktop_whose_session_is_gone_goes_to_sign_in_and_back(server, tmp_path):
    """The session is removed while the server is down: after the restart the page goes to the sign-in
    page by itself, and signing in brings alice back to her desktop."""
    database = server.workdir / "var" / "callcenter.sqlite3"

    def forget_sessions() -> None:
        with sqlite3.connect(database) as conn:
            conn.execute("DELETE FROM web_sessions")

    async def scenario(context):
        page = await open_desktop(context, server)
        await restart_while_watching(page, server, "desktop-signed-out", forget_sessions)
        await page.wait_for_url("**/login?next=*", timeout=45000)
        await page.screenshot(path=str(SHOTS / "desktop-signed-out-login.png"))
        at_login = page.url
        await page.fill("#login", "alice")
        await page.fill("#password", PASSWORD)
        await page.click("[data-testid=login-submit]")
        await page.wait_for_url("**/desktop")
        return at_login, page.url

    at_login, back = run_in_chromium(scenario, tmp_path, timeout=150)
    assert at_login.endswith("/login?next=%2Fdesktop") and back.endswith("/desktop")
