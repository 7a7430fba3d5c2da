"""The SDK's Android path end to end (issue 16): an Android app's FCM token registered
through ManagedPush and a Client, calls ringing it as FCM data messages turned into the
same incoming calls and endings an iPhone's app gets, every high-priority message
followed by a notification. Real HTTP to a running server, real TLS to both sandboxes,
the FCM sandbox's simulated Android phone and the APNs sandbox's simulated iPhone."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from ringpush.apns.push_type import PushType
from ringpush.demo.android_app import AndroidPhoneApp, FirebaseService
from ringpush.demo.phone_app import PhoneApp
from ringpush.platforms import FCM, Platform, PushKind
from ringpush.sandbox.fcm.remote_message import Priority
from ringpush.sdk import (
    CallEnded,
    CallOutcome,
    Client,
    DataMessage,
    ManagedPush,
    MessagePriority,
    NoticeKind,
    Unauthorized,
)
from tests.sdk.conftest import eventually
from tests.server.stack import ADMIN, PACKAGE, PROJECT, Stack, running_stack


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Stack]:
    async with running_stack(f"sqlite:///{tmp_path / 'android.db'}") as stack:
        yield stack


def url_of(stack: Stack) -> str:
    return str(stack.http.base_url).rstrip("/")


async def user_token(stack: Stack, user: str) -> str:
    return (await stack.user(user))["Authorization"].removeprefix("Bearer ")


class Phones:
    """Bob's phones, signed in and registered; all closed before the server stops (an
    open event stream would hold up its shutdown), whatever the test did."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self._apps: list[AndroidPhoneApp | PhoneApp] = []

    async def android(
        self, name: str, *, signed_in: bool = True, **options: Any
    ) -> AndroidPhoneApp:
        """Notification deadline 0 and one miss allowed: a message the app shows nothing
        for deprioritizes the phone at once."""
        assert self.stack.fcm is not None
        options = {"notification_deadline": 0, "max_misses": 1, **options}
        device = self.stack.fcm.device(name, PACKAGE, PROJECT, **options)
        app = AndroidPhoneApp(device, url_of(self.stack))
        self._apps.append(app)
        if not signed_in:
            return app
        client = await app.sign_in(await user_token(self.stack, "bob"))
        await eventually(lambda: FCM in app.push.registered(client))
        return app

    async def iphone(self, name: str) -> PhoneApp:
        app = PhoneApp(self.stack.sandbox.device(name, PACKAGE), url_of(self.stack))
        self._apps.append(app)
        await app.sign_in(await user_token(self.stack, "bob"))
        async with asyncio.timeout(10):
            await app.push.settled()
        return app

    async def close(self) -> None:
        for app in self._apps:
            await app.close()


@pytest.fixture
async def phones(server: Stack) -> AsyncIterator[Phones]:
    made = Phones(server)
    try:
        yield made
    finally:
        await made.close()


async def start_call(stack: Stack, call_id: str, **fields: Any) -> dict[str, Any]:
    started = await stack.http.post(
        "/v1/calls",
        headers=stack.service,
        json={"call_id": call_id, "caller_id": "alice", "caller_name": "Alice",
              "callee_user_id": "bob", **fields},
    )  # fmt: skip
    assert started.status_code == 201, started.text
    result: dict[str, Any] = started.json()
    return result


async def devices_of(stack: Stack, user: str) -> list[dict[str, Any]]:
    listed: list[dict[str, Any]] = (
        await stack.http.get("/v1/devices", headers=await stack.user(user))
    ).json()
    return listed


def high_priority_all_shown(app: AndroidPhoneApp) -> bool:
    """Whether FCM would be content: every high-priority message led to a notification."""
    high = [m for m in app.device.messages if m.original_priority is Priority.HIGH]
    return bool(high) and all(m.notification_shown for m in high)


