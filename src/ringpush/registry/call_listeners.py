"""Which devices are following a call's events right now, on any instance.

When a call ends, the callee's devices that are not listening get a background push; the
ones listening learn it from the event stream. With several instances the stream may be
held by another instance than the one ending the call, so listeners are rows here. Each
row is leased (``until``): the instance holding the stream renews it, and a row whose
instance died simply runs out, so a crash never hides a device from its push for long.
"""

from __future__ import annotations

from datetime import datetime

from ringpush.registry.database import Database
from ringpush.registry.timestamps import to_us


class SqlCallListeners:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(
        self, app_id: str, call_id: str, device_id: str, instance_id: str, until: datetime
    ) -> None:
        await self._db.execute(
            """INSERT INTO call_listeners (app_id, call_id, device_id, instance_id, until_us)
               VALUES (?, ?, ?, ?, ?)
               ON CONFLICT (app_id, call_id, device_id, instance_id)
               DO UPDATE SET until_us = excluded.until_us""",
            (app_id, call_id, device_id, instance_id, to_us(until)),
        )

    async def remove(self, app_id: str, call_id: str, device_id: str, instance_id: str) -> None:
        await self._db.execute(
            """DELETE FROM call_listeners
               WHERE app_id = ? AND call_id = ? AND device_id = ? AND instance_id = ?""",
            (app_id, call_id, device_id, instance_id),
        )

    async def renew(self, instance_id: str, until: datetime, now: datetime) -> None:
        """Extend this instance's leases; forget everyone's expired ones."""
        async with self._db.transaction() as db:
            await db.execute(
                "UPDATE call_listeners SET until_us = ? WHERE instance_id = ?",
                (to_us(until), instance_id),
            )
            await db.execute("DELETE FROM call_listeners WHERE until_us < ?", (to_us(now),))

    async def listening(self, app_id: str, call_id: str, now: datetime) -> set[str]:
        rows = await self._db.fetchall(
            """SELECT DISTINCT device_id FROM call_listeners
               WHERE app_id = ? AND call_id = ? AND until_us >= ?""",
            (app_id, call_id, to_us(now)),
        )
        return {row[0] for row in rows}
