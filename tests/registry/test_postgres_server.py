"""The PostgreSQL the tests start for themselves: real, loopback only, never as root."""

from __future__ import annotations

from pathlib import Path

import asyncpg

from tests.postgres_server import PostgresServer


def real_uid_of(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1])


async def test_the_test_postgres_serves_sql_on_loopback_as_an_ordinary_user(
    postgres: PostgresServer,
) -> None:
    connection = await asyncpg.connect(postgres.url)
    try:
        assert await connection.fetchval("SELECT current_user") == "ringpush"
        assert await connection.fetchval("SHOW listen_addresses") == "127.0.0.1"
        pid = await connection.fetchval("SELECT pg_backend_pid()")
        assert real_uid_of(pid) != 0
        await connection.execute("CREATE DATABASE scratch")
        assert (
            await connection.fetchval("SELECT count(*) FROM pg_database WHERE datname = 'scratch'")
            == 1
        )
    finally:
        await connection.close()
