"""Calls in SQL: the call's state is the one truth every instance agrees on; ending it is
one conditional UPDATE, so of two ends racing (on any instances) exactly one changes it."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from ringpush.registry.call_models import Call, CallEnding, CallState, EndReason
from ringpush.registry.database import Database, Executor
from ringpush.registry.outbox_models import OutboxPush
from ringpush.registry.sql_outbox import SqlOutbox
from ringpush.registry.timestamps import from_us, maybe_from_us, to_us


class SqlCalls:
    def __init__(self, db: Database, outbox: SqlOutbox) -> None:
        self._db = db
        self._outbox = outbox

    async def create(
        self,
        call: Call,
        pushes: Sequence[OutboxPush] = (),
        *,
        claimed_until: datetime | None = None,
    ) -> bool:
        """Store a new call with the pushes that ring it, in one transaction: an instance
        dying half-way leaves neither, never a ringing call that rings nothing. False
        (and nothing stored) if the call id is already taken in this app. With
        ``claimed_until`` the pushes are stored claimed by the caller (see
        :meth:`SqlOutbox.enqueue`)."""

        async def store(db: Executor) -> bool:
            if not await self._insert(db, call):
                return False
            if pushes:
                await self._outbox.enqueue(pushes, db, claimed_until=claimed_until)
            return True

        # Calls arriving together share one commit (one disk flush on SQLite).
        return await self._db.grouped(store, urgent=True)

    async def _insert(self, db: Executor, call: Call) -> bool:
        inserted = await db.execute(
            """INSERT INTO calls (app_id, call_id, caller_id, caller_name,
                       callee_user_id, video, data, state, created_us, ring_until_us)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                   ON CONFLICT (app_id, call_id) DO NOTHING""",
            (
                call.app_id,
                call.call_id,
                call.caller_id,
                call.caller_name,
                call.callee_user_id,
                int(call.video),
                json.dumps(call.data),
                call.state.value,
                to_us(call.created_at),
                to_us(call.ring_until),
            ),
        )
        return inserted == 1

    async def get(self, app_id: str, call_id: str) -> Call | None:
        row = await self._db.fetchone(
            "SELECT * FROM calls WHERE app_id = ? AND call_id = ?", (app_id, call_id)
        )
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
        then_send: Sequence[OutboxPush] = (),
    ) -> CallEnding:
        """End a ringing call (or mark it answered); an already ended call is unchanged.

        In one transaction with the change: the call's unsent pushes are withdrawn and
        ``then_send`` (the end-of-call pushes) is queued, so an instance dying half-way
        never leaves an ended call whose VoIP push still goes out, nor one whose other
        devices are never told. Of two requests ending it at once, exactly one changes it.
        """
        state = CallState.ANSWERED if answered else CallState.ENDED
        withdrawn = 0
        async with self._db.transaction() as db:
            updated = await db.execute(
                """UPDATE calls SET state = ?, end_reason = ?, ended_by_device = ?,
                       ended_us = ?
                   WHERE app_id = ? AND call_id = ? AND state = 'ringing'""",
                (state.value, reason.value, device_id, to_us(now), app_id, call_id),
            )
            if updated == 1:
                withdrawn = await self._outbox.withdraw_call(app_id, call_id, now, db)
                if then_send:
                    await self._outbox.enqueue(then_send, db)
        return CallEnding(await self.get(app_id, call_id), updated == 1, withdrawn)

    async def overdue(self, now: datetime) -> list[Call]:
        """Ringing calls whose ring time is over (they end with ``timeout``)."""
        return [
            self._call(row)
            for row in await self._db.fetchall(
                "SELECT * FROM calls WHERE state = 'ringing' AND ring_until_us <= ?", (to_us(now),)
            )
        ]

    def _call(self, row: Any) -> Call:
        return Call(
            app_id=row["app_id"],
            call_id=row["call_id"],
            caller_id=row["caller_id"],
            caller_name=row["caller_name"],
            callee_user_id=row["callee_user_id"],
            video=bool(row["video"]),
            state=CallState(row["state"]),
            created_at=from_us(row["created_us"]),
            ring_until=from_us(row["ring_until_us"]),
            data=json.loads(row["data"]),
            end_reason=EndReason(row["end_reason"]) if row["end_reason"] else None,
            ended_by_device=row["ended_by_device"],
            ended_at=maybe_from_us(row["ended_us"]),
        )
