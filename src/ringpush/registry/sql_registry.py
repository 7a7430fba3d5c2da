"""The registry in SQL: apps, devices and service keys, on SQLite or PostgreSQL.

One implementation for both engines (:mod:`ringpush.registry.database`); multi-statement
changes run in one transaction each, so two instances on one PostgreSQL database (or two
requests on one SQLite file) never see half a change.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ringpush.apns.environment import Environment
from ringpush.apns.push_type import PushType
from ringpush.platforms import Channel, PushKind, normalize_token, parse_channel, parse_kind
from ringpush.registry.access_tokens import SqlAccessTokens
from ringpush.registry.app_cache import APPS_CHANNEL
from ringpush.registry.call_listeners import SqlCallListeners
from ringpush.registry.database import Database, Dialect, Executor, Notifications
from ringpush.registry.database_errors import WriteHealth
from ringpush.registry.migrations import migrate, schema_version
from ringpush.registry.models import App, Device, Registration
from ringpush.registry.provider_tokens import SqlProviderTokens
from ringpush.registry.retention import SqlRetention
from ringpush.registry.sealing import SealingError, SecretBox
from ringpush.registry.sql_calls import SqlCalls
from ringpush.registry.sql_outbox import SqlOutbox
from ringpush.registry.store import MasterKeyMismatch, TokenHeldElsewhere, TooManyDevices
from ringpush.registry.timestamps import from_us, maybe_from_us, to_us

TOKEN = "device-token"
#: The context of an install credential's keyed hash.
INSTALL = "install-secret"
SIGNING_KEY = "signing-key"
CERTIFICATE = "certificate"
FCM_ACCOUNT = "fcm-service-account"
SERVICE_KEY = "service-key"
KEY_CHECK_CONTEXT = "key-check"
KEY_CHECK = b"ringpush master key check"


class SqlRegistry:
    def __init__(self, db: Database, box: SecretBox) -> None:
        self._db = db
        self._box = box
        self._outbox = SqlOutbox(db, box)
        self._calls = SqlCalls(db, self._outbox)
        self._provider_tokens = SqlProviderTokens(db, box)
        self._access_tokens = SqlAccessTokens(db, box)
        self._call_listeners = SqlCallListeners(db)
        self._retention = SqlRetention(db)

    @property
    def outbox(self) -> SqlOutbox:
        return self._outbox

    @property
    def calls(self) -> SqlCalls:
        return self._calls

    @property
    def retention(self) -> SqlRetention:
        return self._retention

    @property
    def call_listeners(self) -> SqlCallListeners:
        return self._call_listeners

    @property
    def notifications(self) -> Notifications:
        return self._db

    @property
    def provider_tokens(self) -> SqlProviderTokens:
        return self._provider_tokens

    @property
    def access_tokens(self) -> SqlAccessTokens:
        """FCM access tokens, one per service account for the whole deployment."""
        return self._access_tokens

    @property
    def box(self) -> SecretBox:
        return self._box

    @property
    def db(self) -> Database:
        return self._db

    @classmethod
    async def open(cls, db: Database, box: SecretBox) -> SqlRegistry:
        """The registry on ``db``, its schema brought up to date first; refuses a master
        key other than the one the database's secrets are sealed with."""
        await migrate(db)
        registry = cls(db, box)
        await registry._check_master_key()
        return registry

    async def _check_master_key(self) -> None:
        """Instances that disagree on the master key would each fail to open the
        other's tokens and user tokens; find out at start-up, not at the first call."""
        await self._db.execute(
            """INSERT INTO key_checks (name, sealed, lookup) VALUES ('master', ?, ?)
               ON CONFLICT (name) DO NOTHING""",
            (self._box.seal(KEY_CHECK, KEY_CHECK_CONTEXT), self._lookup_check()),
        )
        row = await self._db.fetchone("SELECT sealed, lookup FROM key_checks WHERE name = 'master'")
        assert row is not None
        advice = (
            "this database's secrets are sealed under another master key: give every"
            " instance the same RINGPUSH_SECRET_KEY (or the same key file)"
        )
        if row["lookup"] != self._lookup_check():
            raise MasterKeyMismatch(advice + " (the lookup key differs)")
        try:
            self._box.open(row["sealed"], KEY_CHECK_CONTEXT)
        except SealingError:
            raise MasterKeyMismatch(advice) from None

    def _lookup_check(self) -> str:
        return self._box.lookup_hash(KEY_CHECK, KEY_CHECK_CONTEXT)

    @classmethod
    async def open_sqlite(cls, path: str | Path, box: SecretBox) -> SqlRegistry:
        from ringpush.registry.sqlite_database import SqliteDatabase

        return await cls.open(await SqliteDatabase.open(path), box)

    async def close(self) -> None:
        await self._db.close()

    @property
    def write_health(self) -> WriteHealth:
        return self._db.write_health

    async def ping(self) -> None:
        await self._db.fetchone("SELECT 1")

    async def schema_version(self) -> int:
        return await schema_version(self._db)

    # -- apps -------------------------------------------------------------------------
    async def put_app(self, app: App) -> App:
        now = to_us(datetime.now(UTC))
        signing = self._box.seal(app.signing_key_pem, SIGNING_KEY) if app.signing_key_pem else None
        certificate = (
            self._box.seal(app.certificate_pem, CERTIFICATE) if app.certificate_pem else None
        )
        account = (
            self._box.seal(app.fcm_service_account, FCM_ACCOUNT)
            if app.fcm_service_account
            else None
        )
        async with self._db.transaction() as db:
            await db.execute(
                """INSERT INTO apps (app_id, bundle_id, team_id, key_id, default_environment,
                       signing_key_sealed, certificate_sealed, apns_base_url, ca_pem,
                       created_us, updated_us, apns_url_development, apns_url_production,
                       fcm_account_sealed, fcm_url, fcm_ca_pem)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                   ON CONFLICT (app_id) DO UPDATE SET
                       bundle_id = excluded.bundle_id, team_id = excluded.team_id,
                       key_id = excluded.key_id,
                       default_environment = excluded.default_environment,
                       signing_key_sealed = excluded.signing_key_sealed,
                       certificate_sealed = excluded.certificate_sealed,
                       apns_base_url = excluded.apns_base_url, ca_pem = excluded.ca_pem,
                       apns_url_development = excluded.apns_url_development,
                       apns_url_production = excluded.apns_url_production,
                       fcm_account_sealed = excluded.fcm_account_sealed,
                       fcm_url = excluded.fcm_url, fcm_ca_pem = excluded.fcm_ca_pem,
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
                    app.apns_url_development,
                    app.apns_url_production,
                    account,
                    app.fcm_url,
                    app.fcm_ca_pem,
                ),
            )
        await self._announce_app(app.app_id)
        stored = await self.get_app(app.app_id)
        assert stored is not None
        return stored

    async def _announce_app(self, app_id: str) -> None:
        """Every instance's cache forgets the app (its credentials or URL changed)."""
        await self._db.notify(APPS_CHANNEL, app_id)

    async def get_app(self, app_id: str) -> App | None:
        row = await self._db.fetchone("SELECT * FROM apps WHERE app_id = ?", (app_id,))
        return None if row is None else self._app(row)

    async def list_apps(self) -> list[App]:
        return [
            self._app(row) for row in await self._db.fetchall("SELECT * FROM apps ORDER BY app_id")
        ]

    async def delete_app(self, app_id: str) -> bool:
        """The app and everything of it: devices and service keys (cascade), its pushes
        (sent or not) and calls, so nothing of it is sent or shown once it is gone."""
        async with self._db.transaction() as db:
            deleted = await db.execute("DELETE FROM apps WHERE app_id = ?", (app_id,)) > 0
            if deleted:
                for table in ("outbox", "call_listeners", "calls"):
                    await db.execute(
                        f"DELETE FROM {table} WHERE app_id = ?",  # noqa: S608
                        (app_id,),
                    )
        if deleted:
            await self._announce_app(app_id)
        return deleted

    def _app(self, row: Any) -> App:
        signing = row["signing_key_sealed"]
        certificate = row["certificate_sealed"]
        account = row["fcm_account_sealed"]
        return App(
            app_id=row["app_id"],
            bundle_id=row["bundle_id"],
            team_id=row["team_id"],
            key_id=row["key_id"],
            default_environment=Environment(row["default_environment"]),
            signing_key_pem=self._box.open(signing, SIGNING_KEY) if signing else None,
            certificate_pem=self._box.open(certificate, CERTIFICATE) if certificate else None,
            apns_base_url=row["apns_base_url"],
            apns_url_development=row["apns_url_development"],
            apns_url_production=row["apns_url_production"],
            ca_pem=row["ca_pem"],
            created_at=maybe_from_us(row["created_us"]),
            updated_at=maybe_from_us(row["updated_us"]),
            user_tokens_not_before=maybe_from_us(row["user_tokens_not_before_us"]),
            fcm_service_account=self._box.open(account, FCM_ACCOUNT) if account else None,
            fcm_url=row["fcm_url"],
            fcm_ca_pem=row["fcm_ca_pem"],
        )

    # -- user tokens ------------------------------------------------------------------
    async def revoke_user_tokens(
        self, app_id: str, now: datetime, user_id: str | None = None
    ) -> bool:
        at = to_us(now)
        async with self._db.transaction() as db:
            if await db.fetchone("SELECT 1 FROM apps WHERE app_id = ?", (app_id,)) is None:
                return False
            if user_id is None:
                await db.execute(
                    "UPDATE apps SET user_tokens_not_before_us = ? WHERE app_id = ?",
                    (at, app_id),
                )
            else:
                await db.execute(
                    """INSERT INTO user_token_revocations (app_id, user_id, not_before_us)
                       VALUES (?, ?, ?)
                       ON CONFLICT (app_id, user_id) DO UPDATE
                           SET not_before_us = excluded.not_before_us""",
                    (app_id, user_id, at),
                )
        if user_id is None:  # every instance's app cache sees it within a second
            await self._announce_app(app_id)
        return True

    async def user_tokens_not_before(self, app_id: str, user_id: str) -> datetime | None:
        row = await self._db.fetchone(
            "SELECT not_before_us FROM user_token_revocations WHERE app_id = ? AND user_id = ?",
            (app_id, user_id),
        )
        return None if row is None else from_us(row[0])

    # -- service keys -----------------------------------------------------------------
    async def add_service_key(self, *, app_id: str, key: str, name: str) -> None:
        """Store a calling service's API key, as a keyed hash only."""
        async with self._db.transaction() as db:
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
        row = await self._db.fetchone(
            "SELECT app_id FROM service_keys WHERE key_hash = ?",
            (self._box.lookup_hash(key.encode(), SERVICE_KEY),),
        )
        return None if row is None else str(row[0])

    # -- devices ----------------------------------------------------------------------
    async def register_device(
        self,
        *,
        app_id: str,
        user_id: str,
        device_id: str,
        push_type: PushKind,
        token: str,
        environment: Channel,
        now: datetime,
        max_devices: int | None = None,
        install_secret: str | None = None,
    ) -> Registration:
        token = normalize_token(push_type, token)
        token_hash = self._box.lookup_hash(token.encode(), TOKEN)
        install = None
        if install_secret is not None:
            install = self._box.lookup_hash(install_secret.encode(), INSTALL)
        at = to_us(now)
        key = (app_id, user_id, device_id, push_type.value)
        async with self._db.transaction() as db:
            existing = await db.fetchone(
                """SELECT token_hash, created_us FROM devices
                   WHERE app_id = ? AND user_id = ? AND device_id = ? AND push_type = ?""",
                key,
            )
            if existing is None and max_devices is not None:
                if self._db.dialect is Dialect.POSTGRESQL:  # one new device of a user at a time
                    await db.execute(
                        "SELECT pg_advisory_xact_lock(hashtext(?))", (f"{app_id}/{user_id}",)
                    )
                await self._check_device_cap(db, app_id, user_id, device_id, max_devices)
            if existing is not None and existing["token_hash"] == token_hash:
                await db.execute(
                    """UPDATE devices SET last_seen_us = ?, environment = ?,
                           updated_us = CASE WHEN environment = ? THEN updated_us ELSE ? END,
                           install_hash = COALESCE(?, install_hash)
                       WHERE app_id = ? AND user_id = ? AND device_id = ? AND push_type = ?""",
                    (at, environment.value, environment.value, at, install, *key),
                )
                created = False
                moved: list[tuple[str, str]] = []
            else:
                holders = await db.fetchall(
                    """SELECT user_id, device_id, install_hash FROM devices
                       WHERE app_id = ? AND push_type = ? AND token_hash = ?""",
                    (app_id, push_type.value, token_hash),
                )
                # A phone changing hands re-registers from the same install; a stranger
                # who learnt the token has no way to prove that.
                if any(
                    r["user_id"] != user_id and (install is None or r["install_hash"] != install)
                    for r in holders
                ):
                    raise TokenHeldElsewhere()
                moved = [(r["user_id"], r["device_id"]) for r in holders]
                await db.execute(
                    "DELETE FROM devices WHERE app_id = ? AND push_type = ? AND token_hash = ?",
                    (app_id, push_type.value, token_hash),
                )
                created_us = existing["created_us"] if existing is not None else at
                await db.execute(
                    """INSERT INTO devices (app_id, user_id, device_id, push_type,
                           token_hash, token_sealed, environment, created_us, updated_us,
                           last_seen_us, install_hash)
                       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                       ON CONFLICT (app_id, user_id, device_id, push_type) DO UPDATE SET
                           token_hash = excluded.token_hash,
                           token_sealed = excluded.token_sealed,
                           install_hash = excluded.install_hash,
                           environment = excluded.environment,
                           created_us = excluded.created_us,
                           updated_us = excluded.updated_us,
                           last_seen_us = excluded.last_seen_us""",
                    (
                        *key,
                        token_hash,
                        self._box.seal(token.encode(), TOKEN),
                        environment.value,
                        created_us,
                        at,
                        at,
                        install,
                    ),
                )
                created = existing is None
            row = await db.fetchone(
                """SELECT * FROM devices
                   WHERE app_id = ? AND user_id = ? AND device_id = ? AND push_type = ?""",
                key,
            )
        assert row is not None
        return Registration(self._device(row), created, tuple(moved))

    @staticmethod
    async def _check_device_cap(
        db: Executor, app_id: str, user_id: str, device_id: str, limit: int
    ) -> None:
        """In the registration's transaction: on SQLite the one writer, on PostgreSQL
        after the user's advisory lock, so two new devices at once cannot both fit."""
        rows = await db.fetchall(
            "SELECT DISTINCT device_id FROM devices WHERE app_id = ? AND user_id = ?",
            (app_id, user_id),
        )
        known = {row[0] for row in rows}
        if device_id not in known and len(known) >= limit:
            raise TooManyDevices(user_id, limit)

    async def unregister_device(
        self, *, app_id: str, user_id: str, device_id: str, push_type: PushKind | None = None
    ) -> int:
        sql = "DELETE FROM devices WHERE app_id = ? AND user_id = ? AND device_id = ?"
        args: list[str] = [app_id, user_id, device_id]
        if push_type is not None:
            sql += " AND push_type = ?"
            args.append(push_type.value)
        async with self._db.transaction() as db:
            return await db.execute(sql, args)

    async def devices_of_user(
        self, app_id: str, user_id: str, push_type: PushKind | None = None
    ) -> list[Device]:
        sql = "SELECT * FROM devices WHERE app_id = ? AND user_id = ?"
        args: list[str] = [app_id, user_id]
        if push_type is not None:
            sql += " AND push_type = ?"
            args.append(push_type.value)
        return [
            self._device(row)
            for row in await self._db.fetchall(sql + " ORDER BY device_id, push_type", args)
        ]

    async def list_users(self, app_id: str) -> list[str]:
        return [
            row[0]
            for row in await self._db.fetchall(
                "SELECT DISTINCT user_id FROM devices WHERE app_id = ? ORDER BY user_id", (app_id,)
            )
        ]

    async def invalidate_token(
        self,
        *,
        app_id: str,
        token: str,
        invalid_since: datetime,
        reason: str,
        push_type: PushKind = PushType.VOIP,
    ) -> bool:
        token_hash = self._box.lookup_hash(normalize_token(push_type, token).encode(), TOKEN)
        async with self._db.transaction() as db:
            return (
                await db.execute(
                    """DELETE FROM devices WHERE app_id = ? AND token_hash = ?
                   AND last_seen_us <= ?""",
                    (app_id, token_hash, to_us(invalid_since)),
                )
                > 0
            )

    async def set_environment(self, *, app_id: str, token: str, environment: Environment) -> bool:
        token_hash = self._box.lookup_hash(normalize_token(PushType.VOIP, token).encode(), TOKEN)
        async with self._db.transaction() as db:
            return (
                await db.execute(
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
                > 0
            )

    async def reseal_all(self) -> int:
        """Rotation: seal every secret again under the current master key."""
        resealed = 0
        async with self._db.transaction() as db:
            rows = await db.fetchall(
                "SELECT app_id, user_id, device_id, push_type, token_sealed FROM devices"
            )
            for row in rows:
                plain = self._box.open(row["token_sealed"], TOKEN)
                await db.execute(
                    """UPDATE devices SET token_sealed = ?
                       WHERE app_id = ? AND user_id = ? AND device_id = ? AND push_type = ?""",
                    (
                        self._box.seal(plain, TOKEN),
                        row["app_id"],
                        row["user_id"],
                        row["device_id"],
                        row["push_type"],
                    ),
                )
                resealed += 1
            for row in await db.fetchall(
                "SELECT app_id, signing_key_sealed, certificate_sealed, fcm_account_sealed"
                " FROM apps"
            ):
                for column, context in (
                    ("signing_key_sealed", SIGNING_KEY),
                    ("certificate_sealed", CERTIFICATE),
                    ("fcm_account_sealed", FCM_ACCOUNT),
                ):
                    if row[column]:
                        plain = self._box.open(row[column], context)
                        await db.execute(
                            f"UPDATE apps SET {column} = ? WHERE app_id = ?",  # noqa: S608
                            (self._box.seal(plain, context), row["app_id"]),
                        )
                        resealed += 1
            await db.execute(
                "UPDATE key_checks SET sealed = ? WHERE name = 'master'",
                (self._box.seal(KEY_CHECK, KEY_CHECK_CONTEXT),),
            )
        return resealed + await self._provider_tokens.reseal() + await self._access_tokens.reseal()

    def _device(self, row: Any) -> Device:
        return Device(
            app_id=row["app_id"],
            user_id=row["user_id"],
            device_id=row["device_id"],
            push_type=parse_kind(row["push_type"]),
            token=self._box.open(row["token_sealed"], TOKEN).decode(),
            environment=parse_channel(row["environment"]),
            created_at=from_us(row["created_us"]),
            updated_at=from_us(row["updated_us"]),
            last_seen_at=from_us(row["last_seen_us"]),
        )
