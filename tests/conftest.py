"""Fixtures shared by every test directory: databases and running coroutines on the reactor.

Databases
---------
``database_url``
    A fresh, EMPTY database, once per backend: SQLite (a file in ``tmp_path``) and
    PostgreSQL (a uniquely named database on 127.0.0.1:5432 as user ``postgres``, dropped
    afterwards). The PostgreSQL parameter carries the ``postgres`` marker, so
    ``-m "not postgres"`` runs the SQLite half only. Set ``CALLCENTER_TEST_POSTGRES`` to
    another server URL (without database name) to use another server.
``migrated_database_url``
    The same, with the schema already at head. Each test gets its own copy of a template
    migrated once per session (a file copy on SQLite, ``CREATE DATABASE ... TEMPLATE`` on
    PostgreSQL), which keeps the suite fast.
``database``
    A started :class:`callcenter.records.database.Database` on ``migrated_database_url``,
    with a fresh :class:`EventBus` at ``database.bus``; stopped after the test.

Running coroutines
------------------
``run(awaitable, timeout=10.0)`` (the ``run`` fixture) runs a coroutine or Deferred to
completion on the real, global reactor (the asyncio reactor installed by the root
conftest) and returns its result or raises its error. It starts the reactor, stops it
(``reactor.crash()``) as soon as the result is there, and raises ``TimeoutError`` after
``timeout`` seconds. This is how twisted.trial waits too, so trial-style tests and these
fixtures coexist in one session. Use it from plain pytest functions::

    def test_something(run, database):
        \"\"\"...\"\"\"
        assert run(database.ping()) is True
"""

from __future__ import annotations

import os
import shutil
import uuid
from typing import Any, Awaitable, Callable

import pytest
from twisted.internet.defer import Deferred, ensureDeferred
from twisted.python.failure import Failure

POSTGRES_SERVER = os.environ.get("CALLCENTER_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432")

BACKENDS = [pytest.param("sqlite", id="sqlite"), pytest.param("postgres", id="postgres", marks=pytest.mark.postgres)]


def run_on_reactor(awaitable: Awaitable[Any] | Deferred, timeout: float = 10.0) -> Any:
    """Run ``awaitable`` on the global reactor until it finishes; return or raise its outcome."""
    from twisted.internet import reactor

    d = awaitable if isinstance(awaitable, Deferred) else ensureDeferred(awaitable)
    outcome: list[Any] = []
    d.addBoth(outcome.append)
    if not outcome:
        d.addBoth(lambda _: reactor.crash())
        timer = reactor.callLater(timeout, reactor.crash)
        reactor.run(installSignalHandlers=False)
        if timer.active():
            timer.cancel()
    if not outcome:
        raise TimeoutError(f"not finished after {timeout} s")
    if isinstance(outcome[0], Failure):
        outcome[0].raiseException()
    return outcome[0]


@pytest.fixture
def run() -> Callable[..., Any]:
    """The :func:`run_on_reactor` helper (see the module docstring)."""
    return run_on_reactor


def _admin():
    import psycopg

    from sqlalchemy.engine import make_url

    u = make_url(POSTGRES_SERVER)
    return psycopg.connect(
        host=u.host or "127.0.0.1", port=u.port or 5432, user=u.username or "postgres",
        password=u.password, dbname="postgres", autocommit=True,
    )


def _new_pg_database(template: str | None = None) -> str:
    name = f"cc_test_{os.getpid()}_{uuid.uuid4().hex[:10]}"
    with _admin() as conn:
        conn.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    return name


def _drop_pg_database(name: str) -> None:
    with _admin() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def _migrated_templates(tmp_path_factory):
    """Per backend, a database migrated to head once per session, created on first use."""
    from callcenter.records.migrate import upgrade

    made: dict[str, str] = {}

    def get(backend: str) -> str:
        if backend not in made:
            if backend == "sqlite":
                path = tmp_path_factory.mktemp("template") / "template.sqlite"
                upgrade(f"sqlite:///{path}")
                made[backend] = str(path)
            else:
                name = _new_pg_database()
                upgrade(f"{POSTGRES_SERVER}/{name}")
                made[backend] = name
        return made[backend]

    yield get
    if "postgres" in made:
        _drop_pg_database(made["postgres"])


def _fresh_url(backend: str, tmp_path, template: str | None):
    if backend == "sqlite":
        path = tmp_path / f"db-{uuid.uuid4().hex[:8]}.sqlite"
        if template:
            shutil.copyfile(template, path)
        return f"sqlite:///{path}", None
    name = _new_pg_database(template)
    return f"{POSTGRES_SERVER}/{name}", name


@pytest.fixture(params=BACKENDS)
def database_url(request, tmp_path):
    """A fresh, empty database URL on each backend (see the module docstring)."""
    url, pg_name = _fresh_url(request.param, tmp_path, None)
    yield url
    if pg_name:
        _drop_pg_database(pg_name)


@pytest.fixture(params=BACKENDS)
def migrated_database_url(request, tmp_path, _migrated_templates):
    """A fresh database URL with the schema at head, on each backend."""
    url, pg_name = _fresh_url(request.param, tmp_path, _migrated_templates(request.param))
    yield url
    if pg_name:
        _drop_pg_database(pg_name)


@pytest.fixture
def database(migrated_database_url):
    """A started Database on a migrated database; its bus is ``database.bus``."""
    from twisted.internet import reactor

    from callcenter.runtime.events import EventBus
    from callcenter.records.database import Database

    db = Database(migrated_database_url, reactor, EventBus())
    db.start()
    yield db
    run_on_reactor(db.stop())
