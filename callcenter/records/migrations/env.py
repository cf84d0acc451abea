"""Alembic environment of the record schema.

Run only through :mod:`callcenter.records.migrate`, which builds the Alembic configuration in
code and passes an open connection in ``config.attributes["connection"]``; there is no
alembic.ini and no URL is read from files here.
"""

from alembic import context

from callcenter.records.schema import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    # SQLite cannot ALTER most things in place; batch mode rebuilds tables when a revision needs it.
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
