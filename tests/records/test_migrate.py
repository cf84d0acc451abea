"""Schema migrations and the schema state ``serve`` checks before starting."""

from __future__ import annotations

import shutil

from sqlalchemy import create_engine, inspect, text

from callcenter.records.migrate import SCRIPT_LOCATION, head_revision, schema_state, upgrade


def _set_revision(url: str, revision: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = :r"), {"r": revision})
    engine.dispose()


def test_empty_database_reports_empty(database_url):
    """A database never migrated is 'empty' and the message says to run migrate."""
    state = schema_state(database_url)
    assert (state.current, state.status) == (None, "empty")
    assert "callcenter migrate" in state.message


def test_upgrade_creates_every_table_and_is_current(database_url):
    """Upgrading an empty database creates the schema and reports 'current' at head."""
    upgrade(database_url)
    engine = create_engine(database_url)
    tables = set(inspect(engine).get_table_names())
    engine.dispose()
    assert {"customers", "contact_points", "interactions", "interaction_events", "audit_log", "agents", "users"} <= tables
    state = schema_state(database_url)
    assert (state.current, state.head, state.status) == (head_revision(), head_revision(), "current")


def test_upgrade_twice_is_harmless(database_url):
    """Running migrate on a current database changes nothing and stays current."""
    upgrade(database_url)
    upgrade(database_url)
    assert schema_state(database_url).status == "current"


NEWER_REVISION = '''"""A later revision, standing for newer code."""

from alembic import op

revision = "9001"
down_revision = "{head}"
branch_labels = None
depends_on = None


def upgrade():
    """Add an index."""
    op.create_index("ix_customers_tier", "customers", ["tier"])


def downgrade():
    """Drop it."""
    op.drop_index("ix_customers_tier", table_name="customers")
'''


def _newer_scripts(tmp_path) -> str:
    """A copy of the shipped migrations with one more revision after head."""
    location = tmp_path / "newer-migrations"
    shutil.copytree(SCRIPT_LOCATION, location, ignore=shutil.ignore_patterns("__pycache__"))
    (location / "versions" / "9001_newer.py").write_text(NEWER_REVISION.format(head=head_revision()))
    return str(location)


def test_database_older_than_the_code_is_behind(database_url, tmp_path):
    """At the shipped head while the code knows one more revision, the schema is 'behind'."""
    newer = _newer_scripts(tmp_path)
    upgrade(database_url)
    state = schema_state(database_url, script_location=newer)
    assert (state.current, state.head, state.status) == (head_revision(), "9001", "behind")
    assert "callcenter migrate" in state.message
    upgrade(database_url, script_location=newer)
    assert schema_state(database_url, script_location=newer).status == "current"


def test_database_migrated_by_newer_code_is_ahead(database_url, tmp_path):
    """A database upgraded by newer code reports 'ahead' to this code."""
    upgrade(database_url, script_location=_newer_scripts(tmp_path))
    state = schema_state(database_url)
    assert (state.current, state.status) == ("9001", "ahead")
    assert "newer version" in state.message


def test_unknown_revision_is_ahead(database_url):
    """A revision this code does not know (newer code migrated it) is 'ahead', with advice."""
    upgrade(database_url)
    _set_revision(database_url, "ffffffff9999")
    state = schema_state(database_url)
    assert (state.current, state.status) == ("ffffffff9999", "ahead")
    assert "newer version" in state.message


def test_missing_sqlite_file_is_empty_and_not_created(tmp_path):
    """Checking a SQLite path that does not exist reports 'empty' without creating the file."""
    path = tmp_path / "nothing-here.sqlite"
    assert schema_state(f"sqlite:///{path}").status == "empty"
    assert not path.exists()


def test_migrations_build_exactly_the_tables_the_code_declares(database_url):
    """The migrated schema has no difference from callcenter.records.schema (tables, columns, indexes)."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from callcenter.records.schema import metadata

    upgrade(database_url)
    engine = create_engine(database_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    engine.dispose()
    assert diff == []
