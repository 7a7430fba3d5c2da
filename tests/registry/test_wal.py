"""SQLite's WAL stays bounded under writes that never pause: past its limit the
checkpointer lets it start over from its first frame (a passive checkpoint alone never
does, and the file only grows)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from ringpush.registry.sqlite_database import SqliteDatabase


def size(path: str) -> int:
    return os.path.getsize(path)


async def test_the_wal_starts_over_under_steady_writes(tmp_path: Path) -> None:
    path = tmp_path / "w.db"
    db = await SqliteDatabase.open(path)
    db.wal_limit_frames = 64  # 256 KiB: passed within the first checkpoint round
    wal = f"{path}-wal"
    page = 4096
    try:
        await db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)")
        written, largest = 0, 0
        started = time.monotonic()
        while time.monotonic() - started < 3.5:  # commits back to back, over 3 rounds
            await db.execute("INSERT INTO t (v) VALUES (?)", (os.urandom(200),))
            written += 1
            if written % 50 == 0:
                largest = max(largest, size(wal))
        # Each commit adds at least one page to the WAL: never started over, the file
        # would hold them all; started over at each round (every second), it holds
        # about one round's.
        assert largest < written * page / 2, (written, largest)
        row = await db.fetchone("SELECT COUNT(*) FROM t")
        assert row is not None and row[0] == written  # nothing lost on the way
    finally:
        await db.close()