async def test_the_fcm_token_is_registered_through_managed_push_as_an_fcm_device(
    server: Stack, phones: Phones
) -> None:
    app = await phones.android("pixel", signed_in=False)
    assert app.push.platform is Platform.FCM
    await eventually(lambda: FCM in app.push.tokens)
    token = app.push.tokens[FCM]
    assert token == app.device.token
    assert await devices_of(server, "bob") == []  # in memory only until someone signs in

    client = await app.sign_in(await user_token(server, "bob"))
    async with asyncio.timeout(10):
        await app.push.settled()
    assert app.push.registered(client) == {FCM: token}
    [device] = await devices_of(server, "bob")
    assert (device["device_id"], device["platform"], device["push_type"]) == (
        app.device.instance_id,
        "fcm",
        "fcm",
    )
    assert device["environment"] == "fcm"
    assert device["token"] != token
    assert device["token"].startswith(token[:4]) and device["token"].endswith(token[-4:])


async def test_a_refused_fcm_registration_is_reported_and_a_new_user_token_retries_it(
    server: Stack, phones: Phones
) -> None:
    app = await phones.android("pixel", signed_in=False)
    errors: list[tuple[PushKind, Exception]] = []
    app.push.on_error = lambda client, kind, error: errors.append((kind, error))
    client = Client(url_of(server), "not-a-token", push=app.push, retries=0)
    try:
        async with asyncio.timeout(10):
            await eventually(lambda: bool(errors))
            await app.push.settled()
        [(kind, error)] = errors  # reported once, not retried: it cannot help
        assert kind is FCM and isinstance(error, Unauthorized)
        assert app.push.registered(client) == {}
        client.user_token = await user_token(server, "bob")
        await eventually(lambda: FCM in app.push.registered(client))
        assert [d["platform"] for d in await devices_of(server, "bob")] == ["fcm"]
    finally:
        await client.close()


async def test_a_refreshed_fcm_token_is_registered_and_the_old_one_is_gone(
    server: Stack, phones: Phones
) -> None:
    assert server.fcm is not None
    app = await phones.android("pixel")
    client = app.client
    assert client is not None
    old = app.push.tokens[FCM]

    new = app.device.refresh_token()  # onNewToken
    assert new != old
    await eventually(lambda: app.push.registered(client) == {FCM: new})
    [device] = await devices_of(server, "bob")  # replaced, not added
    assert device["token"].startswith(new[:4]) and device["token"].endswith(new[-4:])

    await start_call(server, "c-refreshed")
    await eventually(lambda: len(app.calls) == 1)
    assert len(server.fcm.messages(token=new)) == 1
    assert server.fcm.messages(token=old) == []


async def test_a_call_rings_android_as_the_same_incoming_call_the_iphone_gets(
    server: Stack, phones: Phones
) -> None:
    pixel, phone = await phones.android("pixel"), await phones.iphone("iphone")
    started = await start_call(server, "c-ring", video=True, data={"room": "r-17"})
    assert {d["device_id"]: d["push_type"] for d in started["deliveries"]} == {
        pixel.device.instance_id: "fcm",
        phone.device.install_id: "voip",
    }
    await eventually(lambda: bool(pixel.calls) and bool(phone.rings))
    [call] = pixel.calls
    assert (call.call_id, call.handle, call.video, call.data) == (
        "c-ring",
        "Alice",
        True,
        {"room": "r-17"},
    )
    # The same call on both platforms, but for when each push was queued.
    assert replace(call, sent_at_ms=0) == replace(phone.rings[0].call, sent_at_ms=0)

    [notice] = pixel.notices  # posted from the message handler, so FCM is content
    assert (notice.kind, notice.call_id, notice.handle, notice.video) == (
        NoticeKind.RINGING,
        "c-ring",
        "Alice",
        True,
    )
    assert notice.ring_until_ms == call.ring_until_ms
    assert pixel.ringing == {"c-ring": notice}
    [message] = pixel.device.messages
    assert (message.priority, message.notification_shown, message.full_screen) == (
        Priority.HIGH,
        True,
        True,
    )
    assert not pixel.device.deprioritized


