"""The first start of ``callcenter serve``: on a terminal it says where to go and how to create the
first administrator; piped into a log it writes JSON lines only."""

from __future__ import annotations

import argparse
import json
import os
import pty
import select
import socket
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from callcenter.serve import welcome_text
from callcenter.records.users import User

ROOT = Path(__file__).resolve().parents[2]
WHEN = datetime(2026, 1, 1, tzinfo=timezone.utc)


def user(login: str, role: str, disabled: bool = False, has_password: bool = True) -> User:
    """A stored user as the store returns it."""
    return User(1, login, login, role, None, disabled, has_password, WHEN, None)


def options(**given) -> argparse.Namespace:
    """The server options of ``callcenter serve`` (None: the default)."""
    return argparse.Namespace(**{"config_dir": None, "data_dir": None, "database_url": None, **given})


def test_welcome_names_the_url_and_the_admin_command_until_an_admin_can_sign_in():
    """Without an enabled admin with a password the text gives the `user add ... --role admin`
    command with the server's own data options; with one it gives the URL only."""
    text = welcome_text(("127.0.0.1", 8080), [user("alice", "agent"), user("old", "admin", disabled=True),
                                              user("new", "admin", has_password=False)],
                        options(data_dir=Path("/srv/cc")))
    assert text.splitlines()[0] == "callcenter is serving at http://127.0.0.1:8080/"
    assert "    callcenter user add NAME --role admin --data-dir /srv/cc" in text.splitlines()
    assert welcome_text(("0.0.0.0", 80), [user("root", "admin")], options()) == "callcenter is serving at http://127.0.0.1:80/"


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve_command(data_dir: Path) -> list[str]:
    """``callcenter serve`` on free ports with its data in ``data_dir`` (migrated first)."""
    base = [sys.executable, "-m", "callcenter.cli"]
    subprocess.run(base + ["migrate", "--data-dir", str(data_dir)], cwd=ROOT, check=True, capture_output=True)
    return base + ["serve", "--data-dir", str(data_dir), "--http-port", str(free_port()),
                   "--fastagi-port", str(free_port()), "--smtp-port", str(free_port())]


def read_until(fd: int, needle: bytes, timeout: float = 60.0) -> bytes:
    """Read ``fd`` until ``needle`` appears (or the time is up); returns what was read."""
    seen, deadline = b"", time.monotonic() + timeout
    while needle not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # the pty closes when the process ends
                break
            if not chunk:
                break
            seen += chunk
    return seen


def stop(process: subprocess.Popen) -> None:
    """SIGTERM the server and wait for it."""
    process.terminate()
    process.wait(timeout=30)


def test_on_a_terminal_the_server_prints_the_url_and_the_first_admin_command(tmp_path):
    """Started on a terminal with no users, the server prints its URL and the admin command."""
    command = serve_command(tmp_path / "var")
    leader, follower = pty.openpty()
    process = subprocess.Popen(command, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=follower, stderr=follower)
    os.close(follower)
    try:
        out = read_until(leader, b"--role admin --data-dir").decode("utf-8", "replace")
    finally:
        stop(process)
        os.close(leader)
    assert f"callcenter is serving at http://127.0.0.1:{command[command.index('--http-port') + 1]}/" in out
    assert f"callcenter user add NAME --role admin --data-dir {tmp_path / 'var'}" in out


def test_piped_output_stays_json_lines(tmp_path):
    """Not on a terminal, every line the server writes to stdout is a JSON log line."""
    command = serve_command(tmp_path / "var")
    process = subprocess.Popen(command, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL)
    try:
        out = read_until(process.stdout.fileno(), b"callcenter serving on")
        time.sleep(1)  # the start-up message would come right after this line
    finally:
        stop(process)
    out += process.stdout.read()
    lines = [line for line in out.decode().splitlines() if line.strip()]
    assert any("callcenter serving on" in line for line in lines)
    assert all(isinstance(json.loads(line), dict) for line in lines)


def test_scripts_serve_passes_server_options_and_migrates_a_new_data_dir(tmp_path):
    """`scripts/serve` with serve's own options (ports, log format) and a new data directory
    migrates that directory and serves on those ports (migrate gets only the options it takes)."""
    http = free_port()
    command = [str(ROOT / "scripts" / "serve"), "--data-dir", str(tmp_path / "var"), "--http-port", str(http),
               "--fastagi-port", str(free_port()), f"--smtp-port={free_port()}", "--log-format", "text"]
    process = subprocess.Popen(command, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT)
    try:
        out = read_until(process.stdout.fileno(), b"callcenter serving on", timeout=120)
        assert b"callcenter serving on" in out, out.decode("utf-8", "replace")[-2000:]
        with socket.create_connection(("127.0.0.1", http), timeout=10) as conn:
            conn.sendall(b"GET /health HTTP/1.0\r\nHost: localhost\r\n\r\n")
            reply = b""
            while chunk := conn.recv(65536):
                reply += chunk
        assert reply.split(b"\r\n", 1)[0].endswith(b" 200 OK"), reply[:200]
    finally:
        stop(process)
    assert (tmp_path / "var").is_dir()
