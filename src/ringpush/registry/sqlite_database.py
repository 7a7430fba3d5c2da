"""SQLite through aiosqlite: one connection, WAL mode, writes serialised by a lock.

Every statement holds an asyncio lock, and a transaction of several statements runs under
``BEGIN IMMEDIATE``, so concurrent requests on the one connection never interleave (nor
read each other's uncommitted rows) and another process on the same file waits
(``busy_timeout``) instead of failing. A lone statement commits on its own: one trip to
aiosqlite's thread instead of three (BEGIN, statement, COMMIT), which is most of a call's
latency on SQLite.

Each commit waits for the disk (WAL, ``synchronous=FULL``: a stored call survives a power
cut). So that concurrent requests do not queue behind one flush each, :meth:`grouped`
work is committed in groups: whatever arrived while the previous group was being written
goes into the next transaction, each piece in a savepoint of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import sqlite3
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar, cast

import aiosqlite

from ringpush.registry.database import Args, Dialect, Executor, Row
from ringpush.registry.priority_lock import PriorityLock

T = TypeVar("T")
_Work = tuple[Callable[[Executor], Awaitable[Any]], "asyncio.Future[Any]"]

#: Tries at switching a new file to WAL (about 100 ms apart) before giving up.
WAL_ATTEMPTS = 50


class _Connection:
    """The executor inside a transaction: the lock is already held."""

    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db

    async def execute(self, sql: str, args: Args = ()) -> int:
        cursor = await self._db.execute(sql, args)
        return cursor.rowcount

    async def executemany(self, sql: str, rows: Sequence[Args]) -> None:
        await self._db.executemany(sql, rows)

    async def fetchone(self, sql: str, args: Args = ()) -> Row | None:
        rows = await self.fetchall(sql, args)
        return rows[0] if rows else None

    async def fetchall(self, sql: str, args: Args = ()) -> list[Row]:
        # One trip to aiosqlite's thread (execute, then fetch, would be two).
        return cast(list[Row], list(await self._db.execute_fetchall(sql, args)))


class SqliteDatabase:
    def __init__(self, db: aiosqlite.Connection, reader: aiosqlite.Connection) -> None:
        self._db = db
        #: Plain SELECTs go to a connection of their own: in WAL mode a reader sees the
        #: last commit and waits for no writer, so looking up a callee's devices never
        #: queues behind a bulk campaign's writes.
        self._reader = reader
        self._plain = _Connection(db)
        self._lock = PriorityLock()
        self._listeners: defaultdict[str, list[Callable[[str], None]]] = defaultdict(list)
        self._group: list[_Work] = []
        self._urgent_group: list[_Work] = []
        self._grouping: asyncio.Task[None] | None = None

    @property
    def dialect(self) -> Dialect:
        return Dialect.SQLITE

    @classmethod
    async def open(cls, path: str | Path) -> SqliteDatabase:
        db = await aiosqlite.connect(str(path), isolation_level=None)
        try:
            db.row_factory = aiosqlite.Row
            await db.execute("PRAGMA busy_timeout=5000")
            await cls._use_wal(db)
            await db.execute("PRAGMA foreign_keys=ON")
        except BaseException:
            await db.close()  # or its thread outlives us and keeps the process alive
            raise
        try:
            reader = await aiosqlite.connect(str(path), isolation_level=None)
        except BaseException:
            await db.close()
            raise
        try:
            reader.row_factory = aiosqlite.Row
            await reader.execute("PRAGMA busy_timeout=5000")
            await reader.execute("PRAGMA query_only=ON")
        except BaseException:
            await reader.close()
            await db.close()
            raise
        return cls(db, reader)

    @staticmethod
    async def _use_wal(db: aiosqlite.Connection) -> None:
        """Switch the file to WAL. Several processes opening a new file at once can get
        "database is locked" here at once, without the busy timeout (SQLite does not
        wait where waiting could deadlock), so this waits and tries again itself."""
        for attempt in range(WAL_ATTEMPTS):
            try:
                await db.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or attempt == WAL_ATTEMPTS - 1:
                    raise
                await asyncio.sleep(0.05 + random.random() * 0.1)

    async def close(self) -> None:
        await self._reader.close()
        await self._db.close()

    @asynccontextmanager
    async def transaction(self, *, urgent: bool = False) -> AsyncIterator[Executor]:
        """``urgent``: ahead of every statement waiting that is not (a call)."""
        async with self._lock.hold(urgent=urgent):
            try:
                await self._db.execute("BEGIN IMMEDIATE")
                yield self._plain
            except BaseException:
                # Also on cancellation, even of the BEGIN itself: the statement still
                # runs on aiosqlite's thread, and the ROLLBACK queued behind it must
                # undo it, or the next transaction would find one open.
                await asyncio.shield(self._rollback())
                raise
            await asyncio.shield(self._db.execute("COMMIT"))

    async def grouped(self, work: Callable[[Executor], Awaitable[T]], *, urgent: bool = False) -> T:
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        (self._urgent_group if urgent else self._group).append((work, future))
        if self._grouping is None:
            self._grouping = asyncio.get_running_loop().create_task(self._commit_groups())
        return await future

    async def _commit_groups(self) -> None:
        try:
            while self._urgent_group or self._group:
                urgent = bool(self._urgent_group)
                if urgent:
                    group, self._urgent_group = self._urgent_group, []
                else:
                    group, self._group = self._group, []
                done: list[tuple[asyncio.Future[Any], BaseException | None, Any]] = []
                try:
                    async with self.transaction(urgent=urgent) as db:
                        for work, future in group:
                            await db.execute("SAVEPOINT grouped")
                            try:
                                result = await work(db)
                            except Exception as exc:  # undone alone
                                await db.execute("ROLLBACK TO grouped")
                                await db.execute("RELEASE grouped")
                                done.append((future, exc, None))
                            else:
                                await db.execute("RELEASE grouped")
                                done.append((future, None, result))
                except Exception as exc:  # the commit failed: none of it happened
                    done = [(future, exc, None) for _, future in group]
                for future, error, result in done:
                    if future.done():
                        continue
                    if error is not None:
                        future.set_exception(error)
                    else:
                        future.set_result(result)
        finally:
            self._grouping = None

    async def _rollback(self) -> None:
        with contextlib.suppress(sqlite3.OperationalError):  # no transaction was open
            await self._db.execute("ROLLBACK")

    async def execute(self, sql: str, args: Args = ()) -> int:
        async with self._lock.hold():  # one statement commits on its own (autocommit)
            return await self._plain.execute(sql, args)

    async def executemany(self, sql: str, rows: Sequence[Args]) -> None:
        async with self.transaction() as db:
            await db.executemany(sql, rows)

    async def fetchone(self, sql: str, args: Args = ()) -> Row | None:
        rows = await self.fetchall(sql, args)
        return rows[0] if rows else None

    async def fetchall(self, sql: str, args: Args = ()) -> list[Row]:
        if sql.lstrip()[:6].upper() == "SELECT":  # committed data only, never waits
            return cast(list[Row], list(await self._reader.execute_fetchall(sql, args)))
        async with self._lock.hold():  # UPDATE … RETURNING: a write
            return await self._plain.fetchall(sql, args)

    async def notify(self, channel: str, payload: str) -> None:
        """SQLite serves one node: the listeners are this process's. Delivered on a later
        loop turn, as a notification from PostgreSQL would be."""
        loop = asyncio.get_running_loop()
        for callback in self._listeners.get(channel, ()):
            loop.call_soon(callback, payload)

    async def listen(self, channel: str, callback: Callable[[str], None]) -> None:
        self._listeners[channel].append(callback)

    @property
    def listening(self) -> bool:
        return True  # there are no other instances to hear from
