"""The outbox in SQL: written before sending, claimed under a lease.

A push that was claimed by a sender that then died becomes due again once its lease runs
out, so a crash or restart loses nothing (at-least-once; the apns-id stays the same on
every attempt, so duplicates are recognisable). ``next_attempt_us`` is when an unfinished
push may next be claimed: for a pending push its due time, for a leased one the end of
its lease. Claims take one urgency class at a time, oldest due first: of every lane over
the ``outbox_claim`` index (calls, which must not wait for a lane to be named), or of one
lane over ``outbox_lane`` (bulk, claimed for each lane as far as it has room; the lanes
with due pushes are found by one seek per lane, :meth:`SqlOutbox.due_lanes`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from ringpush.platforms import Channel, parse_channel, parse_kind
from ringpush.registry.database import Database, Dialect, Executor
from ringpush.registry.outbox_models import OutboxPush, PushState, Urgency
from ringpush.registry.sealing import SecretBox
from ringpush.registry.timestamps import from_us, maybe_from_us, to_us

TOKEN = "device-token"

_FINISH = """UPDATE outbox SET state = ?, status = ?, reason = ?, updated_us = ?,
                   lease_until_us = NULL
               WHERE push_id = ? AND state = 'sending'"""
#: Outcomes written by one statement at most: a write holds SQLite's one writer, and a
#: call being stored waits for the statement under way (``bench/lanes.py``).
FINISH_CHUNK = 32


class SqlOutbox:
    def __init__(self, db: Database, box: SecretBox) -> None:
        self._db = db
        self._box = box
        # PostgreSQL: instances claiming at once skip each other's rows instead of
        # waiting for them or taking them twice.
        self._skip_locked = " FOR UPDATE SKIP LOCKED" if db.dialect is Dialect.POSTGRESQL else ""
        #: Outcomes waiting to be written, and the task writing them (group commit).
        self._finishing: list[tuple[tuple[Any, ...], asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def enqueue(
        self,
        pushes: Sequence[OutboxPush],
        db: Executor | None = None,
        *,
        claimed_until: datetime | None = None,
    ) -> None:
        """Store pending pushes; ``db`` is a transaction to add them to (a call's).

        With ``claimed_until`` they are stored already claimed by the caller (leased until
        then, first attempt counted): a sender that hands them to its own lanes at once
        skips the claim, and if it dies they come back when the lease runs out.
        """
        box = self._box
        claimed = claimed_until is not None
        state = (PushState.SENDING if claimed else PushState.PENDING).value
        lease = to_us(claimed_until) if claimed_until is not None else None
        await (db or self._db).executemany(
            """INSERT INTO outbox (push_id, app_id, user_id, device_id, push_type,
                       environment, token_sealed, apns_id, priority, expiration, collapse_id,
                       payload, call_id, state, attempts, next_attempt_us, lease_until_us,
                       not_after_us, created_us, updated_us, urgency)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
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
                    state,
                    int(claimed),
                    lease if lease is not None else to_us(p.next_attempt_at),
                    lease,
                    to_us(p.not_after) if p.not_after else None,
                    to_us(p.created_at),
                    to_us(p.updated_at),
                    int(p.urgency),
                )
                for p in pushes
            ],
        )

    async def claim_due(
        self,
        now: datetime,
        limit: int,
        lease: timedelta,
        *,
        urgency: Urgency | None = None,
        skip_lanes: Sequence[tuple[str, Channel]] = (),
        lane: tuple[str, Channel] | None = None,
    ) -> list[OutboxPush]:
        """Take up to ``limit`` due pushes of one urgency class (every class, most urgent
        first, when None), pending ones and ones whose sender's lease ran out, leaving
        out the pushes of ``skip_lanes`` ((app, environment) pairs), or only those of
        ``lane``.

        One statement per class, so the rows chosen are the rows leased; on PostgreSQL
        the choice locks them and skips rows another instance is claiming at that
        moment, so each push is claimed by exactly one sender per attempt.
        """
        classes = list(Urgency) if urgency is None else [urgency]
        claimed: list[OutboxPush] = []
        for level in classes:
            if len(claimed) >= limit:
                break
            claimed.extend(
                await self._claim(now, limit - len(claimed), lease, level, skip_lanes, lane)
            )
        return claimed

    async def due_lanes(self, urgency: Urgency, now: datetime) -> list[tuple[str, Channel]]:
        """The lanes holding pushes of ``urgency`` due at ``now``.

        A loose index scan: one seek on ``outbox_lane`` per app and one per lane with
        unfinished pushes of the class, each to the lane's earliest, so the cost follows
        the number of lanes, not of the pushes queued in them. (Single-column ranges
        only: SQLite walks a row-value range ``(app_id, environment) > (?, ?)`` through
        every row of the lane it starts in.)
        """
        at = to_us(now)
        due: list[tuple[str, Channel]] = []
        first = """SELECT app_id, environment, next_attempt_us FROM outbox
                   WHERE state IN ('pending', 'sending') AND urgency = ?"""
        order = " ORDER BY app_id, environment, next_attempt_us LIMIT 1"
        row = await self._db.fetchone(first + order, (int(urgency),))
        while row is not None:
            app_id = row[0]
            while row is not None:  # the app's lanes
                if row[2] <= at:
                    due.append((app_id, parse_channel(row[1])))
                row = await self._db.fetchone(
                    first + " AND app_id = ? AND environment > ?" + order,
                    (int(urgency), app_id, row[1]),
                )
            row = await self._db.fetchone(first + " AND app_id > ?" + order, (int(urgency), app_id))
        return due

    async def _claim(
        self,
        now: datetime,
        limit: int,
        lease: timedelta,
        urgency: Urgency,
        skip_lanes: Sequence[tuple[str, Channel]],
        lane: tuple[str, Channel] | None,
    ) -> list[OutboxPush]:
        at, until = to_us(now), to_us(now + lease)
        skip = " AND NOT (app_id = ? AND environment = ?)" * len(skip_lanes)
        skipped = [value for app_id, env in skip_lanes for value in (app_id, env.value)]
        if lane is not None:
            skip += " AND app_id = ? AND environment = ?"
            skipped += [lane[0], lane[1].value]
        rows = await self._db.fetchall(
            f"""UPDATE outbox SET state = 'sending', lease_until_us = ?, next_attempt_us = ?,
                    attempts = attempts + 1, updated_us = ?
                WHERE push_id IN (
                    SELECT push_id FROM outbox
                    WHERE state IN ('pending', 'sending') AND urgency = ?
                      AND next_attempt_us <= ?{skip}
                    ORDER BY next_attempt_us LIMIT ?{self._skip_locked})
                RETURNING *""",  # noqa: S608
            (until, until, at, int(urgency), at, *skipped, limit),
        )
        pushes = [self._push(row) for row in rows]
        pushes.sort(key=lambda push: push.created_at)
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
        """Record a push's final state; returns once it is written.

        Outcomes arriving while one write is under way are written together by the next
        (one statement for many rows): under load, answers come faster than one write
        each could keep up with on SQLite's single connection.
        """
        future = asyncio.get_running_loop().create_future()
        self._finishing.append(((state.value, status, reason, to_us(now), push_id), future))
        if self._writer is None:
            self._writer = asyncio.get_running_loop().create_task(self._write_finished())
        await future

    async def _write_finished(self) -> None:
        try:
            while self._finishing:
                batch = self._finishing[:FINISH_CHUNK]
                del self._finishing[:FINISH_CHUNK]
                rows = [row for row, _ in batch]

                async def write(db: Executor, rows: list[tuple[Any, ...]] = rows) -> None:
                    await db.executemany(_FINISH, rows)

                try:
                    # In the same commit as calls being stored meanwhile, if any.
                    await self._db.grouped(write)
                except Exception as exc:
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                else:
                    for _, future in batch:
                        if not future.done():
                            future.set_result(None)
        finally:
            self._writer = None

    async def retry_at(
        self,
        push_id: str,
        when: datetime,
        now: datetime,
        *,
        status: int | None = None,
        reason: str | None = None,
        environment: Channel | None = None,
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

    async def defer(self, push_ids: Sequence[str], until: datetime, now: datetime) -> int:
        """Claimed pushes this sender will not try now (their lane's endpoint is down):
        pending again, due at ``until``, and the claim not counted as an attempt."""
        if not push_ids:
            return 0
        placeholders = ", ".join("?" * len(push_ids))
        return await self._db.execute(
            f"""UPDATE outbox SET state = 'pending', next_attempt_us = ?, updated_us = ?,
                       lease_until_us = NULL, attempts = attempts - 1
                   WHERE state = 'sending' AND push_id IN ({placeholders})""",  # noqa: S608
            (to_us(until), to_us(now), *push_ids),
        )

    async def defer_lane(
        self, app_id: str, environment: Channel, until: datetime, now: datetime
    ) -> int:
        """Every pending push of a lane due before ``until`` is due at ``until`` (its
        endpoint is down: claiming them now would only hand them back)."""
        at = to_us(until)
        return await self._db.execute(
            """UPDATE outbox SET next_attempt_us = ?, updated_us = ?
                   WHERE state IN ('pending', 'sending') AND next_attempt_us < ?
                     AND app_id = ? AND environment = ? AND state = 'pending'""",
            (at, to_us(now), at, app_id, environment.value),
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

    async def get_many(self, push_ids: Sequence[str]) -> list[OutboxPush]:
        """The rows of ``push_ids`` that exist, in one query, in the order given."""
        if not push_ids:
            return []
        placeholders = ", ".join("?" * len(push_ids))
        rows = await self._db.fetchall(
            f"SELECT * FROM outbox WHERE push_id IN ({placeholders})",  # noqa: S608
            tuple(push_ids),
        )
        found = {push.push_id: push for push in map(self._push, rows)}
        return [found[push_id] for push_id in push_ids if push_id in found]

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
        """The newest ``limit`` pushes that match, oldest first."""
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
                f"SELECT * FROM (SELECT * FROM outbox{where} ORDER BY created_us DESC"  # noqa: S608
                " LIMIT ?) AS newest ORDER BY created_us",
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
            push_type=parse_kind(row["push_type"]),
            environment=parse_channel(row["environment"]),
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
            urgency=Urgency(row["urgency"]),
        )
