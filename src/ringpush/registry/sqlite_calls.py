"""Calls in the SQLite file."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ringpush.registry.call_models import Call, CallState, EndReason

if TYPE_CHECKING:
    from ringpush.registry.sqlite import SqliteRegistry


def _us(moment: datetime) -> int:
    return int(moment.timestamp() * 1_000_000)


def _at(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1_000_000, tz=UTC)


class SqliteCalls:
    def __init__(self, registry: SqliteRegistry) -> None:
        self._registry = registry

    async def create(self, call: Call) -> bool:
        """Store a new call; False if the call id is already taken in this app."""
        async with self._registry.transaction() as db:
            cursor = await db.execute(
                """INSERT OR IGNORE INTO calls (app_id, call_id, caller_id, caller_name,
                       callee_user_id, video, data, state, created_us, ring_until_us)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                (
                    call.app_id,
                    call.call_id,
                    call.caller_id,
                    call.caller_name,
                    call.callee_user_id,
                    int(call.video),
                    json.dumps(call.data),
                    call.state.value,
                    _us(call.created_at),
                    _us(call.ring_until),
                ),
            )
            return cursor.rowcount == 1

    async def get(self, app_id: str, call_id: str) -> Call | None:
        cursor = await self._registry.db.execute(
            "SELECT * FROM calls WHERE app_id = ? AND call_id = ?", (app_id, call_id)
        )
        row = await cursor.fetchone()
        return None if row is None else self._call(row)

    async def end(
        self,
        app_id: str,
        call_id: str,
        reason: EndReason,
        now: datetime,
        *,
        device_id: str | None = None,
        answered: bool = False,
    ) -> tuple[Call | None, bool]:
        """End a ringing call (or mark it answered); an already ended call is unchanged.

        Returns the call and whether this request changed it: of two devices answering
        at once, exactly one sees True.
        """
        state = CallState.ANSWERED if answered else CallState.ENDED
        async with self._registry.transaction() as db:
            cursor = await db.execute(
                """UPDATE calls SET state = ?, end_reason = ?, ended_by_device = ?,
                       ended_us = ?
                   WHERE app_id = ? AND call_id = ? AND state = 'ringing'""",
                (state.value, reason.value, device_id, _us(now), app_id, call_id),
            )
            changed = cursor.rowcount == 1
        return await self.get(app_id, call_id), changed

    async def overdue(self, now: datetime) -> list[Call]:
        """Ringing calls whose ring time is over (they end with ``timeout``)."""
        cursor = await self._registry.db.execute(
            "SELECT * FROM calls WHERE state = 'ringing' AND ring_until_us <= ?", (_us(now),)
        )
        return [self._call(row) for row in await cursor.fetchall()]

    def _call(self, row: Any) -> Call:
        return Call(
            app_id=row["app_id"],
            call_id=row["call_id"],
            caller_id=row["caller_id"],
            caller_name=row["caller_name"],
            callee_user_id=row["callee_user_id"],
            video=bool(row["video"]),
            state=CallState(row["state"]),
            created_at=_at(row["created_us"]),
            ring_until=_at(row["ring_until_us"]),
            data=json.loads(row["data"]),
            end_reason=EndReason(row["end_reason"]) if row["end_reason"] else None,
            ended_by_device=row["ended_by_device"],
            ended_at=_at(row["ended_us"]) if row["ended_us"] is not None else None,
        )
