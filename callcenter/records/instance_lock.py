"""One server per database: the lock ``callcenter serve`` holds for as long as it runs.

The routing core is an in-memory index of the record; two servers on one database would each
rebuild it and offer the same waiting contact to two agents. Until a standby is possible, a
second server refuses to start:

- PostgreSQL: a session-level advisory lock (``pg_try_advisory_lock``) on a connection of its
  own, in autocommit (no transaction stays open); the server ends and the lock goes with its
  session, even after a ``kill -9``;
- SQLite: an exclusive ``flock`` on ``<database file>.lock`` beside the database; the kernel
  drops it when the process ends, however it ends.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

# pg_try_advisory_lock takes one bigint: a fixed key for "the callcenter routing core".
ADVISORY_KEY = 0x63616C6C63656E74  # "callcent"


class AlreadyServing(RuntimeError):
    """Another server holds the database; ``str()`` says what to do."""


class InstanceLock:
    """A held lock; :meth:`release` gives it up (ending the process does too)."""

    def __init__(self, where: str, release: Any) -> None:
        self.where = where
        self._release = release

    def release(self) -> None:
        """Give the lock up; harmless twice."""
        release, self._release = self._release, None
        if release is not None:
            release()


def hold_instance_lock(url: str) -> InstanceLock:
    """Take the database's server lock or raise :class:`AlreadyServing` (see the module docstring).

    A SQLite database in memory has nobody to share it with: the lock is a no-op.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if not parsed.database or parsed.database == ":memory:":
            return InstanceLock("memory", lambda: None)
        return _flock(Path(parsed.database).resolve().with_name(Path(parsed.database).name + ".lock"))
    return _advisory(url)


def _flock(path: Path) -> InstanceLock:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise AlreadyServing(_message(f"{path} is locked by process {holder}")) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)

    def release() -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)

    return InstanceLock(str(path), release)


def _advisory(url: str) -> InstanceLock:
    engine = create_engine(url, poolclass=NullPool)
    conn = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    try:
        held = conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": ADVISORY_KEY}).scalar()
    except BaseException:
        conn.close()
        engine.dispose()
        raise
    if not held:
        conn.close()
        engine.dispose()
        where = make_url(url).render_as_string(hide_password=True)
        raise AlreadyServing(_message(f"the advisory lock {ADVISORY_KEY} on {where} is held by another session"))

    def release() -> None:
        conn.close()  # the session ends: PostgreSQL drops its advisory locks
        engine.dispose()

    return InstanceLock(f"advisory lock {ADVISORY_KEY}", release)


def _message(detail: str) -> str:
    return (f"another callcenter server is already running on this database ({detail}). Only one server may run "
            "the routing core on a database: stop the other server first, or give this one its own database "
            "(--data-dir or --database-url). A standby server is not supported yet.")
