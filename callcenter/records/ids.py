"""Primary keys handed out before their rows are written.

The intake pipeline decides where a contact goes (the routing core keys everything by the
interaction's id) before the write that stores it commits, so the ids of a new customer and
of its interaction must exist first. :class:`IdSource` hands them out:

* **PostgreSQL**: from the tables' own sequences, reserved ahead in blocks
  (``SELECT nextval(...) FROM generate_series(1, n)``), so several nodes and the rows inserted
  without an explicit id never collide: every id comes from the one sequence.
* **SQLite**: from a counter in this process, started at ``max(id) + 1`` of the table on first
  use. SQLite is the single-node embedded database and one process writes it (the instance
  lock sees to that), so the counter is the sequence. Rows inserted without an explicit id
  inside a write (:meth:`take_in_transaction`) take theirs from the same counter, so an id
  reserved but not yet written is never given to another row, and rows written by anyone
  else (a bulk import) move the counter past theirs.

An id that was reserved and never written (the write failed, the server stopped) is simply
not used: ids are unique, not gapless. On SQLite they increase in order of reservation; on
PostgreSQL they increase within a reserved block, while a row inserted without an explicit id
takes the sequence's next value, which may be past the block.

Thread safety: reservations happen on the reactor thread, :meth:`take_in_transaction` on the
database's write thread; a lock guards the SQLite counters.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any

from sqlalchemy import text
from twisted.internet.defer import Deferred
from sqlalchemy.engine import Connection

TABLES = ("customers", "interactions")
_BLOCK = 256


class IdSource:
    """Reserves ids of ``customers`` and ``interactions`` for the :class:`Database` ``db``."""

    def __init__(self, db: Any, block: int = _BLOCK) -> None:
        self._db = db
        self._block = block
        self._lock = threading.Lock()
        self._next: dict[str, int] = {}                            # SQLite: the next free id per table
        self._ahead: dict[str, deque[int]] = {t: deque() for t in TABLES}  # PostgreSQL: reserved ids
        self._filling: dict[str, Deferred] = {}                  # PostgreSQL: the reservation under way
        self._wanted: dict[str, int] = dict.fromkeys(TABLES, 0)   # PostgreSQL: ids the takes under way want

    @property
    def sqlite(self) -> bool:
        """True when ids come from this process's counters (the database is SQLite)."""
        return self._db.dialect == "sqlite"

    async def take(self, table: str, count: int = 1) -> list[int]:
        """``count`` new ids of ``table``, increasing. Raises ``KeyError`` for another table.

        Costs a database round trip only the first time (SQLite) or once per block
        (PostgreSQL): the takes of a burst wait for the reservation under way, then share
        one made for all of them still waiting, two round trips whatever its size.
        """
        if table not in TABLES:
            raise KeyError(table)
        if self.sqlite:
            if table not in self._next:
                start = await self._db.read(_next_free, table)
                with self._lock:
                    self._next.setdefault(table, start)
            with self._lock:
                first = self._next[table]
                self._next[table] = first + count
            return list(range(first, first + count))
        ahead = self._ahead[table]
        self._wanted[table] += count
        try:
            while len(ahead) < count:
                filling = self._filling.get(table)
                if filling is not None:
                    await filling   # one reservation at a time: a burst shares it
                    continue
                filling = self._filling[table] = Deferred()
                try:
                    # Enough for every take waiting now.
                    wanted = max(self._block, self._wanted[table] - len(ahead))
                    ahead.extend(await self._db.read(_reserve, table, wanted))
                finally:
                    del self._filling[table]
                    filling.callback(None)
            return [ahead.popleft() for _ in range(count)]
        finally:
            self._wanted[table] -= count

    def take_in_transaction(self, conn: Connection, table: str) -> int | None:
        """The id for a row of ``table`` inserted inside a write on ``conn``.

        SQLite: the next id of this process's counter (started from ``conn`` if needed).
        PostgreSQL: None, the column's default (the same sequence) assigns it.
        """
        if not self.sqlite:
            return None
        # Rows written without this source (a bulk import, an offline command) move the counter
        # on: max(id) on a rowid table is a single b-tree step.
        free = _next_free(conn, table)
        with self._lock:
            taken = max(self._next.get(table, free), free)
            self._next[table] = taken + 1
        return taken


def _next_free(conn: Connection, table: str) -> int:
    return int(conn.execute(text(f"SELECT coalesce(max(id), 0) + 1 FROM {table}")).scalar_one())


def _reserve(conn: Connection, table: str, count: int) -> list[int]:
    rows = conn.execute(text(f"SELECT nextval(pg_get_serial_sequence('{table}', 'id')) FROM generate_series(1, :n)"),
                        {"n": count})
    return [int(r[0]) for r in rows]
