"""SQLite through aiosqlite: one connection, WAL mode, writes serialised by a lock.

Every statement holds an asyncio lock and every write runs under ``BEGIN IMMEDIATE``, so
concurrent requests on the one connection never interleave (nor read each other's
uncommitted rows) and another process on the same file waits (``busy_timeout``) instead
of failing.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import cast

import aiosqlite

from ringpush.registry.database import Args, Dialect, Executor, Row


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
        cursor = await self._db.execute(sql, args)
        return cast(Row | None, await cursor.fetchone())

    async def fetchall(self, sql: str, args: Args = ()) -> list[Row]:
        cursor = await self._db.execute(sql, args)
        return cast(list[Row], list(await cursor.fetchall()))


class SqliteDatabase:
    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db
        self._plain = _Connection(db)
        self._lock = asyncio.Lock()

    @property
    def dialect(self) -> Dialect:
        return Dialect.SQLITE

    @classmethod
    async def open(cls, path: str | Path) -> SqliteDatabase:
        db = await aiosqlite.connect(str(path), isolation_level=None)
        db.row_factory = aiosqlite.Row
        await db.execute("PRAGMA journal_mode=WAL")
        await db.execute("PRAGMA foreign_keys=ON")
        await db.execute("PRAGMA busy_timeout=5000")
        return cls(db)

    async def close(self) -> None:
        await self._db.close()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Executor]:
        async with self._lock:
            await self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._plain
            except BaseException:
                await self._db.execute("ROLLBACK")
                raise
            await self._db.execute("COMMIT")

    async def execute(self, sql: str, args: Args = ()) -> int:
        async with self.transaction() as db:
            return await db.execute(sql, args)

    async def executemany(self, sql: str, rows: Sequence[Args]) -> None:
        async with self.transaction() as db:
            await db.executemany(sql, rows)

    async def fetchone(self, sql: str, args: Args = ()) -> Row | None:
        async with self._lock:  # never read another request's uncommitted writes
            return await self._plain.fetchone(sql, args)

    async def fetchall(self, sql: str, args: Args = ()) -> list[Row]:
        async with self._lock:
            return await self._plain.fetchall(sql, args)
