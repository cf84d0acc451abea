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
    added = cli(tmp_path, "user", "add", "root", "--role", "admin", "--password-stdin", stdin="s3cret-passphrase\n")
    assert added.returncode == 0 and "created admin root" in added.stdout
    token = cli(tmp_path, "user", "token", "root", "--name", "crm")
    assert token.returncode == 0 and token.stdout.splitlines()[-1].startswith("cc_")
    synced = cli(tmp_path, "user", "sync")
    assert synced.returncode == 0 and "agent users added" in synced.stdout
    assert cli(tmp_path, "user", "disable", "root").returncode == 0
    assert cli(tmp_path, "user", "revoke", "1").stdout.strip() == "token 1 revoked"
    listed = cli(tmp_path, "user", "list").stdout.splitlines()
    assert "root\tadmin\t-\tdisabled" in listed and any("\tagent\t" in line for line in listed)
    missing = cli(tmp_path, "user", "passwd", "ghost", "--password-stdin", stdin="a long enough passphrase\n")
    assert missing.returncode == 1 and "not found" in missing.stderr
    no_tty = cli(tmp_path, "user", "passwd", "root")
    assert no_tty.returncode == 1 and "--password-stdin" in no_tty.stderr


def test_a_weak_password_on_the_command_line_is_refused_with_the_rule(tmp_path):
    """`user add` with a 5-character or a common password exits 1 saying why, and creates nobody."""
    assert cli(tmp_path, "migrate").returncode == 0
    for weak, rule in (("short\n", "at least 10 characters"), ("qwertyuiop\n", "common passwords")):
        refused = cli(tmp_path, "user", "add", "bob", "--role", "agent", "--password-stdin", stdin=weak)
        assert refused.returncode == 1 and rule in refused.stderr
    assert "bob" not in cli(tmp_path, "user", "list").stdout
