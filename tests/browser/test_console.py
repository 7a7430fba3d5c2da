"""The push console (``/console``) in a real headless Chromium, against the whole stack
(SQLite, the engine, the sandbox as APNs): signing in, the devices, a test push and its
line in the live log, an oversized payload refused before sending, a test call placed and
ended, a token check, a wrong key refused, and nothing fetched from another host."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.async_api import Browser, Page, Route, expect

from ringpush.apns.notification import compact_json
from ringpush.apns.push_type import PushType
from tests.server.stack import ADMIN, Stack, running_stack

OPERATOR_KEY = ADMIN["Authorization"].removeprefix("Bearer ")


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    async with running_stack(f"sqlite:///{tmp_path / 'console.db'}") as running:
        bob = await running.user("bob")
        await running.device(bob, "phone")
        await running.device(bob, "ipad", PushType.ALERT)
        yield running


@pytest.fixture
async def page(browser: Browser, stack: Stack) -> AsyncIterator[Page]:
    outside: list[str] = []

    async def local_only(route: Route) -> None:
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            await route.continue_()
        else:
            outside.append(route.request.url)
            await route.abort()

    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    opened = await context.new_page()
    await opened.route("**/*", local_only)
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    await opened.goto(str(stack.http.base_url.join("/console")))
    yield opened
    await context.close()
    assert outside == []
    assert errors == []


async def sign_in(page: Page, key: str = OPERATOR_KEY) -> None:
    await page.get_by_label("Operator key").fill(key)
    await page.get_by_role("button", name="Sign in").click()


async def signed_in(page: Page) -> None:
    """Signed in, with the demo app's users and bob's devices on the page."""
    await sign_in(page)
    await expect(page.locator("#devices tbody tr")).to_have_count(2)


async def test_signing_in_lists_the_apps_users_and_masked_devices(page: Page) -> None:
    await sign_in(page)
    await expect(page.locator("#app")).to_have_value("demo")
    await expect(page.locator("#app-details")).to_contain_text("com.example.app")
    await expect(page.locator("#users button", has_text="bob")).to_be_visible()
    rows = page.locator("#devices tbody tr")
    await expect(rows).to_have_count(2)
    await expect(rows.filter(has_text="voip")).to_contain_text("phone")
    token = await rows.first.locator("code").inner_text()
    assert "…" in token and len(token) < 20  # masked, never the whole token
    # The key is kept for this tab only: session storage, not a cookie.
    assert await page.evaluate("document.cookie") == ""
    stored = await page.evaluate("sessionStorage.getItem('ringpush.operator-key')")
    assert stored == OPERATOR_KEY
    # Searching by device id finds its user.
    await page.get_by_label("Search a user or device").fill("ipa")
    await expect(page.locator("#users button", has_text="bob")).to_be_visible()
    await page.get_by_label("Search a user or device").fill("nobody-here")
    await expect(page.locator("#users")).to_contain_text("No user or device matches")


async def test_a_test_push_is_answered_and_appears_in_the_live_log(
    page: Page, stack: Stack
) -> None:
    await signed_in(page)
    await expect(page.locator("#log-live")).to_have_text("live")
    await page.get_by_role("button", name="Send push").click()
    result = page.locator("#push-result")
    await expect(result).to_contain_text("delivered")
    apns_id = await result.locator("code").first.inner_text()
    [record] = stack.sandbox.notifications(apns_id=apns_id)
    assert record.payload["aps"]["alert"]["body"] == "Hello from the ringpush console"
    line = page.locator(f'#log tbody tr[data-apns-id="{apns_id}"]')
    await expect(line).to_contain_text("delivered")
    await expect(line).to_contain_text("bob / ipad")
    # The device's last outcome follows the log.
    ipad = page.locator("#devices tbody tr", has_text="alert")
    await expect(ipad).to_contain_text("delivered")
    # The log filters: another user's filter hides the line.
    await page.locator("#filter-user").fill("alice")
    await expect(line).to_have_count(0)


async def test_an_oversized_payload_is_refused_before_sending(page: Page, stack: Stack) -> None:
    await signed_in(page)
    editor = page.get_by_label("Payload (JSON)")
    await editor.fill('{"aps": {"alert": "' + "x" * 4100 + '"}}')
    await expect(page.locator("#push-size")).to_contain_text("over APNs's limit")
    await expect(page.get_by_role("button", name="Send push")).to_be_disabled()
    # Counted as APNs counts it: ringpush's compact UTF-8 encoding (é is two bytes).
    fits = {"aps": {"alert": "é" * 2000, "badge": 1}}
    size = len(compact_json(fits))
    assert 4000 < size <= 4096
    await editor.fill(json.dumps(fits, indent=2))
    await expect(page.locator("#push-size")).to_have_text(f"{size} / 4096 bytes")
    await expect(page.get_by_role("button", name="Send push")).to_be_enabled()
    await editor.fill("{not json")
    await expect(page.get_by_role("button", name="Send push")).to_be_disabled()
    assert stack.sandbox.notifications() == []


async def test_a_test_call_rings_and_is_ended(page: Page, stack: Stack) -> None:
    await signed_in(page)
    await page.get_by_role("button", name="Place call").click()
    status = page.locator("#call-state")
    await expect(status).to_contain_text("ringing")
    await expect(page.locator("#call-deliveries tbody tr")).to_contain_text("delivered")
    [voip] = [n for n in stack.sandbox.notifications() if n.push_type is PushType.VOIP]
    assert voip.payload["ringpush"]["caller"]["name"] == "ringpush console"
    await page.get_by_role("button", name="End call").click()
    await expect(status).to_contain_text("ended (canceled)")
    # The missed-call alert to the iPad shows up among the call's deliveries.
    await expect(page.locator("#call-deliveries tbody tr", has_text="alert")).to_contain_text(
        "delivered"
    )


async def test_a_token_check_never_rings_the_phone(page: Page, stack: Stack) -> None:
    await signed_in(page)
    await page.get_by_label("Check a device's token").select_option("ipad")
    await page.get_by_role("button", name="Check token").click()
    await expect(page.locator("#check-result")).to_contain_text("alert: valid for development")
    [check] = stack.sandbox.notifications()
    assert check.headers["apns-push-type"] == "background"
    await page.get_by_label("Check a device's token").select_option("phone")
    await page.get_by_role("button", name="Check token").click()
    await expect(page.locator("#check-result")).to_contain_text("voip: not checked")
    assert [n.push_type for n in stack.sandbox.notifications()] == [PushType.BACKGROUND]


async def test_a_wrong_key_is_refused(page: Page) -> None:
    await sign_in(page, "rpa_" + "x" * 40)
    await expect(page.locator("#signin-error")).to_contain_text("That key was refused")
    await expect(page.locator("#console")).to_be_hidden()
    assert await page.evaluate("sessionStorage.getItem('ringpush.operator-key')") is None


async def test_the_console_fits_a_phone_sized_window(browser: Browser, stack: Stack) -> None:
    context = await browser.new_context(viewport={"width": 390, "height": 844})
    phone = await context.new_page()
    await phone.goto(str(stack.http.base_url.join("/console")))
    await signed_in(phone)
    overflow = await phone.evaluate("document.documentElement.scrollWidth > window.innerWidth")
    await context.close()
    assert overflow is False


async def test_the_console_is_served_with_a_same_origin_policy(stack: Stack) -> None:
    page = await stack.http.get("/console")
    script = await stack.http.get("/console/console.js")
    missing = await stack.http.get("/console/secrets.txt")
    assert page.status_code == 200
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert script.headers["content-type"].startswith("text/javascript")
    assert missing.status_code == 404


async def test_an_android_phone_is_listed_and_gets_a_test_data_message(
    page: Page, stack: Stack
) -> None:
    assert stack.fcm is not None
    token = await stack.android(await stack.user("bob"), "pixel")
    await sign_in(page)
    await expect(page.locator("#devices tbody tr")).to_have_count(3)
    await expect(page.locator("#devices tbody tr", has_text="pixel")).to_contain_text("fcm")
    await expect(page.locator("#app-details")).to_contain_text("ringpush-demo")
    await page.locator("#push-type").select_option("fcm")
    # Counted as FCM counts it: the data's keys and values.
    await expect(page.locator("#push-size")).to_have_text("38 / 4096 bytes of data")
    await page.get_by_role("button", name="Send push").click()
    await expect(page.locator("#push-result")).to_contain_text("delivered")
    [message] = stack.fcm.messages(token=token)
    assert message.message["data"] == {"message": "Hello from the ringpush console"}
