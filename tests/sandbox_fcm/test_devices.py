"""Simulated Android devices over the wire: tokens, deprioritization, ttl while offline."""

from __future__ import annotations

import asyncio

import httpx

from ringpush.sandbox.fcm import Fate, FcmSandbox, FirebaseMessagingService, Priority, RemoteMessage
from ringpush.sandbox.fcm.android import AndroidDevice
from tests.sandbox_fcm.conftest import PACKAGE, PROJECT, Clock, call_wakeup, send


async def settled() -> None:
    """Let the devices' callbacks (later loop turns) run."""
    for _ in range(3):
        await asyncio.sleep(0)


class CallApp(FirebaseMessagingService):
    """ringpush's Android app: shows the full-screen incoming-call notification, or (when
    ``shows`` is False) a buggy build that forgets to."""

    def __init__(self, device: AndroidDevice, *, shows: bool) -> None:
        self.device = device
        self.shows = shows
        self.tokens: list[str] = []
        self.received: list[RemoteMessage] = []

    def on_new_token(self, token: str) -> None:
        self.tokens.append(token)

    def on_message_received(self, message: RemoteMessage) -> None:
        self.received.append(message)
        if self.shows and message.priority is Priority.HIGH:
            self.device.post_notification(full_screen=True)


def phone(sandbox: FcmSandbox, *, shows: bool, **options: object) -> tuple[AndroidDevice, CallApp]:
    device = sandbox.device(
        "pixel", PACKAGE, PROJECT, notification_deadline=0, max_misses=2, **options
    )
    app = CallApp(device, shows=shows)
    device.start(app)
    return device, app


async def test_the_app_learns_its_token_at_start_and_on_refresh(sandbox: FcmSandbox) -> None:
    device, app = phone(sandbox, shows=True)
    first = device.token
    await settled()
    second = device.refresh_token()
    await settled()
    assert app.tokens == [first, second]


async def test_high_priority_without_notifications_gets_deprioritized(
    sandbox: FcmSandbox, client: httpx.AsyncClient, bearer: str, clock: Clock
) -> None:
    device, app = phone(sandbox, shows=False, doze_delay=600)
    assert device.token is not None
    for _ in range(2):
        assert (await send(client, bearer, call_wakeup(device.token))).status_code == 200
        await settled()
    assert [m.priority for m in app.received] == [Priority.HIGH, Priority.HIGH]
    assert [m.notification_shown for m in app.received] == [False, False]
    assert device.to_json()["deprioritized"] is True

    answer = await send(client, bearer, call_wakeup(device.token, ttl="3600s"))
    assert answer.status_code == 200  # FCM still accepts: only the device knows
    await settled()
    late = device.messages[-1]
    assert (late.original_priority, late.priority) == (Priority.HIGH, Priority.NORMAL)
    assert [m.fate for m in device.messages[-1:]] == [Fate.PENDING]  # dozing: held
    assert len(app.received) == 2

    clock.advance(600)
    device.deliver_due()
    assert late.fate is Fate.DELIVERED and app.received[-1] is late
    assert late.delay is not None and late.delay >= 600
    state = device.to_json()
    assert state["deprioritized_messages"] == 1
    assert state["messages"][-1]["deprioritized"] is True


async def test_high_priority_with_notifications_stays_high(
    sandbox: FcmSandbox, client: httpx.AsyncClient, bearer: str
) -> None:
    device, app = phone(sandbox, shows=True)
    assert device.token is not None
    for _ in range(4):
        await send(client, bearer, call_wakeup(device.token))
        await settled()
    assert [m.priority for m in app.received] == [Priority.HIGH] * 4
    assert all(m.notification_shown and m.full_screen for m in app.received)
    assert device.to_json()["deprioritized"] is False
    assert device.to_json()["misses_in_window"] == 0


async def test_ttl_decides_what_an_offline_device_gets(
    sandbox: FcmSandbox, client: httpx.AsyncClient, bearer: str, clock: Clock
) -> None:
    device, app = phone(sandbox, shows=True, online=False)
    assert device.token is not None
    for ttl in ("0s", "60s", "600s"):
        assert (await send(client, bearer, call_wakeup(device.token, ttl=ttl))).status_code == 200
    now_or_never, short, long = device.messages
    assert now_or_never.fate is Fate.DROPPED_TTL_ZERO  # "now or never", never stored
    clock.advance(61)
    device.set_state(online=True)
    await settled()
    assert short.fate is Fate.EXPIRED
    assert long.fate is Fate.DELIVERED
    assert app.received == [long]


async def test_uninstall_makes_the_token_unregistered_and_drops_held_messages(
    sandbox: FcmSandbox, client: httpx.AsyncClient, bearer: str
) -> None:
    device, _ = phone(sandbox, shows=True, online=False)
    token = device.token
    assert token is not None
    await send(client, bearer, call_wakeup(token))
    device.uninstall()
    assert device.messages[0].fate is Fate.DROPPED_UNINSTALLED
    assert (await send(client, bearer, call_wakeup(token))).status_code == 404
    fresh = device.reinstall()
    assert (await send(client, bearer, call_wakeup(fresh))).status_code == 200
