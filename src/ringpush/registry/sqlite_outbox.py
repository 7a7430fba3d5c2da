"""The outbox in the SQLite file: written before sending, claimed under a lease.

A push that was claimed by a sender that then died becomes due again once its lease runs
out, so a crash or restart loses nothing (at-least-once; the apns-id stays the same on
every attempt, so duplicates are recognisable).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from ringpush.apns.environment import Environment
from ringpush.apns.push_type import PushType
from ringpush.registry.outbox_models import OutboxPush, PushState

if TYPE_CHECKING:
    from ringpush.registry.sqlite import SqliteRegistry

TOKEN = "device-token"


def _us(moment: datetime) -> int:
    return int(moment.timestamp() * 1_000_000)


class SqliteOutbox:
    def __init__(self, registry: SqliteRegistry) -> None:
        self._registry = registry

    async def enqueue(self, pushes: Sequence[OutboxPush]) -> None:
        box = self._registry.box
        async with self._registry.transaction() as db:
            await db.executemany(
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
                        _us(p.next_attempt_at),
                        _us(p.not_after) if p.not_after else None,
                        _us(p.created_at),
                        _us(p.updated_at),
                    )
                    for p in pushes
                ],
            )

    async def claim_due(self, now: datetime, limit: int, lease: timedelta) -> list[OutboxPush]:
        """Take up to ``limit`` due pushes (and ones whose sender's lease ran out)."""
        at = _us(now)
        async with self._registry.transaction() as db:
            cursor = await db.execute(
                """SELECT push_id FROM outbox
                   WHERE (state = 'pending' AND next_attempt_us <= ?)
                      OR (state = 'sending' AND lease_until_us <= ?)
                   ORDER BY next_attempt_us LIMIT ?""",
                (at, at, limit),
            )
            ids = [row[0] for row in await cursor.fetchall()]
            if not ids:
                return []
            marks = ",".join("?" * len(ids))
            await db.execute(
                f"""UPDATE outbox SET state = 'sending', lease_until_us = ?,
                        attempts = attempts + 1, updated_us = ?
                    WHERE push_id IN ({marks})""",  # noqa: S608
                (_us(now + lease), at, *ids),
            )
            cursor = await db.execute(
                f"SELECT * FROM outbox WHERE push_id IN ({marks}) ORDER BY next_attempt_us",  # noqa: S608
                ids,
            )
            return [self._push(row) for row in await cursor.fetchall()]

    async def finish(
        self,
        push_id: str,
        state: PushState,
        now: datetime,
        *,
        status: int | None = None,
        reason: str | None = None,
    ) -> None:
        async with self._registry.transaction() as db:
            await db.execute(
                """UPDATE outbox SET state = ?, status = ?, reason = ?, updated_us = ?,
                       lease_until_us = NULL
                   WHERE push_id = ? AND state = 'sending'""",
                (state.value, status, reason, _us(now), push_id),
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
        async with self._registry.transaction() as db:
            await db.execute(
                """UPDATE outbox SET state = 'pending', next_attempt_us = ?, status = ?,
                       reason = ?, updated_us = ?, lease_until_us = NULL,
                       environment = COALESCE(?, environment),
                       tried_other_environment = tried_other_environment OR ?
                   WHERE push_id = ? AND state = 'sending'""",
                (
                    _us(when),
                    status,
                    reason,
                    _us(now),
                    environment.value if environment else None,
                    environment is not None,
                    push_id,
                ),
            )

    async def withdraw_call(self, app_id: str, call_id: str, now: datetime) -> int:
        """Withdraw the call's pushes not sent yet; returns how many."""
        async with self._registry.transaction() as db:
            cursor = await db.execute(
                """UPDATE outbox SET state = 'withdrawn', updated_us = ?
                   WHERE app_id = ? AND call_id = ? AND state = 'pending'""",
                (_us(now), app_id, call_id),
            )
            return cursor.rowcount

    async def get(self, push_id: str) -> OutboxPush | None:
        cursor = await self._registry.db.execute(
            "SELECT * FROM outbox WHERE push_id = ?", (push_id,)
        )
        row = await cursor.fetchone()
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
        cursor = await self._registry.db.execute(
            f"SELECT * FROM outbox{where} ORDER BY created_us LIMIT ?",  # noqa: S608
            (*args, limit),
        )
        return [self._push(row) for row in await cursor.fetchall()]

    async def depth(self) -> int:
        """Pushes not yet final: the queue depth."""
        cursor = await self._registry.db.execute(
            "SELECT COUNT(*) FROM outbox WHERE state IN ('pending', 'sending')"
        )
        row = await cursor.fetchone()
        return int(row[0]) if row else 0

    def _push(self, row: Any) -> OutboxPush:
        def at(value: int | None) -> datetime | None:
            return None if value is None else _from_us(value)

        return OutboxPush(
            push_id=row["push_id"],
            app_id=row["app_id"],
            user_id=row["user_id"],
            device_id=row["device_id"],
            push_type=PushType(row["push_type"]),
            environment=Environment(row["environment"]),
            token=self._registry.box.open(row["token_sealed"], TOKEN).decode(),
            apns_id=row["apns_id"],
            payload=bytes(row["payload"]),
            state=PushState(row["state"]),
            next_attempt_at=_from_us(row["next_attempt_us"]),
            created_at=_from_us(row["created_us"]),
            updated_at=_from_us(row["updated_us"]),
            priority=row["priority"],
            expiration=row["expiration"],
            collapse_id=row["collapse_id"],
            call_id=row["call_id"],
            attempts=row["attempts"],
            not_after=at(row["not_after_us"]),
            tried_other_environment=bool(row["tried_other_environment"]),
            status=row["status"],
            reason=row["reason"],
        )


def _from_us(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1_000_000, tz=UTC)
