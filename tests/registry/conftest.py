"""Fixtures of the registry tests: a master key, and a registry on each backend with the
``demo`` app in it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from ringpush.apns.environment import Environment
from ringpush.registry import App, SecretBox, SqlRegistry, open_registry


@pytest.fixture
def box() -> SecretBox:
    return SecretBox({"k1": b"\x07" * 32}, "k1")


@pytest.fixture
async def registry(database_url: str, box: SecretBox) -> AsyncIterator[SqlRegistry]:
    store = await open_registry(database_url, box)
    await store.put_app(
        App("demo", "com.example.app", "TEAM123456", "KEY1234567", Environment.DEVELOPMENT)
    )
    try:
        yield store
    finally:
        await store.close()
