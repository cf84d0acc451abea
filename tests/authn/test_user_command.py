"""The ``callcenter user`` command, run as a real process against a SQLite data directory."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def cli(tmp_path: Path, *argv: str, stdin: str = "") -> subprocess.CompletedProcess:
    """Run ``callcenter ARGV --config config --data-dir TMP`` and capture its output."""
    args = [sys.executable, "-m", "callcenter.cli", *argv, "--config", str(ROOT / "config"),
            "--data-dir", str(tmp_path / "var")]
    return subprocess.run(args, input=stdin, capture_output=True, text=True, cwd=ROOT, timeout=60)


def test_user_lifecycle_from_the_command_line(tmp_path):
    """add, token, sync, disable, revoke and list work end to end; errors exit 1 with a message."""
    assert cli(tmp_path, "user", "list").returncode == 1  # no schema yet
    assert cli(tmp_path, "migrate").returncode == 0
    added = cli(tmp_path, "user", "add", "root", "--role", "admin", "--password-stdin", stdin="s3cret\n")
    assert added.returncode == 0 and "created admin root" in added.stdout
    token = cli(tmp_path, "user", "token", "root", "--name", "crm")
    assert token.returncode == 0 and token.stdout.splitlines()[-1].startswith("cc_")
    synced = cli(tmp_path, "user", "sync")
    assert synced.returncode == 0 and "agent users added" in synced.stdout
    assert cli(tmp_path, "user", "disable", "root").returncode == 0
    assert cli(tmp_path, "user", "revoke", "1").stdout.strip() == "token 1 revoked"
    listed = cli(tmp_path, "user", "list").stdout.splitlines()
    assert "root\tadmin\t-\tdisabled" in listed and any("\tagent\t" in line for line in listed)
    missing = cli(tmp_path, "user", "passwd", "ghost", "--password-stdin", stdin="x\n")
    assert missing.returncode == 1 and "not found" in missing.stderr
    no_tty = cli(tmp_path, "user", "passwd", "root")
    assert no_tty.returncode == 1 and "--password-stdin" in no_tty.stderr
