"""SQLite's WAL stays bounded under writes that never pause: the checkpointer empties it
once it passes its limit (a passive checkpoint alone never lets it start over, and the
file only grows)."""

from __future__ import annotations

import asyncio
import itertools
import os
import time
from pathlib import Path

from ringpush.registry.sqlite_database import SqliteDatabase


def size(path: str) -> int:
    return os.path.getsize(path)


async def test_the_wal_is_emptied_under_steady_writes(tmp_path: Path) -> None:
    path = tmp_path / "w.db"
    db = await SqliteDatabase.open(path)
    db.wal_limit_frames = 64  # 256 KiB: passed within the first checkpoint round
    wal = f"{path}-wal"
    try:
        await db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)")
        sizes, written = [], 0
        started = time.monotonic()
        while time.monotonic() - started < 3.5:  # commits back to back, over 3 rounds
            await db.execute("INSERT INTO t (v) VALUES (?)", (os.urandom(200),))
            written += 1
            if written % 50 == 0:
                sizes.append(size(wal))
        # Emptied while the writes went on: without it the file only ever grows.
        assert any(later < earlier for earlier, later in itertools.pairwise(sizes)), sizes[-5:]
        for _ in range(50):  # and empty once the next rounds have run
            if size(wal) == 0:
                break
            await asyncio.sleep(0.1)
        assert size(wal) == 0
        row = await db.fetchone("SELECT COUNT(*) FROM t")
        assert row is not None and row[0] == written  # nothing lost on the way
    finally:
        await db.close()
