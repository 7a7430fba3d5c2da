"""How long finished work is kept: the delivery log, ended calls, stale listener rows.

Every push and every call leaves a row. Without a limit the database grows for ever, and
with it backups and the delivery log's queries. Rows are deleted in small batches (short
transactions, no long lock on the tables every instance writes to); several instances
sweeping at once only share the work. Unfinished pushes and ringing calls are never
touched, however old.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from ringpush.registry.database import Database
from ringpush.registry.timestamps import to_us

#: Rows deleted per statement.
BATCH = 1000


@dataclass(frozen=True, slots=True)
class Swept:
    """Rows one sweep deleted."""

    pushes: int = 0
    calls: int = 0
    listeners: int = 0


class SqlRetention:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def sweep(self, now: datetime, keep: timedelta, batch: int = BATCH) -> Swept:
        """Delete final pushes last changed, and calls ended, more than ``keep`` before
        ``now``; and listener rows whose lease has run out."""
        cutoff = to_us(now - keep)
        pushes = await self._in_batches(
            """SELECT app_id, push_id FROM outbox
               WHERE state NOT IN ('pending', 'sending') AND updated_us < ? LIMIT ?""",
            """DELETE FROM outbox WHERE state NOT IN ('pending', 'sending')
               AND app_id = ? AND push_id IN ({})""",
            cutoff,
            batch,
        )
        calls = await self._in_batches(
            """SELECT app_id, call_id FROM calls
               WHERE state <> 'ringing' AND ended_us < ? LIMIT ?""",
            "DELETE FROM calls WHERE state <> 'ringing' AND app_id = ? AND call_id IN ({})",
            cutoff,
            batch,
        )
        listeners = await self._db.execute(
            "DELETE FROM call_listeners WHERE until_us < ?", (to_us(now),)
        )
        return Swept(pushes, calls, listeners)

    async def _in_batches(self, select: str, delete: str, cutoff: int, batch: int) -> int:
        """Pick a batch of (app, id) keys through the partial index, then delete exactly
        those through the primary key, an app at a time. (One ``DELETE … IN (SELECT …
        LIMIT …)`` makes PostgreSQL hash-join the batch against the whole table.)"""
        deleted = 0
        while True:
            keys = await self._db.fetchall(select, (cutoff, batch))
            by_app: dict[str, list[str]] = defaultdict(list)
            for key in keys:
                by_app[key[0]].append(key[1])
            for app_id, ids in by_app.items():
                placeholders = ", ".join("?" * len(ids))
                deleted += await self._db.execute(delete.format(placeholders), (app_id, *ids))
            if len(keys) < batch:
                return deleted
