"""The sandbox's control API documents itself at /docs, and the page renders with the
network unplugged: every asset comes from the sandbox itself (issue 15 §4)."""

from __future__ import annotations

from urllib.parse import urlsplit

from playwright.async_api import Browser, Route

from ringpush.sandbox import Sandbox


async def test_the_sandbox_control_docs_work_offline(browser: Browser) -> None:
    outside: list[str] = []

    async def unplugged(route: Route) -> None:
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            await route.continue_()
        else:  # what an offline machine would fail to fetch
            outside.append(route.request.url)
            await route.abort()

    sandbox = Sandbox()
    await sandbox.start(control_port=0)
    try:
        page = await browser.new_page()
        await page.route("**/*", unplugged)
        await page.goto(f"http://127.0.0.1:{sandbox.control_port}/docs")
        await page.wait_for_selector(".opblock", timeout=15_000)
        operations = await page.locator(".opblock").count()
        await page.close()
    finally:
        await sandbox.stop()
    assert outside == []
    assert operations >= 10  # the routes are listed, not a blank page
