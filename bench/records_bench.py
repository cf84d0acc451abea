"""Benchmark of the customer record's data layer, on SQLite and PostgreSQL.

Prints, per backend:
- appends: interaction events appended through ``RecordStore.append_event`` (group commit
  in one writer), events per second;
- lookups: contact lookups through ``find_customer_by_phone``/``find_customer_by_email``, a
  mix of known and unknown phones and emails written in varied forms, lookups per second;
- timeline: latency of one ``timeline`` page (50 items) of a customer with 1,000
  interactions, at random depths, p50/p99 in milliseconds.

Usage: ``.venv/bin/python bench/records_bench.py [--quick] [--backend sqlite|postgres]``.
``--quick`` divides the counts by ten. PostgreSQL is the server on 127.0.0.1:5432 (user
postgres), in a database created for the run and dropped afterwards.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from callcenter.reactor import install_asyncio_reactor  # noqa: E402

PG_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432"
WINDOW = 2000  # appends kept in flight at once: what many busy channels would produce
LOOKUP_CONCURRENCY = 16


def _bulk_customers(conn, uow, start, count, now):
    """Bench set-up shortcut: insert ``count`` customers with one phone and one email each."""
    from sqlalchemy import insert, select

    from callcenter.records.schema import contact_points, customers

    rows = [dict(display_name=f"C{n}", tier="basic", attributes={}, external_ids={}, provisional=False,
                 created_at=now, updated_at=now) for n in range(start, start + count)]
    conn.execute(insert(customers), rows)
    ids = conn.execute(select(customers.c.id).order_by(customers.c.id.desc()).limit(count)).scalars().all()[::-1]
    points = []
    for cid, n in zip(ids, range(start, start + count)):
        points.append(dict(customer_id=cid, kind="phone", value=_phone(n), created_at=now))
        points.append(dict(customer_id=cid, kind="email", value=f"user{n}@example.com", created_at=now))
    conn.execute(insert(contact_points), points)


def _phone(n: int) -> str:
    return f"+3314{n:07d}"[:12]


async def _appends(store, count):
    from twisted.internet.defer import DeferredSemaphore, ensureDeferred, gatherResults

    c = await store.create_customer("Appender")
    interactions = [await store.create_interaction(c.id, "voice", "inbound") for _ in range(10)]
    sem = DeferredSemaphore(WINDOW)
    started = time.perf_counter()
    await gatherResults([
        sem.run(lambda n=n: ensureDeferred(store.append_event(interactions[n % 10].id, "dtmf", "bench", {"digit": n % 10})))
        for n in range(count)
    ])
    return count / (time.perf_counter() - started)


async def _lookups(store, db, count):
    from twisted.internet.defer import DeferredSemaphore, ensureDeferred, gatherResults

    known = 20_000 if count >= 100_000 else 2_000
    clock_now = store._clock.utcnow()
    for start in range(0, known, 5000):
        await db.write(_bulk_customers, start, min(5000, known - start), clock_now)
    rng = random.Random(7)
    calls = []
    for _ in range(count):
        r = rng.random()
        n = rng.randrange(known)
        if r < 0.4:  # known phone, national format
            calls.append((store.find_customer_by_phone, "01 4" + _phone(n)[5:]))
        elif r < 0.7:  # known email, shouted
            calls.append((store.find_customer_by_email, f" USER{n}@Example.COM"))
        elif r < 0.85:  # unknown phone
            calls.append((store.find_customer_by_phone, "+44 20 7946 " + f"{rng.randrange(10000):04d}"))
        else:  # unknown email
            calls.append((store.find_customer_by_email, f"nobody{n}@example.org"))
    sem = DeferredSemaphore(LOOKUP_CONCURRENCY)
    started = time.perf_counter()
    found = await gatherResults([sem.run(lambda f=f, a=a: ensureDeferred(f(a))) for f, a in calls])
    rate = count / (time.perf_counter() - started)
    return rate, sum(1 for c in found if c is not None)


async def _timeline(store, samples):
    from datetime import timedelta

    c = await store.create_customer("Historian", contact_points=[("email", "historian@example.com")])
    base = store._clock.utcnow()
    for n in range(1000):
        await store.create_interaction(c.id, ("voice", "email", "webform")[n % 3], "inbound", at=base + timedelta(seconds=n))
    cursors, cursor = [None], None
    while True:
        page = await store.timeline(c.id, 50, cursor)
        cursor = page.next_cursor
        if cursor is None:
            break
        cursors.append(cursor)
    rng = random.Random(3)
    latencies = []
    for _ in range(samples):
        cursor = rng.choice(cursors)
        t = time.perf_counter()
        page = await store.timeline(c.id, 50, cursor)
        latencies.append((time.perf_counter() - t) * 1000)
        assert len(page.items) == 50
    latencies.sort()
    return statistics.median(latencies), latencies[int(len(latencies) * 0.99) - 1]


async def _one_backend(reactor, name, url, quick):
    from callcenter.clock import Clock
    from callcenter.events import EventBus
    from callcenter.records.database import Database
    from callcenter.records.migrate import upgrade
    from callcenter.records.store import RecordStore

    scale = 10 if quick else 1
    upgrade(url)
    db = Database(url, reactor, EventBus())
    db.start()
    store = RecordStore(db, Clock(reactor), "FR")
    try:
        rate = await _appends(store, 100_000 // scale)
        print(f"{name:9s} append {100_000 // scale:>7,} interaction events: {rate:>9,.0f} events/s", flush=True)
        rate, hits = await _lookups(store, db, 100_000 // scale)
        print(f"{name:9s} resolve {100_000 // scale:>6,} contact lookups ({hits:,} known): {rate:>9,.0f} lookups/s", flush=True)
        p50, p99 = await _timeline(store, 1000 // scale if quick else 2000)
        print(f"{name:9s} timeline page (50 of 1,000 interactions): p50 {p50:.2f} ms, p99 {p99:.2f} ms", flush=True)
    finally:
        await store.drain()
        await db.stop()


async def main(reactor, args):
    """Run the benchmark on each requested backend and print its figures."""
    backends = [args.backend] if args.backend else ["sqlite", "postgres"]
    for name in backends:
        if name == "sqlite":
            with tempfile.TemporaryDirectory() as tmp:
                await _one_backend(reactor, name, f"sqlite:///{tmp}/bench.sqlite", args.quick)
        else:
            import psycopg

            db_name = f"cc_bench_{uuid.uuid4().hex[:10]}"
            with psycopg.connect(host="127.0.0.1", user="postgres", dbname="postgres", autocommit=True) as admin:
                admin.execute(f'CREATE DATABASE "{db_name}"')
            try:
                await _one_backend(reactor, name, f"{PG_SERVER}/{db_name}", args.quick)
            finally:
                with psycopg.connect(host="127.0.0.1", user="postgres", dbname="postgres", autocommit=True) as admin:
                    admin.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')


def cli() -> None:
    """Parse the options and run :func:`main` on the asyncio reactor."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="ten times smaller counts")
    parser.add_argument("--backend", choices=["sqlite", "postgres"], help="only this backend")
    args = parser.parse_args()
    install_asyncio_reactor()
    from twisted.internet.defer import ensureDeferred
    from twisted.internet.task import react

    react(lambda reactor: ensureDeferred(main(reactor, args)))


if __name__ == "__main__":
    cli()
