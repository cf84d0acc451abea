"""`callcenter migrate` and `callcenter serve` as real processes on the shipped config."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "callcenter.cli"]


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run the command line to completion."""
    return subprocess.run(CLI + list(args), cwd=cwd, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})


def wait_for_health(port: int, proc: subprocess.Popen, deadline: float = 60.0) -> dict:
    """Poll /health until it answers (or the process dies); the parsed body."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise AssertionError(f"server exited with {proc.returncode}: {proc.stderr.read()}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                return json.loads(r.read())
        except OSError:
            time.sleep(0.2)
    raise AssertionError("server did not answer /health")


def wait_for_audit(sqlite_path: Path, action: str, deadline: float = 30.0) -> None:
    """Poll the audit trail until an entry for ``action`` appears (the server writes it)."""
    from sqlalchemy import create_engine, select

    from callcenter.records.schema import audit_log

    engine = create_engine(f"sqlite:///{sqlite_path}")
    end = time.monotonic() + deadline
    try:
        while time.monotonic() < end:
            with engine.connect() as conn:
                if conn.execute(select(audit_log.c.id).where(audit_log.c.action == action)).first():
                    return
            time.sleep(0.1)
    finally:
        engine.dispose()
    raise AssertionError(f"no {action} in the audit trail")


def make_admin_token(sqlite_path: Path) -> str:
    """An admin user with an API token, written straight into the migrated database."""
    import datetime as dt
    import secrets

    from sqlalchemy import create_engine, insert

    from callcenter.records.schema import api_tokens, users
    from callcenter.records.users import TOKEN_PREFIX, token_hash

    secret = TOKEN_PREFIX + secrets.token_urlsafe(24)
    now = dt.datetime.now(dt.timezone.utc)
    engine = create_engine(f"sqlite:///{sqlite_path}")
    with engine.begin() as conn:
        user_id = conn.execute(insert(users).values(login="ops", name="Ops", role="admin", created_at=now)
                               ).inserted_primary_key[0]
        conn.execute(insert(api_tokens).values(user_id=user_id, name="test", token_hash=token_hash(secret), created_at=now))
    engine.dispose()
    return secret


@pytest.fixture
def workdir(tmp_path):
    """An empty working directory with the shipped config copied in."""
    import shutil

    shutil.copytree(ROOT / "config", tmp_path / "config")
    return tmp_path


def test_serve_refuses_an_unmigrated_database_and_says_what_to_run(workdir):
    """serve on an empty database exits non-zero telling the operator to run migrate; it creates nothing."""
    result = run_cli("serve", "--http-port", str(free_port()), cwd=workdir)
    assert result.returncode == 1
    assert "callcenter migrate" in result.stderr
    assert not (workdir / "var" / "callcenter.sqlite3").exists()


def test_serve_refuses_invalid_config_with_every_error(workdir):
    """A broken config file stops serve before anything starts, with the file and line."""
    (workdir / "config" / "queues.yaml").write_text("queues:\n  support: [unclosed\n")
    result = run_cli("serve", cwd=workdir)
    assert result.returncode == 1
    assert "queues.yaml:" in result.stderr and "nothing started" in result.stderr


def test_migrate_then_serve_then_sigterm_keeps_committed_writes(workdir):
    """After migrate, serve answers /health and the API; SIGTERM stops it cleanly (status 0) and a
    customer created before the signal is there on the next start."""
    migrated = run_cli("migrate", cwd=workdir)
    assert migrated.returncode == 0, migrated.stderr
    assert "schema at" in migrated.stdout
    again = run_cli("migrate", cwd=workdir)
    assert again.returncode == 0

    token = make_admin_token(workdir / "var" / "callcenter.sqlite3")
    port = free_port()
    proc = subprocess.Popen(CLI + ["serve", "--http-port", str(port), "--fastagi-port", "0", "--smtp-port", "0"], cwd=workdir, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        health = wait_for_health(port, proc)
        assert health["database"]["ok"] is True
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/customers", method="POST",
            data=json.dumps({"display_name": "Kept", "contact_points": [{"kind": "email", "value": "kept@example.com"}]}).encode(),
            headers={"content-type": "application/json", "authorization": f"Bearer {token}"})
        with urllib.request.urlopen(request, timeout=10) as r:
            assert r.status == 201
        queues = workdir / "config" / "queues.yaml"
        queues.write_text(queues.read_text().replace("offer_timeout: 15s", "offer_timeout: 12s"))
        proc.send_signal(signal.SIGHUP)
        wait_for_audit(workdir / "var" / "callcenter.sqlite3", "config.reload")
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    texts = [line["msg"] for line in lines]
    assert any("serving" in t for t in texts), texts
    assert any("shutting down" in t for t in texts), texts
    assert any(t.startswith("configuration reloaded by SIGHUP") for t in texts), texts

    port = free_port()
    proc = subprocess.Popen(CLI + ["serve", "--http-port", str(port), "--fastagi-port", "0", "--smtp-port", "0"], cwd=workdir, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        wait_for_health(port, proc)
        lookup = urllib.request.Request(f"http://127.0.0.1:{port}/api/customers?email=kept@example.com",
                                        headers={"authorization": f"Bearer {token}"})
        with urllib.request.urlopen(lookup, timeout=10) as r:
            assert [c["display_name"] for c in json.loads(r.read())["customers"]] == ["Kept"]
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=60)
    assert proc.returncode == 0


def test_migrate_and_serve_keep_data_and_secrets_private(workdir):
    """migrate makes the data directory 0700 (tightening an existing 0755 one) and the database
    0600; serve creates the form-signing secret 0600, and every file it leaves there is 0600."""
    (workdir / "var").mkdir(mode=0o755)
    os.chmod(workdir / "var", 0o755)
    migrated = run_cli("migrate", cwd=workdir)
    assert migrated.returncode == 0, migrated.stderr
    assert oct((workdir / "var").stat().st_mode & 0o777) == oct(0o700)
    assert oct((workdir / "var" / "callcenter.sqlite3").stat().st_mode & 0o777) == oct(0o600)
    port = free_port()
    proc = subprocess.Popen(CLI + ["serve", "--http-port", str(port), "--fastagi-port", "0", "--smtp-port", "0"],
                            cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        wait_for_health(port, proc)
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    modes = {p.name: oct(p.stat().st_mode & 0o777) for p in (workdir / "var").iterdir() if p.is_file()}
    assert modes["form-secret"] == oct(0o600)
    assert set(modes.values()) == {oct(0o600)}, modes
