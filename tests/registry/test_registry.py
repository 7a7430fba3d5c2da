"""The registry on both backends (a real SQLite file, a real PostgreSQL database): apps,
devices, idempotency, the 410 rule, secrecy at rest."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from ringpush.apns.credentials import TokenCredentials, generate_signing_key
from ringpush.apns.environment import Environment
from ringpush.apns.jwt_signer import ProviderTokenSigner
from ringpush.apns.push_type import PushType
from ringpush.registry import App, Registry, SecretBox, SqlRegistry, open_registry
from ringpush.registry.migrations import LATEST_VERSION
from ringpush.registry.sqlite_database import SqliteDatabase
from ringpush.registry.store import MasterKeyMismatch, TokenHeldElsewhere

T0 = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
TOKEN_A = "a1" * 32
TOKEN_B = "b2" * 32


async def register(
    store: Registry,
    user: str,
    device: str,
    token: str,
    *,
    push_type: PushType = PushType.VOIP,
    at: datetime = T0,
    environment: Environment = Environment.DEVELOPMENT,
    install: str | None = None,
) -> tuple[bool, tuple[tuple[str, str], ...]]:
    result = await store.register_device(
        app_id="demo",
        user_id=user,
        device_id=device,
        push_type=push_type,
        token=token,
        environment=environment,
        now=at,
        install_secret=install,
    )
    return result.created, result.moved_from


async def raw_contents(url: str) -> bytes:
    """Everything the database holds, as stored: the SQLite file with its WAL/SHM files
    byte for byte, or every PostgreSQL row as text (bytea in hex)."""
    if url.startswith("sqlite:///"):
        path = Path(url[len("sqlite:///") :])
        files = [p for p in path.parent.iterdir() if p.name.startswith(path.name)]
        return b"".join(p.read_bytes() for p in files)
    connection = await asyncpg.connect(url)
    try:
        tables = await connection.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        )
        text: list[str] = []
        for table in tables:
            rows = await connection.fetch(f'SELECT t::text FROM "{table[0]}" t')  # noqa: S608
            text.extend(row[0] for row in rows)
        return "\n".join(text).encode()
    finally:
        await connection.close()


async def test_schema_is_migrated_once_and_reopens(database_url: str, box: SecretBox) -> None:
    first = await open_registry(database_url, box)
    assert await first.schema_version() == LATEST_VERSION
    await first.close()
    again = await open_registry(database_url, box)
    assert await again.schema_version() == LATEST_VERSION
    await again.close()


async def test_a_user_has_many_devices_and_push_types(registry: SqlRegistry) -> None:
    await register(registry, "bob", "phone", TOKEN_A)
    await register(registry, "bob", "phone", "c3" * 32, push_type=PushType.ALERT)
    await register(registry, "bob", "ipad", TOKEN_B)
    devices = await registry.devices_of_user("demo", "bob")
    assert {(d.device_id, d.push_type) for d in devices} == {
        ("ipad", PushType.VOIP),
        ("phone", PushType.ALERT),
        ("phone", PushType.VOIP),
    }
    voip = await registry.devices_of_user("demo", "bob", PushType.VOIP)
    assert {d.token for d in voip} == {TOKEN_A, TOKEN_B}
    assert await registry.list_users("demo") == ["bob"]


async def test_registering_the_same_token_again_is_idempotent(registry: SqlRegistry) -> None:
    assert await register(registry, "bob", "phone", TOKEN_A) == (True, ())
    later = T0 + timedelta(minutes=5)
    assert await register(registry, "bob", "phone", TOKEN_A.upper(), at=later) == (False, ())
    [device] = await registry.devices_of_user("demo", "bob")
    assert device.created_at == T0
    assert device.last_seen_at == later


INSTALL = "install-secret-of-bobs-phone-0123"


async def test_a_token_moving_to_another_user_from_its_install_moves_and_is_not_duplicated(
    registry: SqlRegistry,
) -> None:
    await register(registry, "bob", "phone", TOKEN_A, install=INSTALL)
    created, moved = await register(registry, "alice", "phone2", TOKEN_A, install=INSTALL)
    assert created
    assert moved == (("bob", "phone"),)
    assert await registry.devices_of_user("demo", "bob") == []
    [device] = await registry.devices_of_user("demo", "alice")
    assert device.token == TOKEN_A


@pytest.mark.parametrize("stranger", [None, "another-install-secret-0123456"])
async def test_another_users_token_does_not_move_without_its_install(
    registry: SqlRegistry, stranger: str | None
) -> None:
    await register(registry, "alice", "phone", TOKEN_A, install=INSTALL)
    await register(registry, "bob", "phone", TOKEN_B, install=stranger)
    with pytest.raises(TokenHeldElsewhere) as refused:
        await register(registry, "bob", "phone", TOKEN_A, install=stranger)
    assert "alice" not in str(refused.value)
    [alices] = await registry.devices_of_user("demo", "alice")
    assert alices.token == TOKEN_A  # alice still rings
    [bobs] = await registry.devices_of_user("demo", "bob")
    assert bobs.token == TOKEN_B  # and bob's own registration is untouched


async def test_a_token_registered_without_an_install_moves_only_within_its_user(
    registry: SqlRegistry,
) -> None:
    await register(registry, "alice", "phone", TOKEN_A)
    assert await register(registry, "alice", "ipad", TOKEN_A) == (True, (("alice", "phone"),))
    with pytest.raises(TokenHeldElsewhere):
        await register(registry, "bob", "phone", TOKEN_A, install=INSTALL)


async def test_a_token_apns_called_invalid_is_free_for_anyone(registry: SqlRegistry) -> None:
    await register(registry, "alice", "phone", TOKEN_A, install=INSTALL)
    assert await registry.invalidate_token(
        app_id="demo", token=TOKEN_A, invalid_since=T0 + timedelta(seconds=1), reason="Unregistered"
    )
    later = T0 + timedelta(seconds=2)
    assert await register(registry, "bob", "phone", TOKEN_A, at=later) == (True, ())


async def test_a_new_token_replaces_the_old_one_for_the_device(registry: SqlRegistry) -> None:
    await register(registry, "bob", "phone", TOKEN_A)
    assert await register(registry, "bob", "phone", TOKEN_B, at=T0 + timedelta(1)) == (False, ())
    [device] = await registry.devices_of_user("demo", "bob")
    assert device.token == TOKEN_B
    assert device.created_at == T0


async def test_410_removes_a_token_registered_before_the_timestamp(
    registry: SqlRegistry,
) -> None:
    await register(registry, "bob", "phone", TOKEN_A)
    removed = await registry.invalidate_token(
        app_id="demo", token=TOKEN_A, invalid_since=T0 + timedelta(seconds=1), reason="Unregistered"
    )
    assert removed
    assert await registry.devices_of_user("demo", "bob") == []


async def test_410_keeps_a_token_registered_again_after_the_timestamp(
    registry: SqlRegistry,
) -> None:
    await register(registry, "bob", "phone", TOKEN_A)
    await register(registry, "bob", "phone", TOKEN_A, at=T0 + timedelta(minutes=10))
    removed = await registry.invalidate_token(
        app_id="demo", token=TOKEN_A, invalid_since=T0 + timedelta(minutes=5), reason="Unregistered"
    )
    assert not removed
    assert len(await registry.devices_of_user("demo", "bob")) == 1


async def test_environment_can_be_corrected(registry: SqlRegistry) -> None:
    await register(registry, "bob", "phone", TOKEN_A)
    assert await registry.set_environment(
        app_id="demo", token=TOKEN_A, environment=Environment.PRODUCTION
    )
    [device] = await registry.devices_of_user("demo", "bob")
    assert device.environment is Environment.PRODUCTION


async def test_unregister_removes_only_that_device(registry: SqlRegistry) -> None:
    await register(registry, "bob", "phone", TOKEN_A)
    await register(registry, "bob", "ipad", TOKEN_B)
    removed = await registry.unregister_device(app_id="demo", user_id="bob", device_id="phone")
    assert removed == 1
    assert [d.device_id for d in await registry.devices_of_user("demo", "bob")] == ["ipad"]


async def test_deleting_an_app_deletes_its_devices(registry: SqlRegistry) -> None:
    await register(registry, "bob", "phone", TOKEN_A)
    assert await registry.delete_app("demo")
    assert await registry.get_app("demo") is None
    assert await registry.devices_of_user("demo", "bob") == []


async def test_the_database_holds_no_token_and_no_key(database_url: str, box: SecretBox) -> None:
    """Read the database raw: neither the token nor the signing key is in it."""
    key = generate_signing_key()
    store = await open_registry(database_url, box)
    await store.put_app(
        App(
            "demo",
            "com.example.app",
            key.team_id,
            key.key_id,
            Environment.PRODUCTION,
            signing_key_pem=key.pem,
        )
    )
    await register(store, "bob", "phone", TOKEN_A)
    app = await store.get_app("demo")
    assert app is not None
    assert app.signing_key_pem == key.pem
    credentials = TokenCredentials.from_pem(key.pem, key.key_id, key.team_id)
    jwt = await store.provider_tokens.exchange(
        credentials, ProviderTokenSigner(credentials, shared=True).choose
    )
    await store.close()
    raw = await raw_contents(database_url)
    assert jwt.header.split(b".")[1] not in raw  # the provider token's claims
    assert TOKEN_A.encode() not in raw
    assert bytes.fromhex(TOKEN_A) not in raw
    assert b"PRIVATE KEY" not in raw
    assert b"PRIVATE KEY".hex().encode() not in raw
    body = b"".join(key.pem.splitlines()[1:-1])
    assert body[:40] not in raw
    assert body[:40].hex().encode() not in raw
    assert b"com.example.app" in raw  # the file is readable: the check above can fail


async def test_rotation_reseals_everything_under_the_new_key(
    database_url: str, box: SecretBox
) -> None:
    store = await open_registry(database_url, box)
    await store.put_app(App("demo", "b", None, None, Environment.DEVELOPMENT))
    await register(store, "bob", "phone", TOKEN_A)
    await store.close()
    rotated = SecretBox({"k1": b"\x07" * 32, "k2": b"\x09" * 32}, "k2", lookup="k1")
    store = await open_registry(database_url, rotated)
    assert await store.reseal_all() == 1
    await store.close()
    store = await open_registry(database_url, rotated)
    [device] = await store.devices_of_user("demo", "bob")
    assert device.token == TOKEN_A
    for row in await store.db.fetchall("SELECT token_sealed FROM devices"):
        assert rotated.key_id_of(row[0]) == "k2"
    [check] = await store.db.fetchall("SELECT sealed FROM key_checks")
    assert rotated.key_id_of(check[0]) == "k2"
    await store.close()


async def test_an_instance_with_another_master_key_is_refused_at_start(
    database_url: str, box: SecretBox
) -> None:
    """Two instances with different master keys would fail on each other's rows at the
    first call; the second one is refused when it opens the database instead."""
    first = await open_registry(database_url, box)
    await first.close()
    stranger = SecretBox({"k1": b"\x08" * 32}, "k1")
    with pytest.raises(MasterKeyMismatch, match="same RINGPUSH_SECRET_KEY"):
        await open_registry(database_url, stranger)
    other_lookup = SecretBox({"k1": b"\x07" * 32, "k2": b"\x09" * 32}, "k2", lookup="k2")
    with pytest.raises(MasterKeyMismatch, match="lookup key differs"):
        await open_registry(database_url, other_lookup)
    again = await open_registry(database_url, box)  # the right key still opens it
    await again.close()


async def test_instances_starting_together_migrate_the_database_once(
    database_url: str, box: SecretBox
) -> None:
    """A fresh database and three instances starting at once: each waits its turn (an
    advisory lock on PostgreSQL, BEGIN IMMEDIATE on SQLite), none fails."""
    stores = await asyncio.gather(*(open_registry(database_url, box) for _ in range(3)))
    try:
        for store in stores:
            assert await store.schema_version() == LATEST_VERSION
        rows = await stores[0].db.fetchall("SELECT version FROM schema_version")
        assert sorted(row[0] for row in rows) == list(range(1, LATEST_VERSION + 1))
    finally:
        for store in stores:
            await store.close()


async def test_processes_opening_a_new_sqlite_file_at_once_all_succeed(tmp_path: Path) -> None:
    """Switching a new file to WAL can fail at once with "database is locked" when
    several connections try together (SQLite skips the busy wait where it could
    deadlock); before the retry, 6 openers of a fresh file failed about 2 times in 100."""
    for round_ in range(20):
        path = tmp_path / f"fresh-{round_}.db"
        opened = await asyncio.gather(
            *(SqliteDatabase.open(path) for _ in range(6)), return_exceptions=True
        )
        failures = [result for result in opened if isinstance(result, BaseException)]
        for result in opened:
            if isinstance(result, SqliteDatabase):
                await result.close()
        assert failures == []


async def test_migration_11_splits_a_combined_apns_url(database_url: str, box: SecretBox) -> None:
    """Apps stored with the old ``development=URL,production=URL`` string get one URL per
    environment; a plain URL stays the one for both."""
    from ringpush.registry.connect import open_database
    from ringpush.registry.migrations import migrate

    db = await open_database(database_url)
    try:
        assert await migrate(db, upto=10) == 10
        for app_id, url in (
            ("split", "development=https://dev.example:2197,production=https://prod.example"),
            ("plain", "https://both.example:2197"),
        ):
            await db.execute(
                """INSERT INTO apps (app_id, bundle_id, default_environment, apns_base_url,
                       created_us, updated_us) VALUES (?, 'com.x', 'production', ?, 0, 0)""",
                (app_id, url),
            )
    finally:
        await db.close()
    registry = await open_registry(database_url, box)
    try:
        split = await registry.get_app("split")
        plain = await registry.get_app("plain")
    finally:
        await registry.close()
    assert split is not None and plain is not None
    assert split.apns_base_url is None
    assert split.apns_url_for(Environment.DEVELOPMENT) == "https://dev.example:2197"
    assert split.apns_url_for(Environment.PRODUCTION) == "https://prod.example"
    assert plain.apns_url_for(Environment.DEVELOPMENT) == "https://both.example:2197"
    assert plain.apns_url_for(Environment.PRODUCTION) == "https://both.example:2197"


async def test_migration_13_keeps_every_device_and_drops_the_user_index(
    database_url: str, box: SecretBox
) -> None:
    """Devices registered before the devices table is clustered by user are all there
    after it, found by user and by token, and the redundant index is gone."""
    from ringpush.apns.device_token import normalize_device_token
    from ringpush.registry.connect import open_database
    from ringpush.registry.migrations import migrate
    from ringpush.registry.sql_registry import TOKEN

    tokens = {(f"u{n % 3}", f"d{n}"): f"{n:064x}" for n in range(9)}
    db = await open_database(database_url)
    try:
        assert await migrate(db, upto=12) == 12
        await db.execute(
            """INSERT INTO apps (app_id, bundle_id, default_environment, created_us,
                   updated_us) VALUES ('a', 'com.x', 'production', 0, 0)"""
        )
        for (user, device), token in tokens.items():
            await db.execute(
                """INSERT INTO devices (app_id, user_id, device_id, push_type, token_hash,
                       token_sealed, environment, created_us, updated_us, last_seen_us)
                   VALUES ('a', ?, ?, 'voip', ?, ?, 'production', 1, 1, 1)""",
                (
                    user,
                    device,
                    box.lookup_hash(normalize_device_token(token).encode(), TOKEN),
                    box.seal(token.encode(), TOKEN),
                ),
            )
    finally:
        await db.close()
    registry = await open_registry(database_url, box)
    try:
        for user in ("u0", "u1", "u2"):
            found = await registry.devices_of_user("a", user)
            assert {(d.user_id, d.device_id): d.token for d in found} == {
                key: token for key, token in tokens.items() if key[0] == user
            }
        # The unique token index still holds: the same token moves, never duplicates.
        moved = await registry.register_device(
            app_id="a",
            user_id="u0",
            device_id="d9",
            push_type=PushType.VOIP,
            token=tokens[("u0", "d0")],
            environment=Environment.PRODUCTION,
            now=datetime.now(UTC),
        )
        assert moved is not None
        assert [d.device_id for d in await registry.devices_of_user("a", "u0")] == [
            "d3",
            "d6",
            "d9",
        ]
        indexes = await registry.db.fetchall(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'devices'"
            if database_url.startswith("postgres")
            else "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'devices'"
        )
        assert "devices_by_user" not in {row[0] for row in indexes}
    finally:
        await registry.close()
