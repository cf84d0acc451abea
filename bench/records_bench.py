"""Benchmark of the customer record's data layer, on SQLite and PostgreSQL.

Prints, per backend:
- appends: interaction events appended through ``RecordStore.append_event`` (one per call)
  and ``RecordStore.append_events`` (ten per call), group-committed, about 2,000 events in
  flight, events per second;
- lookups: contact lookups through ``find_customer_by_phone``/``find_customer_by_email``, a
  mix of known and unknown phones and emails written in varied forms, lookups per second, and
  how many were answered from memory (an owner, or "nobody" for an unknown point asked again);
- hot lookups: lookups of customers seen a moment ago, answered from memory;
- timeline: latency of one ``timeline`` page (50 items) of a customer with 1,000
  interactions, at random depths, p50/p99 in milliseconds;
- the ceiling of the stack: the DB-API driver alone inserting event rows with executemany
  in batches of 1,000, one commit each (so the appends' ratio to it shows).

Each rate comes with the CPU time per operation (every thread of the process), which a busy
machine stretches less than the rate, and the run ends with the peak resident memory. The
collector runs with the settings ``callcenter serve`` applies once serving
(:mod:`callcenter.runtime.memory`): with Python's defaults, full passes over the growing heap
take about a third of the appends' CPU.

Usage: ``.venv/bin/python bench/records_bench.py [--quick] [--backend sqlite|postgres]``.
``--quick`` divides the counts by ten. PostgreSQL is the server on 127.0.0.1:5432 (user
postgres), in a database created for the run and dropped afterwards.
"""

from __future__ import annotations

import argparse
import resource
import os
import random
import statistics
import sys
import tempfile
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from callcenter.runtime.reactor import install_asyncio_reactor  # noqa: E402

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


BULK = 10  # events per call of the bulk API: a caller logging several entries at once


def _windowed(call, items, window):
    """Run ``call(item)`` (a Deferred or coroutine) for every item, keeping ``window`` calls in
    flight (a new one starts as one finishes, as busy channels would); a Deferred of the results
    in order. Nothing is created ahead: the harness costs no more per call than a caller would
    (a semaphore holding every call in a list costs more than the call measured)."""
    from twisted.internet.defer import Deferred, ensureDeferred

    out = [None] * len(items)
    done = Deferred()
    state = {"next": 0, "finished": 0, "filling": False}

    def finished(result, n):
        out[n] = result
        state["finished"] += 1
        if state["finished"] == len(items):
            done.callback(out)
        elif not state["filling"]:
            fill()

    def failed(failure):
        if not done.called:
            done.errback(failure)

    def fill():
        state["filling"] = True
        while state["next"] < len(items) and state["next"] - state["finished"] < window:
            n = state["next"]
            state["next"] += 1
            ensureDeferred(call(items[n])).addCallbacks(finished, failed, callbackArgs=(n,))
        state["filling"] = False

    if not items:
        done.callback(out)
    else:
        fill()
    return done


