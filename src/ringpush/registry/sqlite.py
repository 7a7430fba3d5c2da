"""The SQLite registry: one file, WAL mode, the default backend.

Every multi-statement change runs in one ``BEGIN IMMEDIATE`` transaction behind an
asyncio lock, so concurrent requests on the one connection never interleave.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiosqlite

from ringpush.apns.device_token import normalize_device_token
from ringpush.apns.environment import Environment
from ringpush.apns.push_type import PushType
from ringpush.registry.migrations import MIGRATIONS
from ringpush.registry.models import App, Device, Registration
from ringpush.registry.sealing import SecretBox
from ringpush.registry.sqlite_calls import SqliteCalls
from ringpush.registry.sqlite_outbox import SqliteOutbox

TOKEN = "device-token"
SIGNING_KEY = "signing-key"
CERTIFICATE = "certificate"
SERVICE_KEY = "service-key"


def to_us(moment: datetime) -> int:
    return int(moment.timestamp() * 1_000_000)


def from_us(value: int | None) -> datetime | None:
    if value is None:
        return None
    return datetime.fromtimestamp(value / 1_000_000, tz=UTC)


def _at(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1_000_000, tz=UTC)


class SqliteRegistry:
    def __init__(self, db: aiosqlite.Connection, box: SecretBox) -> None:
        self._db = db
        self._box = box
        self._lock = asyncio.Lock()
        self.outbox = SqliteOutbox(self)
        self.calls = SqliteCalls(self)

    @property
    def box(self) -> SecretBox:
        return self._box

    @property
    def db(self) -> aiosqlite.Connection:
        return self._db

    @classmethod
    async def open(cls, path: str | Path, box: SecretBox) -> SqliteRegistry:
        db = await aiosqlite.connect(str(path), isolation_level=None)
        db.row_factory = aiosqlite.Row
        await db.execute("PRAGMA journal_mode=WAL")
        await db.execute("PRAGMA foreign_keys=ON")
        await db.execute("PRAGMA busy_timeout=5000")
        registry = cls(db, box)
        await registry._migrate()
        return registry

    async def close(self) -> None:
        await self._db.close()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        async with self._lock:
            await self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                await self._db.execute("ROLLBACK")
                raise
            await self._db.execute("COMMIT")

    async def _migrate(self) -> None:
        async with self.transaction() as db:
            await db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER)")
            row = await (await db.execute("SELECT MAX(version) FROM schema_version")).fetchone()
            current = row[0] if row and row[0] is not None else 0
            for version, _name, statements in MIGRATIONS:
                if version <= current:
                    continue
                for statement in statements:
                    await db.execute(statement)
                await db.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))

    async def schema_version(self) -> int:
        cursor = await self._db.execute("SELECT MAX(version) FROM schema_version")
        row = await cursor.fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    # -- apps -------------------------------------------------------------------------
    async def put_app(self, app: App) -> App:
        now = to_us(datetime.now(UTC))
        signing = self._box.seal(app.signing_key_pem, SIGNING_KEY) if app.signing_key_pem else None
        certificate = (
            self._box.seal(app.certificate_pem, CERTIFICATE) if app.certificate_pem else None
        )
        async with self.transaction() as db:
            await db.execute(
                """INSERT INTO apps (app_id, bundle_id, team_id, key_id, default_environment,
                       signing_key_sealed, certificate_sealed, apns_base_url, ca_pem,
                       created_us, updated_us)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                   ON CONFLICT (app_id) DO UPDATE SET
                       bundle_id = excluded.bundle_id, team_id = excluded.team_id,
                       key_id = excluded.key_id,
                       default_environment = excluded.default_environment,
                       signing_key_sealed = excluded.signing_key_sealed,
                       certificate_sealed = excluded.certificate_sealed,
                       apns_base_url = excluded.apns_base_url, ca_pem = excluded.ca_pem,
                       updated_us = excluded.updated_us""",
                (
                    app.app_id,
                    app.bundle_id,
                    app.team_id,
                    app.key_id,
                    app.default_environment.value,
                    signing,
                    certificate,
                    app.apns_base_url,
                    app.ca_pem,
                    now,
                    now,
                ),
            )
        stored = await self.get_app(app.app_id)
        assert stored is not None
        return stored

    async def get_app(self, app_id: str) -> App | None:
        cursor = await self._db.execute("SELECT * FROM apps WHERE app_id = ?", (app_id,))
        row = await cursor.fetchone()
        return None if row is None else self._app(row)

    async def list_apps(self) -> list[App]:
        cursor = await self._db.execute("SELECT * FROM apps ORDER BY app_id")
        return [self._app(row) for row in await cursor.fetchall()]

    async def delete_app(self, app_id: str) -> bool:
        async with self.transaction() as db:
            cursor = await db.execute("DELETE FROM apps WHERE app_id = ?", (app_id,))
            return cursor.rowcount > 0

    def _app(self, row: Any) -> App:
        signing = row["signing_key_sealed"]
        certificate = row["certificate_sealed"]
        return App(
            app_id=row["app_id"],
            bundle_id=row["bundle_id"],
            team_id=row["team_id"],
            key_id=row["key_id"],
            default_environment=Environment(row["default_environment"]),
            signing_key_pem=self._box.open(signing, SIGNING_KEY) if signing else None,
            certificate_pem=self._box.open(certificate, CERTIFICATE) if certificate else None,
            apns_base_url=row["apns_base_url"],
            ca_pem=row["ca_pem"],
            created_at=from_us(row["created_us"]),
            updated_at=from_us(row["updated_us"]),
        )

    # -- service keys -----------------------------------------------------------------
    async def add_service_key(self, *, app_id: str, key: str, name: str) -> None:
        """Store a calling service's API key, as a keyed hash only."""
        async with self.transaction() as db:
            await db.execute(
                "INSERT INTO service_keys (key_hash, app_id, name, created_us) VALUES (?, ?, ?, ?)",
                (
                    self._box.lookup_hash(key.encode(), SERVICE_KEY),
                    app_id,
                    name,
                    to_us(datetime.now(UTC)),
                ),
            )

    async def app_of_service_key(self, key: str) -> str | None:
        cursor = await self._db.execute(
            "SELECT app_id FROM service_keys WHERE key_hash = ?",
            (self._box.lookup_hash(key.encode(), SERVICE_KEY),),
        )
        row = await cursor.fetchone()
        return None if row is None else str(row[0])

    # -- devices ----------------------------------------------------------------------
    async def register_device(
        self,
        *,
        app_id: str,
        user_id: str,
        device_id: str,
        push_type: PushType,
        token: str,
        environment: Environment,
        now: datetime,
    ) -> Registration:
        token = normalize_device_token(token)
        token_hash = self._box.lookup_hash(token.encode(), TOKEN)
        at = to_us(now)
        key = (app_id, user_id, device_id, push_type.value)
        async with self.transaction() as db:
            cursor = await db.execute(
                """SELECT token_hash, created_us FROM devices
                   WHERE app_id = ? AND user_id = ? AND device_id = ? AND push_type = ?""",
                key,
            )
            existing = await cursor.fetchone()
            if existing is not None and existing["token_hash"] == token_hash:
                await db.execute(
                    """UPDATE devices SET last_seen_us = ?, environment = ?,
                           updated_us = CASE WHEN environment = ? THEN updated_us ELSE ? END,
                           invalidated_us = NULL, invalid_reason = NULL
                       WHERE app_id = ? AND user_id = ? AND device_id = ? AND push_type = ?""",
                    (at, environment.value, environment.value, at, *key),
                )
                created = False
                moved: list[tuple[str, str]] = []
            else:
                cursor = await db.execute(
                    """SELECT user_id, device_id FROM devices
                       WHERE app_id = ? AND push_type = ? AND token_hash = ?""",
                    (app_id, push_type.value, token_hash),
                )
                moved = [(r["user_id"], r["device_id"]) for r in await cursor.fetchall()]
                await db.execute(
                    "DELETE FROM devices WHERE app_id = ? AND push_type = ? AND token_hash = ?",
                    (app_id, push_type.value, token_hash),
                )
                created_us = existing["created_us"] if existing is not None else at
                await db.execute(
                    """INSERT OR REPLACE INTO devices (app_id, user_id, device_id, push_type,
                           token_hash, token_sealed, environment, created_us, updated_us,
                           last_seen_us, invalidated_us, invalid_reason)
                       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL)""",
                    (
                        *key,
                        token_hash,
                        self._box.seal(token.encode(), TOKEN),
                        environment.value,
                        created_us,
                        at,
                        at,
                    ),
                )
                created = existing is None
            cursor = await db.execute(
                """SELECT * FROM devices
                   WHERE app_id = ? AND user_id = ? AND device_id = ? AND push_type = ?""",
                key,
            )
            row = await cursor.fetchone()
        assert row is not None
        return Registration(self._device(row), created, tuple(moved))

    async def unregister_device(
        self, *, app_id: str, user_id: str, device_id: str, push_type: PushType | None = None
    ) -> int:
        sql = "DELETE FROM devices WHERE app_id = ? AND user_id = ? AND device_id = ?"
        args: list[str] = [app_id, user_id, device_id]
        if push_type is not None:
            sql += " AND push_type = ?"
            args.append(push_type.value)
        async with self.transaction() as db:
            cursor = await db.execute(sql, args)
            return cursor.rowcount

    async def devices_of_user(
        self, app_id: str, user_id: str, push_type: PushType | None = None
    ) -> list[Device]:
        sql = "SELECT * FROM devices WHERE app_id = ? AND user_id = ?"
        args: list[str] = [app_id, user_id]
        if push_type is not None:
            sql += " AND push_type = ?"
            args.append(push_type.value)
        cursor = await self._db.execute(sql + " ORDER BY device_id, push_type", args)
        return [self._device(row) for row in await cursor.fetchall()]

    async def list_users(self, app_id: str) -> list[str]:
        cursor = await self._db.execute(
            "SELECT DISTINCT user_id FROM devices WHERE app_id = ? ORDER BY user_id", (app_id,)
        )
        return [row[0] for row in await cursor.fetchall()]

    async def invalidate_token(
        self, *, app_id: str, token: str, invalid_since: datetime, reason: str
    ) -> bool:
        token_hash = self._box.lookup_hash(normalize_device_token(token).encode(), TOKEN)
        async with self.transaction() as db:
            cursor = await db.execute(
                """DELETE FROM devices WHERE app_id = ? AND token_hash = ?
                   AND last_seen_us <= ?""",
                (app_id, token_hash, to_us(invalid_since)),
            )
            return cursor.rowcount > 0

    async def set_environment(self, *, app_id: str, token: str, environment: Environment) -> bool:
        token_hash = self._box.lookup_hash(normalize_device_token(token).encode(), TOKEN)
        async with self.transaction() as db:
            cursor = await db.execute(
                """UPDATE devices SET environment = ?, updated_us = ?
                   WHERE app_id = ? AND token_hash = ? AND environment != ?""",
                (
                    environment.value,
                    to_us(datetime.now(UTC)),
                    app_id,
                    token_hash,
                    environment.value,
                ),
            )
            return cursor.rowcount > 0

    async def reseal_all(self) -> int:
        """Rotation: seal every secret again under the current master key."""
        resealed = 0
        async with self.transaction() as db:
            cursor = await db.execute("SELECT rowid, token_sealed FROM devices")
            for row in await cursor.fetchall():
                plain = self._box.open(row["token_sealed"], TOKEN)
                await db.execute(
                    "UPDATE devices SET token_sealed = ? WHERE rowid = ?",
                    (self._box.seal(plain, TOKEN), row["rowid"]),
                )
                resealed += 1
            cursor = await db.execute(
                "SELECT app_id, signing_key_sealed, certificate_sealed FROM apps"
            )
            for row in await cursor.fetchall():
                for column, context in (
                    ("signing_key_sealed", SIGNING_KEY),
                    ("certificate_sealed", CERTIFICATE),
                ):
                    if row[column]:
                        plain = self._box.open(row[column], context)
                        await db.execute(
                            f"UPDATE apps SET {column} = ? WHERE app_id = ?",  # noqa: S608
                            (self._box.seal(plain, context), row["app_id"]),
                        )
                        resealed += 1
        return resealed

    def _device(self, row: Any) -> Device:
        return Device(
            app_id=row["app_id"],
            user_id=row["user_id"],
            device_id=row["device_id"],
            push_type=PushType(row["push_type"]),
            token=self._box.open(row["token_sealed"], TOKEN).decode(),
            environment=Environment(row["environment"]),
            created_at=_at(row["created_us"]),
            updated_at=_at(row["updated_us"]),
            last_seen_at=_at(row["last_seen_us"]),
            invalidated_at=from_us(row["invalidated_us"]),
            invalid_reason=row["invalid_reason"],
        )
