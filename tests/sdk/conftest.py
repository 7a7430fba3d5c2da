"""The SDK against the real thing: ``ringpush serve``'s service on a SQLite file, the
sandbox over HTTP/2 + TLS, simulated phones. Nothing is mocked."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from ringpush.local_stack import LocalStack


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[LocalStack]:
    async with LocalStack(tmp_path, control_port=None) as running:
        yield running


async def eventually(check: Callable[[], bool], within: float = 10.0) -> None:
    """Wait for ``check`` to hold (asserting, with a generous bound: no timing is tested)."""
    async with asyncio.timeout(within):
        while not check():
            await asyncio.sleep(0.01)