async def test_answering_on_android_ends_the_call_and_the_iphone_stops_ringing(
    server: Stack, phones: Phones
) -> None:
    pixel, phone = await phones.android("pixel"), await phones.iphone("iphone")
    await start_call(server, "c-answer")
    await eventually(lambda: bool(pixel.sessions) and bool(phone.sessions))
    async with asyncio.timeout(10):
        for session in [*pixel.sessions.values(), *phone.sessions.values()]:
            await session.connected.wait()
    assert phone.device.callkit.ringing()

    await pixel.sessions["c-answer"].answer()  # the notification's answer intent
    await eventually(lambda: not phone.device.callkit.ringing())
    [on_iphone] = phone.ended
    assert (on_iphone.outcome, on_iphone.device_id) == (
        CallOutcome.ANSWERED_ELSEWHERE,
        pixel.device.instance_id,
    )
    [on_callkit] = phone.device.callkit.calls.values()
    assert on_callkit.end_reason == "answeredElsewhere"
    await eventually(lambda: bool(pixel.ended))
    assert pixel.ended[0].outcome is CallOutcome.ANSWERED_HERE
    assert pixel.ringing == {}
    state = (await server.http.get("/v1/calls/c-answer", headers=server.service)).json()
    assert (state["state"], state["ended_by_device"]) == ("answered", pixel.device.instance_id)
    # One VoIP push, none to stop the iPhone ringing; Android got only its call.
    assert len(server.sandbox.notifications(token=phone.device.tokens[PushType.VOIP])) == 1
    assert len(pixel.device.messages) == 1
    assert high_priority_all_shown(pixel) and not pixel.device.deprioritized


async def test_a_canceled_call_is_a_missed_call_notification_on_android(
    server: Stack, phones: Phones
) -> None:
    pixel = await phones.android("pixel")
    await start_call(server, "c-missed")
    await eventually(lambda: bool(pixel.sessions))
    ended = await server.http.post(
        "/v1/calls/c-missed/end", headers=server.service, json={"reason": "canceled"}
    )
    assert ended.status_code == 200
    # The missed-call message comes whether or not the events said so first.
    await eventually(lambda: len(pixel.notices) == 2 and bool(pixel.ended))
    missed = pixel.notices[1]
    assert (missed.kind, missed.call_id, missed.handle, missed.reason) == (
        NoticeKind.MISSED,
        "c-missed",
        "Alice",
        "canceled",
    )
    assert [e.outcome for e in pixel.ended] == [CallOutcome.CANCELED]  # told once
    assert pixel.ringing == {}
    assert [m.full_screen for m in pixel.device.messages] == [True, False]
    assert high_priority_all_shown(pixel) and not pixel.device.deprioritized


async def test_an_android_app_not_following_the_call_stops_ringing_on_the_call_ended_message(
    server: Stack, phones: Phones
) -> None:
    """The server tells a device not on the call's events by a normal-priority message,
    which needs no notification (and gets none)."""
    pixel = await phones.android("pixel", dozing=False)  # normal priority: no Doze wait
    pixel.follow_calls = False
    phone = await phones.iphone("iphone")
    await start_call(server, "c-elsewhere")
    await eventually(lambda: bool(pixel.ringing) and bool(phone.sessions))
    phone.device.callkit.answer(phone.rings[0].call.uuid)

    await eventually(lambda: bool(pixel.ended))
    assert [(e.call_id, e.outcome) for e in pixel.ended] == [
        ("c-elsewhere", CallOutcome.ANSWERED_ELSEWHERE)
    ]
    assert pixel.ringing == {}
    assert [n.kind for n in pixel.notices] == [NoticeKind.RINGING]  # nothing for the end
    _, told = pixel.device.messages
    assert (told.priority, told.notification_shown) == (Priority.NORMAL, None)
    assert not pixel.device.deprioritized
    await phone.settled()


