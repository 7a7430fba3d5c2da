"""/docs renders with the network unplugged: every asset comes from ringpush itself, and
the page asks no outside host for anything (issue 15). (ReDoc is not served: its page
fetched its logo from cdn.redoc.ly, which this test caught.)"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from playwright.async_api import Browser, Route

from tests.server.stack import running_stack


async def test_the_api_docs_work_offline(tmp_path: Path, browser: Browser) -> None:
    outside: list[str] = []

    async def unplugged(route: Route) -> None:
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            await route.continue_()
        else:  # what an offline machine would fail to fetch
            outside.append(route.request.url)
            await route.abort()

    async with running_stack(f"sqlite:///{tmp_path / 'docs.db'}") as stack:
        page = await browser.new_page()
        await page.route("**/*", unplugged)
        await page.goto(str(stack.http.base_url.join("/docs")))
        await page.wait_for_selector(".opblock", timeout=15_000)
        operations = await page.locator(".opblock").count()
        await page.close()
        redoc = await stack.http.get("/redoc")
    assert outside == []
    assert operations >= 10  # the routes are listed, not a blank page
    assert redoc.status_code == 404
