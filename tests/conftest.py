"""Fixtures shared by every test package: the database backends.

``database_url`` runs a test once per backend: a fresh SQLite file, and a fresh database
on the PostgreSQL server the session starts (initdb into a temp dir, loopback only,
never as root; see tests/postgres_server.py). The server starts only when a test asks
for it.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

from tests.postgres_server import PostgresServer

BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    server = PostgresServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def create_database(server: PostgresServer) -> str:
    """A new, empty database on ``server``; returns its URL."""
    name = "t_" + uuid.uuid4().hex[:16]
    connection = await asyncpg.connect(server.url)
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    return server.url_for(name)


async def drop_database(server: PostgresServer, url: str) -> None:
    name = url.rsplit("/", 1)[1]
    connection = await asyncpg.connect(server.url)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


@pytest.fixture(params=BACKENDS)
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A URL to an empty database, once for SQLite and once for PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ringpush.db'}"
        return
    server: PostgresServer = request.getfixturevalue("postgres")
    url = await create_database(server)
    try:
        yield url
    finally:
        await drop_database(server, url)
