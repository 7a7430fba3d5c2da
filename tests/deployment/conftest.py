"""A fresh PostgreSQL database per test, on the session's server."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.conftest import create_database, drop_database
from tests.postgres_server import PostgresServer


@pytest.fixture
async def database(postgres: PostgresServer) -> AsyncIterator[str]:
    url = await create_database(postgres)
    try:
        yield url
    finally:
        await drop_database(postgres, url)
