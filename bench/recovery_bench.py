"""Benchmark of the rebuild on start: N waiting contacts back in the routing core, on SQLite and PostgreSQL.

Creates N waiting email and form interactions (with their customers and log entries, in the
three shipped queues, at a mix of priorities and tiers) in a fresh database, then prints, per
backend:

- ceiling: the same rows read with one plain DB-API ``SELECT`` and ``fetchall`` (no parsing,
  no routing): what reading alone costs;
- read: :func:`callcenter.records.unfinished.unfinished_interactions` (the rebuild's query, with
  timestamps and JSON fields turned into routing data);
- restore: the whole rebuild as the server runs it at start (:class:`callcenter.dispatch.recovery.Recovery`
  on the application built from the shipped config: reads, switchboard, routing core), contacts
  per second and its ratio to the ceiling.

Usage: ``.venv/bin/python bench/recovery_bench.py [--count N] [--backend sqlite|postgres]``
(default 100,000 contacts, both backends). PostgreSQL is the server on 127.0.0.1:5432 (user
postgres, trust), in a database created for the run and dropped afterwards; it is skipped if
the server does not answer.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Iterator

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from callcenter.runtime.reactor import install_asyncio_reactor  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PG_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432"
PER_CUSTOMER = 5
BATCH = 10_000
QUEUES = (("support", "default"), ("billing", "email-billing"), ("sales", "email-sales"))
TIERS = ("basic", "gold", "platinum")


def fill(url: str, count: int) -> None:
    """Insert ``count`` waiting interactions (and their customers and two log entries each)."""
    from sqlalchemy import create_engine, insert

    from callcenter.records.schema import customers, interaction_events, interactions

    base = dt.datetime(2030, 1, 6, 8, 0, tzinfo=dt.timezone.utc)
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(insert(customers), [
            {"id": c + 1, "display_name": f"Customer {c}", "tier": TIERS[c % 3], "attributes": {}, "external_ids": {},
             "created_at": base, "updated_at": base} for c in range(count // PER_CUSTOMER + 1)])
        for first in range(0, count, BATCH):
            rows, events = [], []
            for n in range(first, min(first + BATCH, count)):
                queue, rule = QUEUES[n % 3]
                at = base + dt.timedelta(milliseconds=10 * n)
                channel = "email" if n % 4 else "webform"
                rows.append({"id": n + 1, "customer_id": n // PER_CUSTOMER + 1, "channel": channel,
                             "direction": "inbound", "queue": queue, "state": "queued", "created_at": at,
                             "queued_at": at, "updated_at": at, "subject": f"Question {n}",
                             "payload": {"mailbox": queue, "routing": {"rule": rule, "priority": n % 2,
                                                                       "tier": TIERS[n % 3]}}})
                events += [{"interaction_id": n + 1, "at": at, "kind": "created", "details": {"state": "new"}},
                           {"interaction_id": n + 1, "at": at, "kind": "state",
                            "details": {"from": "new", "to": "queued", "step": "queue"}}]
            conn.execute(insert(interactions), rows)
            conn.execute(insert(interaction_events), events)
    engine.dispose()


def ceiling(url: str) -> float:
    """Seconds to read the same rows with one plain DB-API query."""
    from sqlalchemy.engine import make_url

    sql = ("SELECT i.id, i.customer_id, i.channel, i.state, i.queue, i.agent, i.created_at, i.queued_at, "
           "i.accepted_at, i.ended_at, i.payload, c.tier, c.language, c.attributes FROM interactions i "
           "JOIN customers c ON c.id = i.customer_id "
           "WHERE i.state NOT IN ('completed', 'abandoned', 'unhandled') ORDER BY i.id")
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        import sqlite3

        conn = sqlite3.connect(u.database)
    else:
        import psycopg

        conn = psycopg.connect(host=u.host, port=u.port or 5432, user=u.username, dbname=u.database)
    try:
        began = time.perf_counter()
        rows = conn.execute(sql).fetchall()
        spent = time.perf_counter() - began
    finally:
        conn.close()
    assert rows
    return spent


async def restore(reactor, url: str) -> tuple[float, float, int]:
    """(seconds of the rebuild's query, seconds of the whole rebuild, contacts restored)."""
    from callcenter.app import build_application
    from callcenter.records.unfinished import unfinished_interactions
    from callcenter.dispatch.recovery import Recovery
    from callcenter.settings import load_settings

    settings = load_settings(ROOT / "config", {"data_dir": tempfile.mkdtemp(), "http_port": 0})
    app = build_application(settings, reactor, url)
    app.database.start()
    try:
        began = time.perf_counter()
        rows = await app.database.read(unfinished_interactions, None, ("voice",))
        read = time.perf_counter() - began
        del rows
        recovery = Recovery(database=app.database, store=app.store, board=app.switchboard, clock=app.clock,
                            resume_mail=None, form_facts=lambda *a: {}, restore_calls=None)
        began = time.perf_counter()
        report = await recovery.run()
        whole = time.perf_counter() - began
        restored = len(app.switchboard.router.waiting())
        assert restored == sum(report.waiting.values())
        app.switchboard.stop()
        await app.switchboard.settled()
        await app.store.drain()
    finally:
        await app.database.stop()
    return read, whole, restored


async def one_backend(reactor, name: str, url: str, count: int) -> None:
    """Fill, then print the ceiling, the query and the whole rebuild for one backend."""
    from callcenter.records.migrate import upgrade

    upgrade(url)
    began = time.perf_counter()
    fill(url, count)
    print(f"{name:9s} {count:,} waiting contacts written in {time.perf_counter() - began:.1f} s", flush=True)
    raw = ceiling(url)
    read, whole, restored = await restore(reactor, url)
    print(f"{name:9s} ceiling (plain SELECT, fetchall): {raw:6.3f} s  {count / raw:>10,.0f} rows/s", flush=True)
    print(f"{name:9s} rebuild query (routing data):     {read:6.3f} s  {count / read:>10,.0f} rows/s", flush=True)
    print(f"{name:9s} whole rebuild ({restored:,} in line):  {whole:6.3f} s  {restored / whole:>10,.0f} contacts/s"
          f"  ({whole / raw:.1f}x the ceiling)", flush=True)


@contextlib.contextmanager
def scratch_database(backend: str) -> Iterator[str | None]:
    """The URL of an empty database for the run, gone afterwards (None: PostgreSQL does not answer)."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            yield f"sqlite:///{tmp}/bench.sqlite"
        return
    import psycopg

    try:
        admin = psycopg.connect(host="127.0.0.1", user="postgres", dbname="postgres", autocommit=True,
                                connect_timeout=2)
    except psycopg.OperationalError:
        yield None
        return
    name = f"cc_bench_{uuid.uuid4().hex[:10]}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield f"{PG_SERVER}/{name}"
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def main(reactor, args) -> None:
    """Run the benchmark on each requested backend and print its figures."""
    for backend in [args.backend] if args.backend else ["sqlite", "postgres"]:
        with scratch_database(backend) as url:
            if url is None:
                print(f"{backend:9s} skipped: nothing answers on 127.0.0.1:5432", flush=True)
            else:
                await one_backend(reactor, backend, url, args.count)


def cli() -> None:
    """Parse the options and run :func:`main` on the asyncio reactor."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000, help="waiting contacts (default 100,000)")
    parser.add_argument("--backend", choices=["sqlite", "postgres"], help="only this backend")
    args = parser.parse_args()
    install_asyncio_reactor()
    from twisted.internet.defer import ensureDeferred
    from twisted.internet.task import react

    react(lambda reactor: ensureDeferred(main(reactor, args)))


if __name__ == "__main__":
    cli()
