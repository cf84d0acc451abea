"""Schema migrations: upgrade a database and tell how its schema compares with this code.

The Alembic configuration is built here, in code; the scripts live in
``callcenter/records/migrations``. ``callcenter migrate`` calls :func:`upgrade`; ``serve``
calls :func:`schema_state` and refuses to start unless the status is ``"current"``, printing
:attr:`SchemaState.message`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine
from sqlalchemy.engine import Connection, make_url

SCRIPT_LOCATION = os.path.join(os.path.dirname(os.path.abspath(__file__)), "migrations")

SCHEMA_STATUSES = ("current", "empty", "behind", "ahead")


@dataclass(frozen=True)
class SchemaState:
    """Where a database's schema stands relative to this code.

    ``status`` is ``"current"`` (revision == head), ``"empty"`` (never migrated),
    ``"behind"`` (an older revision this code knows: run ``callcenter migrate``) or
    ``"ahead"`` (a revision this code does not know, normally written by newer code).
    """

    current: str | None
    head: str
    status: str

    @property
    def message(self) -> str:
        """A sentence for an operator saying what the state means and what to run."""
        if self.status == "current":
            return f"database schema is current (revision {self.head})"
        if self.status == "empty":
            return "the database has no schema yet; run `callcenter migrate` first"
        if self.status == "behind":
            return (
                f"the database schema (revision {self.current}) is older than this code "
                f"(revision {self.head}); run `callcenter migrate`"
            )
        return (
            f"the database schema (revision {self.current}) is unknown to this code "
            f"(head {self.head}); it was probably migrated by a newer version: upgrade the server"
        )


def alembic_config(connection: Connection | None = None, script_location: str = SCRIPT_LOCATION) -> Config:
    """An Alembic ``Config`` for the record schema, optionally bound to an open connection.

    ``script_location`` defaults to the scripts shipped in this package; tests pass another
    directory to stand for older or newer code.
    """
    cfg = Config()
    cfg.set_main_option("script_location", script_location)
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    """The newest revision this code knows."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "the migrations directory has no revision"
    return head


def upgrade(url: str, revision: str = "head", script_location: str = SCRIPT_LOCATION) -> None:
    """Create or upgrade the schema of the database at ``url`` to ``revision`` (default: head).

    Raises SQLAlchemy's errors if the database cannot be reached, and Alembic's
    ``CommandError`` if the database carries a revision this code does not know.
    """
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            command.upgrade(alembic_config(conn, script_location), revision)
    finally:
        engine.dispose()


def schema_state(url: str, script_location: str = SCRIPT_LOCATION) -> SchemaState:
    """Compare the schema of the database at ``url`` with this code; reads only.

    A SQLite file that does not exist is reported ``"empty"`` and is not created. Raises
    SQLAlchemy's ``OperationalError`` if the database cannot be reached.
    """
    script = ScriptDirectory.from_config(alembic_config(script_location=script_location))
    head = script.get_current_head()
    assert head is not None, "the migrations directory has no revision"
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and not os.path.exists(parsed.database):
        return SchemaState(current=None, head=head, status="empty")
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            current = MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()
    if current is None:
        status = "empty"
    elif current == head:
        status = "current"
    elif _known(script, current):
        status = "behind"
    else:
        status = "ahead"
    return SchemaState(current=current, head=head, status=status)


def _known(script: ScriptDirectory, revision: str) -> bool:
    try:
        return script.get_revision(revision) is not None
    except Exception:  # noqa: BLE001 - alembic raises several types for an unknown id
        return False
