"""The database: a sync SQLAlchemy engine driven from a bounded thread pool.

Every unit of work is a plain function that runs on a pool thread inside one transaction:

- ``await db.read(fn, *args)`` runs ``fn(conn, *args)``;
- ``await db.write(fn, *args)`` runs ``fn(conn, uow, *args)``; ``fn`` may call
  ``uow.emit(event)``. The events are published on the reactor thread through the bus only
  after the transaction committed, in emit order, and never when it rolled back.

Functions return plain values (frozen dataclasses), never rows: a row must not outlive its
transaction or cross threads.

SQLite (the embedded default; a file, never ``:memory:``): WAL journal, foreign keys on,
``synchronous=FULL`` (a commit that returned survives a crash), a busy timeout, and one writer
thread, because SQLite serializes writers anyway and a single writer never meets
``SQLITE_BUSY``. Reads run on their own small pool, concurrently with the writer (WAL). Each
transaction is an explicit ``BEGIN`` (``BEGIN IMMEDIATE`` for writes) so a read sees one
snapshot and a write holds the write lock from its first statement.

PostgreSQL: one pool of ``pool_size`` threads (default 4) for reads and writes, and an
engine pool of exactly that many connections, so a thread never waits for a connection.
"""

from __future__ import annotations

from typing import Any, Callable, TypeVar

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Connection, Engine, make_url
from twisted.internet.defer import Deferred
from twisted.internet.threads import deferToThreadPool
from twisted.python.threadpool import ThreadPool

from callcenter.runtime.events import DomainEvent, EventBus
from callcenter.records.ids import IdSource

T = TypeVar("T")

_SQLITE_BUSY_TIMEOUT_MS = 10_000
_WRITE_OPTION = "callcenter_write"


class DatabaseStopped(RuntimeError):
    """Work was submitted after :meth:`Database.stop` began or before :meth:`Database.start`."""


class UnitOfWork:
    """Collects the domain events a write produces; the database publishes them after commit.

    ``ids`` (the database's :class:`~callcenter.records.ids.IdSource`) gives rows inserted
    inside the write an id that no reserved id collides with.
    """

    def __init__(self, ids: IdSource | None = None) -> None:
        self.events: list[DomainEvent] = []
        self.ids = ids

    def new_id(self, conn: Connection, table: str) -> int | None:
        """The explicit id for a new row of ``table`` (SQLite), or None to use the column's default."""
        return self.ids.take_in_transaction(conn, table) if self.ids is not None else None

    def emit(self, event: DomainEvent) -> None:
        """Queue ``event`` for publication once this unit of work has committed."""
        self.events.append(event)


class Database:
    """The engine, its thread pools, and the read/write entry points described above.

    ``reactor`` provides ``callFromThread`` (the running reactor); ``bus`` (kept as
    :attr:`bus`) receives the events of committed writes. :attr:`engine` and
    :attr:`dialect` (``"sqlite"`` or ``"postgresql"``) are public for tools and tests.
    ``pool_size`` is the number of reading threads on SQLite (default 2) and of all
    threads on PostgreSQL (default 4).

    Shutting down: stop what submits work first (a :class:`RecordStore` is drained with
    ``await store.drain()``), then ``await db.stop()``.
    """

    def __init__(self, url: str, reactor: Any, bus: EventBus, pool_size: int | None = None) -> None:
        self.url = url
        self._reactor = reactor
        self.bus = bus
        self.dialect = make_url(url).get_backend_name()
        if self.dialect == "sqlite":
            readers = pool_size or 2
            self.engine = _sqlite_engine(url, readers + 1)
            self._read_pool = ThreadPool(1, readers, name="db-read")
            self._write_pool = ThreadPool(1, 1, name="db-write")
        else:
            size = pool_size or 4
            self.engine = create_engine(url, pool_size=size, max_overflow=0)
            self._read_pool = self._write_pool = ThreadPool(1, size, name="db")
        #: Ids of customers and interactions handed out before their rows are written.
        self.ids = IdSource(self)
        self._running = False
        self._stopped = False
        self._in_flight = 0
        self._drained: list[Deferred] = []

    def start(self) -> None:
        """Start the thread pools; connections are opened on first use.

        A database is started once: after :meth:`stop` it raises :class:`DatabaseStopped`.
        """
        if self._stopped:
            raise DatabaseStopped("a stopped database cannot be started again")
        for pool in {id(p): p for p in (self._read_pool, self._write_pool)}.values():
            pool.start()
        self._running = True

    async def stop(self) -> None:
        """Refuse new work, wait for every unit of work in flight, then stop the pools.

        Work already submitted finishes (commits and publishes) before this returns, so a
        write the caller was told about is never lost. Stopping twice is harmless.
        """
        if self._stopped:
            return
        self._running = False
        self._stopped = True
        if self._in_flight:
            d: Deferred = Deferred()
            self._drained.append(d)
            await d
        for pool in {id(p): p for p in (self._read_pool, self._write_pool)}.values():
            pool.stop()
        self.engine.dispose()

    async def read(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(conn, *args)`` in a read transaction on a pool thread; return its result.

        Raises what ``fn`` raises, and :class:`DatabaseStopped` when not running.
        """
        self._enter()
        try:
            return await deferToThreadPool(self._reactor, self._read_pool, self._run_read, fn, args)
        finally:
            self._leave()

    async def write(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(conn, uow, *args)`` in one transaction, commit, publish its events, return.

        If ``fn`` raises, the transaction rolls back, nothing is published and the error
        propagates. Raises :class:`DatabaseStopped` when not running.
        """
        self._enter()
        try:
            result, events = await deferToThreadPool(self._reactor, self._write_pool, self._run_write, fn, args)
            # Publication counts as part of the write: stop() waits for it too.
            self.bus.publish_all(events)
            return result
        finally:
            self._leave()

    async def ping(self) -> bool:
        """Return True when the database answers a trivial query; raise the driver's error if not."""
        return await self.read(_select_one)

    def _enter(self) -> None:
        if not self._running:
            raise DatabaseStopped("the database is not running")
        self._in_flight += 1

    def _leave(self) -> None:
        self._in_flight -= 1
        if not self._in_flight and self._drained:
            waiters, self._drained = self._drained, []
            for d in waiters:
                d.callback(None)

    def _run_read(self, fn: Callable, args: tuple) -> Any:
        with self.engine.connect() as conn:
            with conn.begin():
                return fn(conn, *args)

    def _run_write(self, fn: Callable, args: tuple) -> tuple[Any, list[DomainEvent]]:
        uow = UnitOfWork(self.ids)
        with self.engine.connect() as conn:
            conn.execution_options(**{_WRITE_OPTION: True})
            with conn.begin():
                result = fn(conn, uow, *args)
        return result, uow.events


def _select_one(conn: Connection) -> bool:
    return conn.execute(text("SELECT 1")).scalar() == 1


def _sqlite_engine(url: str, connections: int) -> Engine:
    """An engine for a SQLite file with the pragmas and explicit transactions described above."""
    engine = create_engine(
        url,
        pool_size=connections,
        max_overflow=0,
        connect_args={"check_same_thread": False, "timeout": _SQLITE_BUSY_TIMEOUT_MS / 1000},
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        # Let SQLAlchemy's "begin" event below, not the driver, decide where transactions start.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute(f"PRAGMA busy_timeout={_SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(_WRITE_OPTION) else "BEGIN")

    return engine
