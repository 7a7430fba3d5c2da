"""One SQLite connection and the one thread that uses it.

A sqlite3 call blocks, so it runs off the event loop; every trip to the thread costs a
wait for the loop on the way back, and under load (a bulk campaign's answers arriving in
bursts) that wait, not SQLite, was most of a call's time in the database: a call's
transaction made seven trips (``bench/lanes.py``, call → APNs p99 under a bulk backlog).
So the unit of a trip here is any function of the connection — one statement, or a whole
group commit with every statement in it (:func:`run_to_end` runs the registry's async
SQL there) — where aiosqlite's is one statement.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar, cast

from ringpush.registry.database import Args, Row
from ringpush.registry.database_errors import trouble_of

T = TypeVar("T")


class SqliteThread:
    def __init__(self, path: str) -> None:
        self._path = path
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ringpush-sqlite")
        self._conn: sqlite3.Connection | None = None

    @classmethod
    async def open(cls, path: str, setup: Callable[[sqlite3.Connection], None]) -> SqliteThread:
        """Connect (autocommit: transactions are explicit) and run ``setup`` on the new
        connection, on its thread."""
        opened = cls(path)
        try:
            await opened.run(opened._connect, setup)
        except BaseException:
            opened._thread.shutdown(wait=False)
            raise
        return opened

    def _connect(self, setup: Callable[[sqlite3.Connection], None]) -> None:
        conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        try:
            conn.row_factory = sqlite3.Row
            setup(conn)
        except BaseException:
            conn.close()
            raise
        self._conn = conn

    @property
    def connection(self) -> sqlite3.Connection:
        """For functions running on the thread (:meth:`run`) only."""
        if self._conn is None:
            raise sqlite3.ProgrammingError("the connection is closed")
        return self._conn

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` on the connection's thread: one trip. A database that cannot
        take the statement now (locked, full, read-only, failing disk) raises
        :class:`DatabaseUnavailable`."""
        try:
            return await asyncio.get_running_loop().run_in_executor(self._thread, fn, *args)
        except sqlite3.Error as exc:
            trouble = trouble_of(exc)
            if trouble is None:
                raise
            raise trouble from exc

    async def execute(self, sql: str, args: Args = ()) -> int:
        return await self.run(self._execute, sql, args)

    async def executemany(self, sql: str, rows: Sequence[Args]) -> None:
        await self.run(self._executemany, sql, rows)

    async def fetchall(self, sql: str, args: Args = ()) -> list[Row]:
        return await self.run(self._fetchall, sql, args)

    def _execute(self, sql: str, args: Args) -> int:
        return self.connection.execute(sql, args).rowcount

    def _executemany(self, sql: str, rows: Sequence[Args]) -> None:
        self.connection.executemany(sql, rows)

    def _fetchall(self, sql: str, args: Args) -> list[Row]:
        return cast(list[Row], self.connection.execute(sql, args).fetchall())

    async def close(self) -> None:
        if self._conn is not None:
            await self.run(self._close)
        self._thread.shutdown(wait=False)

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class OnThread:
    """The executor given to work that runs on the connection's thread: each method
    completes at once, so the work's coroutine never suspends (see :func:`run_to_end`)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    async def execute(self, sql: str, args: Args = ()) -> int:
        return self._conn.execute(sql, args).rowcount

    async def executemany(self, sql: str, rows: Sequence[Args]) -> None:
        self._conn.executemany(sql, rows)

    async def fetchone(self, sql: str, args: Args = ()) -> Row | None:
        return cast(Row | None, self._conn.execute(sql, args).fetchone())

    async def fetchall(self, sql: str, args: Args = ()) -> list[Row]:
        return cast(list[Row], self._conn.execute(sql, args).fetchall())


class SuspendedWork(RuntimeError):
    """Work run on the SQLite thread awaited something other than its executor."""


def run_to_end(work: Awaitable[T]) -> T:
    """Run a coroutine that awaits only an :class:`OnThread` executor, synchronously.

    The registry's SQL is written once, as async functions of an executor, for both
    engines; on SQLite's thread the executor answers at once, so one ``send`` runs the
    coroutine to its end.
    """
    if not isinstance(work, Coroutine):
        raise TypeError(f"expected a coroutine, got {type(work).__name__}")
    try:
        work.send(None)
    except StopIteration as done:
        return cast(T, done.value)
    work.close()
    raise SuspendedWork("work on the SQLite thread may await only its executor")
