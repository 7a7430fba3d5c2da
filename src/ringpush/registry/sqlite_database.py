"""SQLite: one writer connection, one reader, WAL mode, writes serialised by a lock.

Every statement holds an asyncio lock, and a transaction of several statements runs under
``BEGIN IMMEDIATE``, so concurrent requests on the one connection never interleave (nor
read each other's uncommitted rows) and another process on the same file waits
(``busy_timeout``) instead of failing. A lone statement commits on its own: one trip to
the connection's thread (:mod:`ringpush.registry.sqlite_thread`) instead of three.

Each commit waits for the disk (WAL, ``synchronous=FULL``: a stored call survives a power
cut). So that concurrent requests do not queue behind one flush each, :meth:`grouped`
work is committed in groups: whatever arrived while the previous group was being written
goes into the next transaction, each piece in a savepoint of its own, and the whole group
is one trip to the thread, every statement of it run there back to back.

Checkpoints (copying the WAL back into the database file) run on a connection of their
own, every second, not inside whichever commit crosses SQLite's threshold: that commit
held the writer for the whole copy (tens to hundreds of milliseconds under a bulk
campaign), and every call being stored waited for it. A passive checkpoint does not
block the writer, but it never lets the WAL start over either: SQLite rewinds the WAL
only when a writer begins after a checkpoint copied every frame, and under steady writes
new frames land while each passive one runs (a 1 M-device load grew the WAL to 10 GB).
So once the WAL holds more than :data:`WAL_LIMIT_FRAMES`, a second passive checkpoint
runs on the writer's own connection between two transactions (the writer's lock held,
calls still first): with no commit landing meanwhile it copies the few frames left, and
the next transaction starts the WAL over from its first frame, so the file stops growing.
Emptying the file instead (a truncating checkpoint) cost a 17 to 50 ms stall of every
commit each time (``bench/call_latency.py`` at 300 calls/s: p99 16-22 ms, 11 ms this
way), and one run from the checkpointer's connection made the writer wait on SQLite's
busy handler, which sleeps 1, 2, 5, 10, 15 ms… between tries.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import sqlite3
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

from ringpush.registry.database import Args, Dialect, Executor, Row
from ringpush.registry.database_errors import WriteHealth, trouble_of, unavailable
from ringpush.registry.priority_lock import PriorityLock
from ringpush.registry.sqlite_thread import OnThread, SqliteThread, run_to_end
from ringpush.registry.store import DatabaseUnavailable, Trouble

log = logging.getLogger("ringpush.registry")

T = TypeVar("T")
_Work = tuple[Callable[[Executor], Awaitable[Any]], "asyncio.Future[Any]"]
#: What each piece of a group came to: its error, or its result.
_Outcome = tuple[BaseException | None, Any]

#: Tries at switching a new file to WAL (about 100 ms apart) before giving up.
WAL_ATTEMPTS = 50
#: How often the WAL is copied back into the database file.
CHECKPOINT_SECONDS = 1.0
#: WAL frames (pages, 4 KiB by default) beyond which a checkpoint makes the WAL start over.
WAL_LIMIT_FRAMES = 4096


def _writer_setup(conn: sqlite3.Connection) -> None:
    conn.execute("PRAGMA busy_timeout=5000")
    _use_wal(conn)
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA wal_autocheckpoint=0")  # the checkpointer's job


def _checkpointer_setup(conn: sqlite3.Connection) -> None:
    conn.execute("PRAGMA busy_timeout=5000")


def _checkpoint(conn: sqlite3.Connection) -> int:
    """Copy what the WAL holds into the database file without blocking the writer;
    returns how many frames the WAL holds."""
    row = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    return 0 if row is None else int(row[1])  # (busy, frames in the WAL, copied)


def _reader_setup(conn: sqlite3.Connection) -> None:
    conn.execute("PRAGMA busy_timeout=5000")
    conn.execute("PRAGMA query_only=ON")


def _use_wal(conn: sqlite3.Connection) -> None:
    """Switch the file to WAL. Several processes opening a new file at once can get
    "database is locked" here at once, without the busy timeout (SQLite does not wait
    where waiting could deadlock), so this waits and tries again itself (on the
    connection's thread, not the event loop)."""
    for attempt in range(WAL_ATTEMPTS):
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == WAL_ATTEMPTS - 1:
                raise
            time.sleep(0.05 + random.random() * 0.1)


def _execute_many(conn: sqlite3.Connection, sql: str, rows: Sequence[Args]) -> None:
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.executemany(sql, rows)
        conn.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
        raise


def _commit_group(
    conn: sqlite3.Connection, works: list[Callable[[Executor], Awaitable[Any]]]
) -> list[_Outcome]:
    """One transaction for a group, on the connection's thread; a piece that fails is
    undone alone (its savepoint), and if the commit fails none of it happened."""
    executor = OnThread(conn)
    outcomes: list[_Outcome] = []
    conn.execute("BEGIN IMMEDIATE")
    try:
        for work in works:
            conn.execute("SAVEPOINT grouped")
            try:
                result = run_to_end(work(executor))
            except Exception as exc:
                conn.execute("ROLLBACK TO grouped")
                conn.execute("RELEASE grouped")
                outcomes.append((exc, None))
            else:
                conn.execute("RELEASE grouped")
                outcomes.append((None, result))
        conn.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
        raise
    return outcomes


class _Connection:
    """The executor inside a transaction: the lock is already held."""

    def __init__(self, db: SqliteThread) -> None:
        self._db = db

    async def execute(self, sql: str, args: Args = ()) -> int:
        return await self._db.execute(sql, args)

    async def executemany(self, sql: str, rows: Sequence[Args]) -> None:
        await self._db.executemany(sql, rows)

    async def fetchone(self, sql: str, args: Args = ()) -> Row | None:
        rows = await self.fetchall(sql, args)
        return rows[0] if rows else None

    async def fetchall(self, sql: str, args: Args = ()) -> list[Row]:
        return await self._db.fetchall(sql, args)


class SqliteDatabase:
    def __init__(self, db: SqliteThread, reader: SqliteThread, checkpointer: SqliteThread) -> None:
        self._db = db
        self._checkpointer = checkpointer
        #: WAL frames beyond which a checkpoint makes the WAL start over.
        self.wal_limit_frames = WAL_LIMIT_FRAMES
        self._checkpoints = asyncio.get_running_loop().create_task(self._checkpoint_loop())
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
        #: Whether the last write was committed (for ``/readyz``).
        self.write_health = WriteHealth()

    @property
    def dialect(self) -> Dialect:
        return Dialect.SQLITE

    @classmethod
    async def open(cls, path: str | Path) -> SqliteDatabase:
        """Open (creating it 0600: SQLite gives the WAL and shared-memory files the
        database file's mode, and the file holds sealed tokens and keys)."""
        if os.statvfs(Path(path).parent).f_flag & os.ST_RDONLY:
            # SQLite would say only "unable to open database file" (WAL needs its files).
            raise unavailable(Trouble.READ_ONLY, "its file system is mounted read-only")
        with contextlib.suppress(FileExistsError):
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        opened: list[SqliteThread] = []
        try:
            for setup in (_writer_setup, _reader_setup, _checkpointer_setup):
                opened.append(await SqliteThread.open(str(path), setup))
        except BaseException:
            for connection in opened:
                await connection.close()
            raise
        return cls(*opened)

    async def close(self) -> None:
        self._checkpoints.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._checkpoints
        await self._checkpointer.close()
        await self._reader.close()
        await self._db.close()  # the last connection to close checkpoints what is left

    async def _checkpoint_loop(self) -> None:
        while True:
            await asyncio.sleep(CHECKPOINT_SECONDS)
            try:
                frames = await self._checkpointer.run(_checkpoint, self._checkpointer.connection)
                if frames > self.wal_limit_frames:
                    # The same copy on the writer's connection, between two transactions:
                    # the frames left, so that the next transaction starts the WAL over.
                    async with self._lock.hold():
                        await asyncio.shield(self._db.run(_checkpoint, self._db.connection))
            except (sqlite3.Error, DatabaseUnavailable) as exc:  # the next round will do
                log.debug("WAL checkpoint skipped: %s", exc)

    @asynccontextmanager
    async def transaction(self, *, urgent: bool = False) -> AsyncIterator[Executor]:
        """``urgent``: ahead of every statement waiting that is not (a call)."""
        async with self._lock.hold(urgent=urgent):
            try:
                await self._db.execute("BEGIN IMMEDIATE")
                yield self._plain
            except BaseException as exc:
                # Also on cancellation, even of the BEGIN itself: the statement still
                # runs on the connection's thread, and the ROLLBACK queued behind it must
                # undo it, or the next transaction would find one open.
                await asyncio.shield(self._rollback())
                if isinstance(exc, DatabaseUnavailable):
                    self.write_health.failed(exc)
                raise
            await self._written(asyncio.shield(self._db.execute("COMMIT")))

    async def grouped(self, work: Callable[[Executor], Awaitable[T]], *, urgent: bool = False) -> T:
        """Run ``work`` in the next group commit. On SQLite it runs on the connection's
        thread, so it may await only the executor it is given."""
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
                works = [work for work, _ in group]
                try:
                    async with self._lock.hold(urgent=urgent):
                        outcomes = await self._written(
                            asyncio.shield(self._db.run(_commit_group, self._db.connection, works))
                        )
                except Exception as exc:  # the commit failed: none of it happened
                    outcomes = [(exc, None)] * len(group)
                for (_, future), (error, result) in zip(group, outcomes, strict=True):
                    if future.done():
                        continue
                    if error is not None:
                        # A piece's own statement can meet a full disk, too.
                        future.set_exception(trouble_of(error) or error)
                    else:
                        future.set_result(result)
        finally:
            self._grouping = None

    async def _written(self, commit: Awaitable[T]) -> T:
        """``commit``, the end of a write, noted in :attr:`write_health`."""
        try:
            result = await commit
        except DatabaseUnavailable as exc:
            self.write_health.failed(exc)
            raise
        self.write_health.succeeded()
        return result

    async def _rollback(self) -> None:
        # No transaction was open (SQLite may have rolled it back itself on a full disk).
        with contextlib.suppress(sqlite3.Error, DatabaseUnavailable):
            await self._db.execute("ROLLBACK")

    async def execute(self, sql: str, args: Args = ()) -> int:
        async with self._lock.hold():  # one statement commits on its own (autocommit)
            return await self._written(self._plain.execute(sql, args))

    async def executemany(self, sql: str, rows: Sequence[Args]) -> None:
        async with self._lock.hold():  # one transaction, one trip
            await self._written(
                asyncio.shield(self._db.run(_execute_many, self._db.connection, sql, rows))
            )

    async def fetchone(self, sql: str, args: Args = ()) -> Row | None:
        rows = await self.fetchall(sql, args)
        return rows[0] if rows else None

    async def fetchall(self, sql: str, args: Args = ()) -> list[Row]:
        if sql.lstrip()[:6].upper() == "SELECT":  # committed data only, never waits
            return await self._reader.fetchall(sql, args)
        async with self._lock.hold():  # UPDATE … RETURNING: a write
            return await self._written(self._plain.fetchall(sql, args))

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
