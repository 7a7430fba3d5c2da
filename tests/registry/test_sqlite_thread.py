"""SQLite on a thread of its own: a group commit is one trip, work that would suspend is
refused, and the WAL is checkpointed in the background."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from ringpush.registry.database import Executor
from ringpush.registry.sqlite_database import CHECKPOINT_SECONDS, SqliteDatabase
from ringpush.registry.sqlite_thread import SuspendedWork, run_to_end


async def test_work_that_awaits_anything_but_its_executor_is_refused(tmp_path: Path) -> None:
    db = await SqliteDatabase.open(tmp_path / "t.db")
    try:
        await db.execute("CREATE TABLE t (n INTEGER)")

        async def stores(executor: Executor) -> int:
            return await executor.execute("INSERT INTO t (n) VALUES (1)")

        async def sleeps(executor: Executor) -> int:
            await executor.execute("INSERT INTO t (n) VALUES (2)")
            await asyncio.sleep(0)  # not the executor: cannot run on the SQLite thread
            return 0

        assert await db.grouped(stores) == 1
        with pytest.raises(SuspendedWork):
            await db.grouped(sleeps)
        # the refused work was undone alone; the other stayed
        assert [row[0] for row in await db.fetchall("SELECT n FROM t")] == [1]
    finally:
        await db.close()


async def test_run_to_end_wants_a_coroutine() -> None:
    with pytest.raises(TypeError):
        run_to_end(asyncio.get_running_loop().create_future())


async def test_commits_reach_the_database_file_without_a_commit_doing_the_copy(
    tmp_path: Path,
) -> None:
    path = tmp_path / "t.db"
    db = await SqliteDatabase.open(path)
    try:
        await db.execute("CREATE TABLE t (n INTEGER)")
        await db.executemany("INSERT INTO t (n) VALUES (?)", [(n,) for n in range(500)])

        def in_file() -> int:
            """Rows in the database file itself, the WAL left out (immutable)."""
            with sqlite3.connect(f"file:{path}?immutable=1", uri=True) as file:
                try:
                    return int(file.execute("SELECT COUNT(*) FROM t").fetchone()[0])
                except sqlite3.OperationalError:  # not even the table is in the file yet
                    return 0

        assert in_file() == 0  # commits append to the WAL only (no autocheckpoint)
        for _ in range(int(CHECKPOINT_SECONDS * 50)):
            await asyncio.sleep(0.1)
            if in_file() == 500:
                break
        assert in_file() == 500
    finally:
        await db.close()