async def _appends(store, count, bulk):
    """Events appended per second, one per call (``bulk`` 1) or ``bulk`` per call of the bulk API,
    with about WINDOW events in flight."""
    c = await store.create_customer("Appender")
    interactions = [(await store.create_interaction(c.id, "voice", "inbound")).id for _ in range(10)]
    started = time.perf_counter()
    if bulk == 1:
        results = await _windowed(
            lambda n: store.append_event(interactions[n % 10], "dtmf", "bench", {"digit": n % 10}),
            range(count), WINDOW)
    else:
        results = await _windowed(
            lambda first: store.append_events([(interactions[n % 10], "dtmf", "bench", {"digit": n % 10})
                                               for n in range(first, first + bulk)]),
            range(0, count, bulk), WINDOW // bulk)
    rate = count / (time.perf_counter() - started)
    assert sum(len(r) if isinstance(r, list) else 1 for r in results) == count
    return rate


async def _lookups(store, db, count):
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
    before = store.customers.stats()
    cpu, started = _cpu(), time.perf_counter()
    found = await _windowed(lambda call: call[0](call[1]), calls, LOOKUP_CONCURRENCY)
    rate = count / (time.perf_counter() - started)
    after = store.customers.stats()
    memory = {k: after[k] - before[k] for k in ("hits", "nobody_hits")}
    return rate, sum(1 for c in found if c is not None), (_cpu() - cpu) / count, memory


async def _hot_lookups(store, count):
    """Lookups of customers seen a moment ago (answered from memory): lookups per second."""
    rng = random.Random(11)
    known = [f"user{n}@example.com" for n in range(2_000)]
    for address in known:  # seen once: now in memory
        await store.find_customer_by_email(address)
    calls = [rng.choice(known) for _ in range(count)]
    cpu, started = _cpu(), time.perf_counter()
    # One after the other, as a channel asks: a hit never waits, so no window is needed.
    for address in calls:
        if await store.find_customer_by_email(address) is None:
            raise AssertionError(f"{address} was seen but is not found")
    return count / (time.perf_counter() - started), (_cpu() - cpu) / count


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _raw_inserts(db, count):
    """The stack's ceiling for appends: the DB-API driver's executemany, batches of 1,000, one commit each."""
    from callcenter.records.schema import interaction_events, interactions

    def insert_all(conn) -> float:
        from sqlalchemy import func, select

        iid = conn.execute(select(func.min(interactions.c.id))).scalar_one()
        first = conn.execute(select(func.coalesce(func.max(interaction_events.c.id), 0))).scalar_one() + 1
        raw = conn.connection.driver_connection
        mark = "?" if db.dialect == "sqlite" else "%s"
        sql = (f"INSERT INTO interaction_events (id, interaction_id, at, kind, actor, details) "
               f"VALUES ({', '.join([mark] * 6)})")
        started = time.perf_counter()
        if db.dialect == "sqlite":
            raw.execute("COMMIT") if raw.in_transaction else None
        for start in range(0, count, 1000):
            if db.dialect == "sqlite":
                raw.execute("BEGIN")  # the engine runs sqlite3 in autocommit: one transaction per batch
            rows = [(first + n, iid, "2026-03-01 09:00:00.000000", "dtmf", "bench", '{"digit": 1}')
                    for n in range(start, min(count, start + 1000))]
            with (raw.cursor() if db.dialect != "sqlite" else _nullcursor(raw)) as cur:
                cur.executemany(sql, rows)
            raw.commit()
        return count / (time.perf_counter() - started)

    return await db.read(insert_all)


class _nullcursor:
    """``with`` for sqlite3's cursor (which is not a context manager)."""

    def __init__(self, raw):
        self.cur = raw.cursor()

    def __enter__(self):
        return self.cur

    def __exit__(self, *exc):
        self.cur.close()


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
    from callcenter.runtime.clock import Clock
    from callcenter.runtime.events import EventBus
    from callcenter.records.database import Database
    from callcenter.records.migrate import upgrade
    from callcenter.records.store import RecordStore
    from callcenter.runtime.memory import settle_after_start_up

    scale = 10 if quick else 1
    upgrade(url)
    db = Database(url, reactor, EventBus())
    db.start()
    store = RecordStore(db, Clock(reactor), "FR")
    settle_after_start_up()  # the collector's settings `callcenter serve` uses once serving
    try:
        count = 100_000 // scale
        for bulk, how in ((1, "one per call"), (BULK, f"{BULK} per call")):
            cpu = _cpu()
            rate = await _appends(store, count, bulk)
            print(f"{name:9s} append {count:>7,} interaction events, {how:>12s}: {rate:>9,.0f} events/s   "
                  f"CPU {(_cpu() - cpu) / count * 1e6:.1f} us each", flush=True)
        rate, hits, cpu_each, memory = await _lookups(store, db, count)  # its CPU leaves out the set-up
        print(f"{name:9s} resolve {count:>6,} contact lookups ({hits:,} known): {rate:>9,.0f} lookups/s   "
              f"CPU {cpu_each * 1e6:.0f} us each   (from memory: {memory['hits']:,} owners, "
              f"{memory['nobody_hits']:,} nobody)", flush=True)
        rate, cpu_each = await _hot_lookups(store, count)  # its CPU leaves out the warm-up reads
        print(f"{name:9s} resolve {count:>6,} lookups of customers seen a moment ago: {rate:>9,.0f} lookups/s   "
              f"CPU {cpu_each * 1e6:.1f} us each   ({store.customers.stats()['entries']:,} in memory)",
              flush=True)
        p50, p99 = await _timeline(store, 1000 // scale if quick else 2000)
        print(f"{name:9s} timeline page (50 of 1,000 interactions): p50 {p50:.2f} ms, p99 {p99:.2f} ms", flush=True)
        rate = await _raw_inserts(db, count)
        print(f"{name:9s} ceiling: the driver alone inserts {count:,} event rows in batches of 1,000: "
              f"{rate:>9,.0f} rows/s   peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB",
              flush=True)
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
