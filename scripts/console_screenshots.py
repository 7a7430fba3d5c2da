"""Screenshots of the push console, for the README: a stack on a temporary SQLite file
with the sandbox as APNs, bob with an iPhone (VoIP and alert tokens), a test push and a
test call, then Chromium (Debian's, through Playwright) at 1280x800 in light and dark
mode and at a phone's size. They are written to ``docs/screenshots/`` (not committed:
the project keeps no generated files; run this to refresh them).

    .venv/bin/python scripts/console_screenshots.py [--out docs/screenshots]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from pathlib import Path

from playwright.async_api import Browser, async_playwright

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from ringpush.apns.push_type import PushType
from tests.server.stack import ADMIN, Stack, running_stack

KEY = ADMIN["Authorization"].removeprefix("Bearer ")


async def populate(stack: Stack) -> None:
    bob = await stack.user("bob")
    await stack.device(bob, "iphone")
    await stack.device(bob, "iphone", PushType.ALERT)
    alice = await stack.user("alice")
    await stack.device(alice, "ipad")


async def shoot(browser: Browser, url: str, out: Path, name: str, **context: object) -> None:
    page = await (await browser.new_context(**context)).new_page()  # type: ignore[arg-type]
    await page.goto(url)
    await page.get_by_label("Operator key").fill(KEY)
    await page.get_by_role("button", name="Sign in").click()
    await page.locator("#devices tbody tr").first.wait_for()
    await page.locator("#users button", has_text="bob").click()
    await page.locator("#devices tbody tr", has_text="alert").wait_for()
    await page.get_by_role("button", name="Send push").click()
    await page.locator("#push-result code").first.wait_for()
    await page.get_by_role("button", name="Place call").click()
    await page.locator("#call-deliveries tbody tr").first.wait_for()
    await page.wait_for_timeout(300)
    await page.screenshot(path=str(out / f"{name}.png"), full_page=True)
    print(out / f"{name}.png")
    await page.context.close()


async def main(out: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        async with running_stack(f"sqlite:///{Path(tmp) / 'shots.db'}") as stack:
            await populate(stack)
            url = str(stack.http.base_url.join("/console"))
            args = ["--no-sandbox"] if os.geteuid() == 0 else []
            async with async_playwright() as playwright:
                browser = await playwright.chromium.launch(
                    executable_path="/usr/bin/chromium", args=args
                )
                size = {"width": 1280, "height": 800}
                await shoot(browser, url, out, "console-light", viewport=size)
                await shoot(browser, url, out, "console-dark", viewport=size, color_scheme="dark")
                phone = {"width": 390, "height": 844}
                await shoot(browser, url, out, "console-phone", viewport=phone)
                await browser.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    out = parser.parse_args().out
    out.mkdir(parents=True, exist_ok=True)
    asyncio.run(main(out))
