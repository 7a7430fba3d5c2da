"""A database that cannot take a write (locked by another process, full, read-only) is
DatabaseUnavailable naming why, on both engines, with nothing of the write done, and the
registry works again once the trouble ends; errors that are bugs stay what they are.

Every fault here is real: a second connection holding the write lock, SQLite's own page
limit, a read-only connection, PostgreSQL sessions. (Disk-full and read-only file
systems under a running server: ``bench/database_faults.py``.)
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest

from ringpush.apns.environment import Environment
from ringpush.apns.push_type import PushType
from ringpush.registry import App, SecretBox, SqlRegistry, open_registry
from ringpush.registry.database_errors import trouble_of
from ringpush.registry.store import DatabaseUnavailable, Trouble

T0 = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
TOKEN = "a1" * 32


async def register(store: SqlRegistry, device: str) -> None:
    await store.register_device(
        app_id="demo",
        user_id="bob",
        device_id=device,
        push_type=PushType.VOIP,
        token=f"{len(device):02x}" * 32,
        environment=Environment.DEVELOPMENT,
        now=T0,
    )


@contextlib.asynccontextmanager
async def write_lock_held(database_url: str) -> AsyncIterator[None]:
    """Another process's long write: SQLite's write lock, or PostgreSQL table locks on
    what a registration writes (reads go on, writes wait)."""
    if database_url.startswith("sqlite:///"):
        other = sqlite3.connect(database_url[len("sqlite:///") :], isolation_level=None)
        other.execute("BEGIN EXCLUSIVE")
        try:
            yield
        finally:
            other.execute("COMMIT")
            other.close()
        return
    session = await asyncpg.connect(database_url)
    try:
        await session.execute("BEGIN")
        await session.execute("LOCK TABLE devices IN EXCLUSIVE MODE")
        yield
        await session.execute("COMMIT")
    finally:
        await session.close()


async def test_a_write_meeting_another_process_s_lock_is_unavailable_then_works(
    registry: SqlRegistry, database_url: str
) -> None:
    await register(registry, "phone")
    async with write_lock_held(database_url):
        with pytest.raises(DatabaseUnavailable) as refused:
            await register(registry, "ipad")  # waits out the busy or lock timeout (5 s)
        assert refused.value.trouble is Trouble.LOCKED
        assert "locked" in str(refused.value)
        assert registry.write_health.trouble is Trouble.LOCKED
        # Reads go on meanwhile.
        assert [d.device_id for d in await registry.devices_of_user("demo", "bob")] == ["phone"]
    await register(registry, "ipad")
    assert registry.write_health.trouble is None
    devices = await registry.devices_of_user("demo", "bob")
    assert [d.device_id for d in devices] == ["ipad", "phone"]


async def test_a_read_only_postgresql_is_unavailable_and_a_writable_one_works_again(
    postgres_url: str,
) -> None:
    store = await open_registry(postgres_url, SecretBox({"k1": b"\x07" * 32}, "k1"))
    admin = await asyncpg.connect(postgres_url)
    try:
        await store.put_app(
            App("demo", "com.example.app", "TEAM123456", "KEY1234567", Environment.DEVELOPMENT)
        )
        # As a standby after a failover would be: the server says every transaction is
        # read-only, sessions already open included.
        await admin.execute("ALTER SYSTEM SET default_transaction_read_only = on")
        await admin.execute("SELECT pg_reload_conf()")
        await until_reloaded(admin, "on")
        try:
            with pytest.raises(DatabaseUnavailable) as refused:
                await register(store, "phone")
            assert refused.value.trouble is Trouble.READ_ONLY
            assert store.write_health.trouble is Trouble.READ_ONLY
        finally:
            await admin.execute("ALTER SYSTEM RESET default_transaction_read_only")
            await admin.execute("SELECT pg_reload_conf()")
            await until_reloaded(admin, "off")
        await register(store, "phone")
        assert store.write_health.trouble is None
        assert len(await store.devices_of_user("demo", "bob")) == 1
    finally:
        await admin.close()
        await store.close()


async def until_reloaded(admin: asyncpg.Connection, value: str) -> None:
    """Until the server's sessions have had the reload signal: the postmaster signals
    them all at once, and each applies the new default before its next statement."""
    for _ in range(100):
        if await admin.fetchval("SHOW default_transaction_read_only") == value:
            await asyncio.sleep(0.2)  # the other sessions' signals, sent in the same loop
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"default_transaction_read_only never became {value}")


@pytest.fixture
async def postgres_url(postgres: object) -> AsyncIterator[str]:
    from tests.conftest import create_database, drop_database
    from tests.postgres_server import PostgresServer

    assert isinstance(postgres, PostgresServer)
    url = await create_database(postgres)
    try:
        yield url
    finally:
        await drop_database(postgres, url)


def test_sqlite_s_own_errors_are_told_apart(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    first = sqlite3.connect(path, isolation_level=None, timeout=0)
    first.execute("CREATE TABLE t (x INTEGER PRIMARY KEY, y BLOB)")
    second = sqlite3.connect(path, isolation_level=None, timeout=0)
    first.execute("BEGIN EXCLUSIVE")
    with pytest.raises(sqlite3.OperationalError) as busy:
        second.execute("INSERT INTO t (y) VALUES (x'00')")
    first.execute("COMMIT")
    kinds = {"busy": busy.value}
    first.execute("PRAGMA max_page_count = 3")  # the file may not grow: SQLite's "full"
    with pytest.raises(sqlite3.OperationalError) as full:
        first.execute("INSERT INTO t (y) VALUES (?)", (b"\0" * 100_000,))
    kinds["full"] = full.value
    reader = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
    with pytest.raises(sqlite3.OperationalError) as read_only:
        reader.execute("INSERT INTO t (y) VALUES (x'00')")
    kinds["read_only"] = read_only.value
    first.execute("INSERT INTO t (x) VALUES (1)")
    with pytest.raises(sqlite3.IntegrityError) as constraint:
        first.execute("INSERT INTO t (x) VALUES (1)")
    with pytest.raises(sqlite3.OperationalError) as bad_sql:
        first.execute("SELECT nope FROM t")
    for connection in (first, second, reader):
        connection.close()

    troubles = {name: trouble_of(exc) for name, exc in kinds.items()}
    assert {name: t.trouble if t else None for name, t in troubles.items()} == {
        "busy": Trouble.LOCKED,
        "full": Trouble.FULL,
        "read_only": Trouble.READ_ONLY,
    }
    full_trouble = troubles["full"]
    assert full_trouble is not None and "disk is full" in str(full_trouble)
    # A bug is a bug: not a 503 the caller should retry.
    assert trouble_of(constraint.value) is None
    assert trouble_of(bad_sql.value) is None
