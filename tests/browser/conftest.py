"""A real headless Chromium (Debian's ``/usr/bin/chromium``, installed by
``scripts/install-system-packages.sh``) driven by Playwright; nothing is downloaded."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, async_playwright

CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    # As root (CI's containers), Chromium's own sandbox cannot start.
    args = ["--no-sandbox"] if os.geteuid() == 0 else []
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=args
        )
        try:
            yield launched
        finally:
            await launched.close()