async def test_a_call_ended_message_ends_the_session_before_the_events_do(
    server: Stack, phones: Phones
) -> None:
    """Whichever says first that the call is over ends the session: here the message
    (handed to the SDK as the phone's messaging service would) while the call still
    rings on the server, so its events have said nothing yet."""
    pixel = await phones.android("pixel")
    await start_call(server, "c-pushed")
    await eventually(lambda: bool(pixel.sessions))
    session = pixel.sessions["c-pushed"]
    async with asyncio.timeout(10):
        await session.connected.wait()
    stopped = asyncio.Event()
    session.when_done(lambda _: stopped.set())
    info = {"version": 1, "type": "call-ended", "call_id": "c-pushed", "reason": "declined"}
    pixel.push.did_receive_fcm_message(
        DataMessage(
            data={"ringpush": json.dumps(info)},
            priority=MessagePriority.NORMAL,
            original_priority=MessagePriority.NORMAL,
        )
    )
    assert session.result == CallEnded("c-pushed", CallOutcome.DECLINED_ELSEWHERE, None)
    assert pixel.ended == [session.result] and pixel.ringing == {}
    assert [n.kind for n in pixel.notices] == [NoticeKind.RINGING]  # the end shows nothing
    async with asyncio.timeout(10):
        await stopped.wait()  # no longer following the events
    state = (await server.http.get("/v1/calls/c-pushed", headers=server.service)).json()
    assert state["state"] == "ringing"


async def test_an_app_that_shows_nothing_is_deprioritized(server: Stack) -> None:
    """The other side of the rule the SDK's notices keep: the simulated phone does
    judge, so the tests above that find it content mean something."""
    assert server.fcm is not None
    device = server.fcm.device("careless", PACKAGE, PROJECT, notification_deadline=0, max_misses=1)
    push = ManagedPush.fcm(
        FirebaseService(device), device_id="careless", show_notification=lambda notice: None
    )
    async with Client(url_of(server), await user_token(server, "bob"), push=push) as client:
        await eventually(lambda: FCM in push.registered(client))
        await start_call(server, "c-careless")
        await eventually(lambda: bool(device.messages) and device.deprioritized)
    assert device.messages[0].notification_shown is False
    await push.close()


async def test_a_deleted_fcm_token_is_unregistered_and_the_next_one_registered(
    server: Stack, phones: Phones
) -> None:
    pixel = await phones.android("pixel")
    client = pixel.client
    assert client is not None
    old = pixel.push.tokens[FCM]
    pixel.firebase.delete_token()
    await eventually(lambda: pixel.push.registered(client) == {})
    assert pixel.push.tokens == {}
    assert await devices_of(server, "bob") == []

    pixel.firebase.get_token()
    await eventually(lambda: FCM in pixel.push.registered(client))
    assert pixel.push.tokens[FCM] != old
    assert [d["platform"] for d in await devices_of(server, "bob")] == ["fcm"]


async def test_an_uninstalled_android_app_is_dropped_by_the_server_after_the_next_call(
    server: Stack, phones: Phones
) -> None:
    pixel, phone = await phones.android("pixel"), await phones.iphone("iphone")
    gone = pixel.device.instance_id
    assert {d["device_id"] for d in await devices_of(server, "bob")} == {
        gone,
        phone.device.install_id,
    }
    await pixel.close()  # the app is gone: nobody tells the server
    pixel.device.uninstall()

    await start_call(server, "c-gone")

    async def pixel_delivery() -> tuple[str, str | None]:
        log = (await server.http.get("/v1/deliveries?call_id=c-gone", headers=ADMIN)).json()
        [delivery] = [p for p in log if p["device_id"] == gone]
        return delivery["state"], delivery["reason"]

    async with asyncio.timeout(10):
        while (state := await pixel_delivery())[0] in ("pending", "sending"):
            await asyncio.sleep(0.05)
    assert state == ("dropped", "UNREGISTERED")
    assert [d["device_id"] for d in await devices_of(server, "bob")] == [phone.device.install_id]
