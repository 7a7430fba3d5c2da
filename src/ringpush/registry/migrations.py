"""Versioned schema migrations, applied in order at start-up, each once.

Each migration is a list of statements; ``schema_version`` records the last one applied.
New versions are appended, never edited, so a database of any age can be brought up to
date. Both engines follow the same numbering from the same statements: they are written
for SQLite and :func:`for_dialect` maps the two column types that differ (``BLOB`` and
``INTEGER``, which PostgreSQL spells ``BYTEA`` and ``BIGINT`` for our microsecond
timestamps). Instances starting at once on one PostgreSQL database take turns: the
migration holds an advisory lock for its transaction.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from ringpush.registry.database import Database, Dialect, Executor

#: A step written in Python, for a change SQL cannot say the same way on both engines.
Step = Callable[[Executor, Dialect], Awaitable[None]]


async def _split_apns_urls(db: Executor, dialect: Dialect) -> None:
    """``development=URL,production=URL`` in ``apns_base_url`` becomes the two columns."""
    for row in await db.fetchall(
        "SELECT app_id, apns_base_url FROM apps WHERE apns_base_url LIKE '%=%'"
    ):
        urls = dict(
            part.split("=", 1) for part in str(row["apns_base_url"]).split(",") if "=" in part
        )
        await db.execute(
            """UPDATE apps SET apns_base_url = NULL, apns_url_development = ?,
                   apns_url_production = ? WHERE app_id = ?""",
            (urls.get("development"), urls.get("production"), row["app_id"]),
        )


async def _devices_clustered_by_user(db: Executor, dialect: Dialect) -> None:
    """A user's devices stored together, in the order of the primary key.

    A call reads all of its callee's devices. In a rowid table that is a seek in an index
    and then one more B-tree walk per device; a ``WITHOUT ROWID`` table (SQLite) is the
    primary key's B-tree, so the seek finds the rows themselves, side by side. Both
    engines drop ``devices_by_user``: the primary key (app_id, user_id, …) already
    answers every lookup it served, and each registration paid for keeping it.
    """
    await db.execute("DROP INDEX devices_by_user")
    if dialect is not Dialect.SQLITE:
        return
    # The table as it stands, its rows kept in its primary key's B-tree.
    row = await db.fetchone(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'devices'"
    )
    assert row is not None
    definition = str(row[0]).replace("CREATE TABLE devices", "CREATE TABLE devices_clustered", 1)
    await db.execute(definition + " WITHOUT ROWID")
    await db.execute("INSERT INTO devices_clustered SELECT * FROM devices")
    await db.execute("DROP TABLE devices")
    await db.execute("ALTER TABLE devices_clustered RENAME TO devices")
    await db.execute(
        "CREATE UNIQUE INDEX devices_by_token ON devices (app_id, push_type, token_hash)"
    )


#: Any fixed number: the advisory lock ringpush's migrations hold on PostgreSQL.
MIGRATION_LOCK = 0x72696E67

MIGRATIONS: list[tuple[int, str, list[str | Step]]] = [
    (
        1,
        "apps and devices",
        [
            """CREATE TABLE apps (
                app_id TEXT PRIMARY KEY,
                bundle_id TEXT NOT NULL,
                team_id TEXT,
                key_id TEXT,
                default_environment TEXT NOT NULL,
                signing_key_sealed BLOB,
                certificate_sealed BLOB,
                apns_base_url TEXT,
                ca_pem BLOB,
                created_us INTEGER NOT NULL,
                updated_us INTEGER NOT NULL
            )""",
            """CREATE TABLE devices (
                app_id TEXT NOT NULL REFERENCES apps(app_id) ON DELETE CASCADE,
                user_id TEXT NOT NULL,
                device_id TEXT NOT NULL,
                push_type TEXT NOT NULL,
                token_hash TEXT NOT NULL,
                token_sealed BLOB NOT NULL,
                environment TEXT NOT NULL,
                created_us INTEGER NOT NULL,
                updated_us INTEGER NOT NULL,
                last_seen_us INTEGER NOT NULL,
                invalidated_us INTEGER,
                invalid_reason TEXT,
                PRIMARY KEY (app_id, user_id, device_id, push_type)
            )""",
            "CREATE UNIQUE INDEX devices_by_token ON devices (app_id, push_type, token_hash)",
            "CREATE INDEX devices_by_user ON devices (app_id, user_id)",
        ],
    ),
    (
        2,
        "service API keys",
        [
            """CREATE TABLE service_keys (
                key_hash TEXT PRIMARY KEY,
                app_id TEXT NOT NULL REFERENCES apps(app_id) ON DELETE CASCADE,
                name TEXT NOT NULL,
                created_us INTEGER NOT NULL
            )""",
        ],
    ),
    (
        3,
        "outbox: every push is written before it is sent",
        [
            """CREATE TABLE outbox (
                push_id TEXT PRIMARY KEY,
                app_id TEXT NOT NULL,
                user_id TEXT NOT NULL,
                device_id TEXT NOT NULL,
                push_type TEXT NOT NULL,
                environment TEXT NOT NULL,
                token_sealed BLOB NOT NULL,
                apns_id TEXT NOT NULL,
                priority INTEGER,
                expiration INTEGER,
                collapse_id TEXT,
                payload BLOB NOT NULL,
                call_id TEXT,
                state TEXT NOT NULL,
                attempts INTEGER NOT NULL DEFAULT 0,
                next_attempt_us INTEGER NOT NULL,
                not_after_us INTEGER,
                lease_until_us INTEGER,
                tried_other_environment INTEGER NOT NULL DEFAULT 0,
                status INTEGER,
                reason TEXT,
                created_us INTEGER NOT NULL,
                updated_us INTEGER NOT NULL
            )""",
            "CREATE INDEX outbox_due ON outbox (state, next_attempt_us)",
            "CREATE INDEX outbox_by_call ON outbox (call_id)",
            "CREATE INDEX outbox_by_apns_id ON outbox (apns_id)",
            "CREATE INDEX outbox_by_user ON outbox (app_id, user_id)",
        ],
    ),
    (
        4,
        "calls",
        [
            """CREATE TABLE calls (
                app_id TEXT NOT NULL,
                call_id TEXT NOT NULL,
                caller_id TEXT NOT NULL,
                caller_name TEXT NOT NULL,
                callee_user_id TEXT NOT NULL,
                video INTEGER NOT NULL,
                data TEXT NOT NULL,
                state TEXT NOT NULL,
                end_reason TEXT,
                ended_by_device TEXT,
                created_us INTEGER NOT NULL,
                ring_until_us INTEGER NOT NULL,
                ended_us INTEGER,
                PRIMARY KEY (app_id, call_id)
            )""",
        ],
    ),
    (
        5,
        "one provider token per signing key for every instance",
        [
            """CREATE TABLE provider_tokens (
                team_id TEXT NOT NULL,
                key_id TEXT NOT NULL,
                key_fingerprint TEXT NOT NULL,
                token_sealed BLOB,
                issued_s INTEGER,
                PRIMARY KEY (team_id, key_id, key_fingerprint)
            )""",
        ],
    ),
    (
        6,
        "which devices follow a call's events, on which instance",
        [
            """CREATE TABLE call_listeners (
                app_id TEXT NOT NULL,
                call_id TEXT NOT NULL,
                device_id TEXT NOT NULL,
                instance_id TEXT NOT NULL,
                until_us INTEGER NOT NULL,
                PRIMARY KEY (app_id, call_id, device_id, instance_id)
            )""",
            "CREATE INDEX call_listeners_by_instance ON call_listeners (instance_id)",
        ],
    ),
    (
        7,
        "a value sealed under the deployment's master key, to refuse a different one",
        [
            """CREATE TABLE key_checks (
                name TEXT PRIMARY KEY,
                sealed BLOB NOT NULL,
                lookup TEXT NOT NULL
            )""",
        ],
    ),
    (
        8,
        "partial indexes for what every instance polls: unfinished pushes, ringing calls",
        [
            """CREATE INDEX outbox_unfinished ON outbox (next_attempt_us)
               WHERE state IN ('pending', 'sending')""",
            """CREATE INDEX calls_ringing ON calls (ring_until_us)
               WHERE state = 'ringing'""",
        ],
    ),
    (
        9,
        "partial indexes for the retention sweep: finished pushes, ended calls",
        [
            """CREATE INDEX outbox_finished ON outbox (updated_us)
               WHERE state NOT IN ('pending', 'sending')""",
            """CREATE INDEX calls_ended ON calls (ended_us)
               WHERE state <> 'ringing'""",
        ],
    ),
    (
        10,
        "delivery lanes: urgency classes, one due time for pending and leased pushes",
        [
            "ALTER TABLE outbox ADD COLUMN urgency INTEGER NOT NULL DEFAULT 2",
            "UPDATE outbox SET urgency = 0 WHERE push_type = 'voip'",
            """UPDATE outbox SET urgency = 1
               WHERE push_type <> 'voip' AND collapse_id LIKE 'call-%'""",
            # A leased push is due again when its lease runs out: one column says when
            # any unfinished push may be claimed, so claiming is one index range.
            """UPDATE outbox SET next_attempt_us = lease_until_us
               WHERE state = 'sending' AND lease_until_us IS NOT NULL""",
            """CREATE INDEX outbox_claim ON outbox (urgency, next_attempt_us, app_id, environment)
               WHERE state IN ('pending', 'sending')""",
        ],
    ),
    (
        11,
        "an APNs URL per environment, in place of one 'development=…,production=…' string",
        [
            "ALTER TABLE apps ADD COLUMN apns_url_development TEXT",
            "ALTER TABLE apps ADD COLUMN apns_url_production TEXT",
            _split_apns_urls,
        ],
    ),
    (
        12,
        "claims per lane: a lane's unfinished pushes of one class together, oldest first",
        [
            # Nothing reads these any more (claims go over outbox_claim and outbox_lane),
            # and every claim and outcome paid for keeping them up to date.
            "DROP INDEX outbox_due",
            "DROP INDEX outbox_unfinished",
            # Claiming bulk for the lanes with room, and finding the lanes with due bulk,
            # are seeks on this index, however many pushes another lane has queued (a claim
            # over outbox_claim that left a big backlog out scanned the whole backlog).
            """CREATE INDEX outbox_lane ON outbox (urgency, app_id, environment, next_attempt_us)
               WHERE state IN ('pending', 'sending')""",
        ],
    ),
    (
        13,
        "a user's devices together: one seek reads them all",
        [_devices_clustered_by_user],
    ),
    (
        14,
        "the install that registered a token: only it may move the token to another user",
        # A keyed hash of the install's credential (never the credential); NULL for
        # tokens registered without one, which no other user may take over.
        ["ALTER TABLE devices ADD COLUMN install_hash TEXT"],
    ),
    (
        15,
        "revoked user tokens: every token of an app, or of one user, minted before a time",
        [
            "ALTER TABLE apps ADD COLUMN user_tokens_not_before_us INTEGER",
            """CREATE TABLE user_token_revocations (
                app_id TEXT NOT NULL REFERENCES apps(app_id) ON DELETE CASCADE,
                user_id TEXT NOT NULL,
                not_before_us INTEGER NOT NULL,
                PRIMARY KEY (app_id, user_id)
            )""",
        ],
    ),
    (
        16,
        "no invalid marks on devices: a token APNs calls invalid is deleted, never marked",
        [
            "ALTER TABLE devices DROP COLUMN invalidated_us",
            "ALTER TABLE devices DROP COLUMN invalid_reason",
        ],
    ),
    (
        17,
        "FCM credentials beside APNs ones: a sealed service account, an endpoint and its CA",
        [
            "ALTER TABLE apps ADD COLUMN fcm_account_sealed BLOB",
            "ALTER TABLE apps ADD COLUMN fcm_url TEXT",
            "ALTER TABLE apps ADD COLUMN fcm_ca_pem BLOB",
        ],
    ),
    (
        18,
        "the FCM access token of each service account, shared by every instance",
        [
            """CREATE TABLE fcm_access_tokens (
                account TEXT NOT NULL,
                key_fingerprint TEXT NOT NULL,
                token_sealed BLOB NOT NULL,
                obtained_s DOUBLE PRECISION NOT NULL,
                expires_s DOUBLE PRECISION NOT NULL,
                PRIMARY KEY (account, key_fingerprint)
            )""",
        ],
    ),
]

LATEST_VERSION = MIGRATIONS[-1][0]


def for_dialect(statement: str, dialect: Dialect) -> str:
    if dialect is Dialect.POSTGRESQL:
        statement = re.sub(r"\bBLOB\b", "BYTEA", statement)
        statement = re.sub(r"\bINTEGER\b", "BIGINT", statement)
    return statement


async def migrate(database: Database, *, upto: int | None = None) -> int:
    """Apply every migration the database lacks (up to ``upto``, for tests of a
    migration), all in one transaction; returns the version it is at afterwards."""
    async with database.transaction() as db:
        if database.dialect is Dialect.POSTGRESQL:
            # Another instance may be migrating a large database: wait for it, however
            # long (the pool's lock timeout is for requests, not for this).
            await db.execute("SET LOCAL lock_timeout = 0")
            await db.execute("SELECT pg_advisory_xact_lock(?)", (MIGRATION_LOCK,))
        await db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER)")
        row = await db.fetchone("SELECT MAX(version) FROM schema_version")
        current = int(row[0]) if row and row[0] is not None else 0
        for version, _name, statements in MIGRATIONS:
            if version <= current or (upto is not None and version > upto):
                continue
            for statement in statements:
                if isinstance(statement, str):
                    await db.execute(for_dialect(statement, database.dialect))
                else:
                    await statement(db, database.dialect)
            await db.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))
            current = version
    return current


async def schema_version(database: Database) -> int:
    row = await database.fetchone("SELECT MAX(version) FROM schema_version")
    return int(row[0]) if row and row[0] is not None else 0
