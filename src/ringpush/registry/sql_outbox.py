"""The outbox in SQL: written before sending, claimed under a lease.

A push that was claimed by a sender that then died becomes due again once its lease runs
out, so a crash or restart loses nothing (at-least-once; the apns-id stays the same on
every attempt, so duplicates are recognisable).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from ringpush.apns.environment import Environment
from ringpush.apns.push_type import PushType
from ringpush.registry.database import Database, Dialect, Executor
from ringpush.registry.outbox_models import OutboxPush, PushState
from ringpush.registry.sealing import SecretBox
from ringpush.registry.timestamps import from_us, maybe_from_us, to_us

TOKEN = "device-token"


class SqlOutbox:
    def __init__(self, db: Database, box: SecretBox) -> None:
        self._db = db
        self._box = box
        # PostgreSQL: instances claiming at once skip each other's rows instead of
        # waiting for them or taking them twice.
        self._skip_locked = " FOR UPDATE SKIP LOCKED" if db.dialect is Dialect.POSTGRESQL else ""

    async def enqueue(self, pushes: Sequence[OutboxPush], db: Executor | None = None) -> None:
        """Store pending pushes; ``db`` is a transaction to add them to (a call's)."""
        box = self._box
        await (db or self._db).executemany(
            """INSERT INTO outbox (push_id, app_id, user_id, device_id, push_type,
                       environment, token_sealed, apns_id, priority, expiration, collapse_id,
                       payload, call_id, state, attempts, next_attempt_us, not_after_us,
                       created_us, updated_us)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?)""",
            [
                (
                    p.push_id,
                    p.app_id,
                    p.user_id,
                    p.device_id,
                    p.push_type.value,
                    p.environment.value,
                    box.seal(p.token.encode(), TOKEN),
                    p.apns_id,
                    p.priority,
                    p.expiration,
                    p.collapse_id,
                    p.payload,
                    p.call_id,
                    PushState.PENDING.value,
                    to_us(p.next_attempt_at),
                    to_us(p.not_after) if p.not_after else None,
                    to_us(p.created_at),
                    to_us(p.updated_at),
                )
                for p in pushes
            ],
        )

    async def claim_due(self, now: datetime, limit: int, lease: timedelta) -> list[OutboxPush]:
        """Take up to ``limit`` due pushes (and ones whose sender's lease ran out).

        One statement, so the rows chosen are the rows leased; on PostgreSQL the choice
        locks them and skips rows another instance is claiming at that moment, so each
        push is claimed by exactly one sender per attempt.
        """
        at = to_us(now)
        rows = await self._db.fetchall(
            f"""UPDATE outbox SET state = 'sending', lease_until_us = ?,
                    attempts = attempts + 1, updated_us = ?
                WHERE push_id IN (
                    SELECT push_id FROM outbox
                    WHERE (state = 'pending' AND next_attempt_us <= ?)
                       OR (state = 'sending' AND lease_until_us <= ?)
                    ORDER BY next_attempt_us LIMIT ?{self._skip_locked})
                RETURNING *""",  # noqa: S608
            (to_us(now + lease), at, at, at, limit),
        )
        pushes = [self._push(row) for row in rows]
        pushes.sort(key=lambda push: push.next_attempt_at)
        return pushes

    async def finish(
        self,
        push_id: str,
        state: PushState,
        now: datetime,
        *,
        status: int | None = None,
        reason: str | None = None,
    ) -> None:
        await self._db.execute(
            """UPDATE outbox SET state = ?, status = ?, reason = ?, updated_us = ?,
                       lease_until_us = NULL
                   WHERE push_id = ? AND state = 'sending'""",
            (state.value, status, reason, to_us(now), push_id),
        )

    async def retry_at(
        self,
        push_id: str,
        when: datetime,
        now: datetime,
        *,
        status: int | None = None,
        reason: str | None = None,
        environment: Environment | None = None,
    ) -> None:
        """Back to pending, due at ``when``; ``environment`` switches the APS environment
        (the BadDeviceToken retry), which is allowed once per push."""
        await self._db.execute(
            """UPDATE outbox SET state = 'pending', next_attempt_us = ?, status = ?,
                       reason = ?, updated_us = ?, lease_until_us = NULL,
                       environment = COALESCE(?, environment),
                       tried_other_environment =
                           CASE WHEN ? THEN 1 ELSE tried_other_environment END
                   WHERE push_id = ? AND state = 'sending'""",
            (
                to_us(when),
                status,
                reason,
                to_us(now),
                environment.value if environment else None,
                environment is not None,
                push_id,
            ),
        )

    async def release(self, push_ids: Sequence[str], now: datetime) -> int:
        """Hand back pushes this sender claimed but will not finish (it is stopping): due
        now, for any instance, instead of after the lease. Returns how many were still
        claimed."""
        if not push_ids:
            return 0
        placeholders = ", ".join("?" * len(push_ids))
        return await self._db.execute(
            f"""UPDATE outbox SET state = 'pending', next_attempt_us = ?, updated_us = ?,
                       lease_until_us = NULL
                   WHERE state = 'sending' AND push_id IN ({placeholders})""",  # noqa: S608
            (to_us(now), to_us(now), *push_ids),
        )

    async def withdraw_call(
        self, app_id: str, call_id: str, now: datetime, db: Executor | None = None
    ) -> int:
        """Withdraw the call's pushes not sent yet; returns how many."""
        return await (db or self._db).execute(
            """UPDATE outbox SET state = 'withdrawn', updated_us = ?
                   WHERE app_id = ? AND call_id = ? AND state = 'pending'""",
            (to_us(now), app_id, call_id),
        )

    async def get(self, push_id: str) -> OutboxPush | None:
        row = await self._db.fetchone("SELECT * FROM outbox WHERE push_id = ?", (push_id,))
        return None if row is None else self._push(row)

    async def query(
        self,
        *,
        app_id: str | None = None,
        call_id: str | None = None,
        user_id: str | None = None,
        device_id: str | None = None,
        apns_id: str | None = None,
        limit: int = 500,
    ) -> list[OutboxPush]:
        clauses: list[str] = []
        args: list[Any] = []
        for column, value in (
            ("app_id", app_id),
            ("call_id", call_id),
            ("user_id", user_id),
            ("device_id", device_id),
            ("apns_id", apns_id),
        ):
            if value is not None:
                clauses.append(f"{column} = ?")
                args.append(value)
        where = " WHERE " + " AND ".join(clauses) if clauses else ""
        return [
            self._push(row)
            for row in await self._db.fetchall(
                f"SELECT * FROM outbox{where} ORDER BY created_us LIMIT ?",  # noqa: S608
                (*args, limit),
            )
        ]

    async def depth(self) -> int:
        """Pushes not yet final: the queue depth."""
        row = await self._db.fetchone(
            "SELECT COUNT(*) FROM outbox WHERE state IN ('pending', 'sending')"
        )
        return int(row[0]) if row else 0

    def _push(self, row: Any) -> OutboxPush:
        return OutboxPush(
            push_id=row["push_id"],
            app_id=row["app_id"],
            user_id=row["user_id"],
            device_id=row["device_id"],
            push_type=PushType(row["push_type"]),
            environment=Environment(row["environment"]),
            token=self._box.open(row["token_sealed"], TOKEN).decode(),
            apns_id=row["apns_id"],
            payload=bytes(row["payload"]),
            state=PushState(row["state"]),
            next_attempt_at=from_us(row["next_attempt_us"]),
            created_at=from_us(row["created_us"]),
            updated_at=from_us(row["updated_us"]),
            priority=row["priority"],
            expiration=row["expiration"],
            collapse_id=row["collapse_id"],
            call_id=row["call_id"],
            attempts=row["attempts"],
            not_after=maybe_from_us(row["not_after_us"]),
            tried_other_environment=bool(row["tried_other_environment"]),
            status=row["status"],
            reason=row["reason"],
        )
