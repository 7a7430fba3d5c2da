"""``ringpush demo``: the whole call path on simulated phones, checked step by step.

Starts the sandbox (APNs and FCM) and the server in this process, creates an app, signs
in bob's iPhone and Android phone and alice's iPhone through the SDK, has alice call bob,
shows both of bob's phones ringing (a VoIP push to the iPhone, a high-priority FCM
message to the Android phone), answers on the Android phone and shows the iPhone stop
ringing through the call's events (no second VoIP push), then uninstalls the app from
the Android phone and shows the clean-up: FCM answers UNREGISTERED and ringpush drops the
token. Every line marked ✓ was verified; the demo returns False at the first claim that
fails.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console

from ringpush.apns.device_token import mask_device_token
from ringpush.apns.environment import Environment
from ringpush.apns.push_type import PushType
from ringpush.demo.android_app import AndroidPhoneApp
from ringpush.demo.phone_app import PhoneApp
from ringpush.demo.timeline import DemoFailed, Timeline
from ringpush.local_stack import DEMO_FCM_PROJECT, DEMO_PACKAGE, LocalStack
from ringpush.platforms import FCM
from ringpush.sdk import CallOutcome

Phone = PhoneApp | AndroidPhoneApp


async def run_demo(
    console: Console,
    *,
    step_seconds: float = 10.0,
    prepare: Callable[[LocalStack], None] | None = None,
) -> bool:
    """Run the demo; True only if every step happened as shown. ``prepare`` may change
    the stack (e.g. inject a sandbox fault) before the phones start."""
    with tempfile.TemporaryDirectory(prefix="ringpush-demo-") as state_dir:
        async with LocalStack(Path(state_dir), control_port=None) as stack:
            timeline = Timeline(console)
            phones: list[Phone] = []
            try:
                await _story(stack, timeline, phones, step_seconds, prepare)
            except DemoFailed:
                return False
            finally:
                for phone in phones:
                    await phone.close()
    console.print()
    console.print(f"[bold green]Demo complete: {timeline.checks} checks passed.[/bold green]")
    return True


async def _story(
    stack: LocalStack,
    t: Timeline,
    phones: list[Phone],
    step_seconds: float,
    prepare: Callable[[LocalStack], None] | None,
) -> None:
    sandbox, fcm = stack.sandbox, stack.fcm
    t.step("1. ringpush starts (SQLite + the local APNs and FCM sandboxes)")
    t.event(
        "ringpush",
        f"API on {stack.url}, APNs sandbox on {sandbox.url()} (development),"
        f" FCM sandbox on {fcm.url}",
    )
    t.event(
        "operator",
        f"app {stack.app_id!r} ({stack.bundle_id}) created with a .p8 key and a service"
        f" account of Firebase project {DEMO_FCM_PROJECT}",
    )
    if prepare is not None:
        prepare(stack)

    t.step("2. Phones launch and sign in through the SDK")

    async def launch_iphone(name: str, user: str) -> PhoneApp:
        phone = PhoneApp(sandbox.device(name, stack.bundle_id), stack.url, listener=t.event)
        phones.append(phone)
        await t.wait_for(
            lambda: PushType.VOIP in phone.push.tokens,
            f"{name}: ManagedPush got a PushKit token before anyone signed in",
            step_seconds,
        )
        client = await phone.sign_in(await stack.user_token(user))
        token = phone.push.tokens[PushType.VOIP]
        await t.wait_for(
            lambda: phone.push.registered(client) == {PushType.VOIP: token},
            f"{name}: {user} signed in; voip token {mask_device_token(token)} registered"
            f" ({phone.push.environment.value}, from the debug build)",
            step_seconds,
        )
        return phone

    async def launch_android(name: str, user: str) -> AndroidPhoneApp:
        device = fcm.device(name, DEMO_PACKAGE, DEMO_FCM_PROJECT)
        phone = AndroidPhoneApp(device, stack.url, listener=t.event)
        phones.append(phone)
        await t.wait_for(
            lambda: FCM in phone.push.tokens,
            f"{name}: ManagedPush got an FCM token (onNewToken) before anyone signed in",
            step_seconds,
        )
        client = await phone.sign_in(await stack.user_token(user))
        token = phone.push.tokens[FCM]
        await t.wait_for(
            lambda: phone.push.registered(client) == {FCM: token},
            f"{name}: {user} signed in; FCM token {mask_device_token(token)} registered",
            step_seconds,
        )
        return phone

    iphone = await launch_iphone("bob-iphone", "bob")
    android = await launch_android("bob-android", "bob")
    await launch_iphone("alice-iphone", "alice")
    known = {(d["device_id"], d["platform"]) for d in await stack.devices_of("bob")}
    t.check(
        known == {(iphone.device.install_id, "apns"), (android.device_id, "fcm")},
        "ringpush knows 2 devices for bob: an iPhone (APNs VoIP) and an Android phone (FCM)",
    )

    t.step("3. Alice calls Bob")
    t.event("alice-iphone", "taps Call; her app's backend posts /v1/calls for bob")
    call = await stack.start_call("bob", "alice", "Alice")
    for delivery in call["deliveries"]:
        t.event("ringpush", f"/v1/calls answered: {_push_line(phones, delivery)}")
    await t.wait_for(
        lambda: bool(iphone.device.callkit.ringing() and android.ringing),
        "both of bob's devices are ringing (the iPhone reported the call to CallKit, the"
        " Android phone posted its full-screen notification)",
        step_seconds,
    )
    sessions = list(iphone.sessions.values()) + list(android.sessions.values())
    await t.wait_for(
        lambda: len(sessions) == 2 and all(s.connected.is_set() for s in sessions),
        "both follow the call's events from ringpush",
        step_seconds,
    )

    t.step("4. Bob answers on his Android phone")
    t.event("bob-android", "bob taps Answer on the notification")
    android.answer(call["call_id"])
    await t.wait_for(
        lambda: bool(iphone.ended) and not iphone.device.callkit.ringing(),
        "bob-iphone stopped ringing",
        step_seconds,
    )
    t.check(
        iphone.ended[0].outcome is CallOutcome.ANSWERED_ELSEWHERE
        and iphone.ended[0].device_id == android.device_id,
        "bob-iphone learned 'answered on bob-android' from the call's events",
    )
    await android.settled()
    voip = sandbox.notifications(token=iphone.device.tokens[PushType.VOIP])
    t.check(
        len(voip) == 1,
        f"APNs carried {len(voip)} VoIP push for the call: none was sent to stop the ringing",
    )
    state = await stack.calling_service("GET", f"/v1/calls/{call['call_id']}")
    t.check(
        state["state"] == "answered" and state["ended_by_device"] == android.device_id,
        "the call is answered on bob-android",
    )
    shown = [message.notification_shown for message in android.device.messages]
    t.check(
        shown[:1] == [True] and not android.device.deprioritized,
        "bob-android's high-priority message led to a notification: FCM keeps it high",
    )

    t.step("5. Bob deletes the app from his Android phone")
    android.device.uninstall()
    await android.close()
    t.event("bob-android", "app uninstalled: FCM answers 404 UNREGISTERED for its token")
    t.event("alice-iphone", "calls bob again")
    again = await stack.start_call("bob", "alice", "Alice")
    outcome = {d["device_id"]: d for d in again["deliveries"]}
    dead = outcome.get(android.device_id, {})
    t.event(
        "ringpush", f"FCM message to bob-android: FCM {dead.get('status')} {dead.get('reason')}"
    )
    t.check(
        dead.get("status") == 404 and dead.get("reason") == "UNREGISTERED",
        "FCM answered 404 UNREGISTERED for bob-android",
    )
    remaining = [d["device_id"] for d in await stack.devices_of("bob")]
    t.check(
        remaining == [iphone.device.install_id],
        "ringpush removed bob-android's token; bob-iphone's stays",
    )
    await t.wait_for(
        lambda: len(iphone.rings) == 2, "bob-iphone rings for the new call", step_seconds
    )
    t.event("alice-iphone", "hangs up before bob answers")
    await stack.calling_service("POST", f"/v1/calls/{again['call_id']}/end", {"reason": "canceled"})
    await t.wait_for(
        lambda: any(
            e.call_id == again["call_id"] and e.outcome is CallOutcome.CANCELED
            for e in iphone.ended
        ),
        "bob-iphone stopped ringing: canceled (through the call's events)",
        step_seconds,
    )
    production = sandbox.notifications(environment=Environment.PRODUCTION)
    t.check(production == [], "nothing went to the production APNs: debug builds use development")


def _push_line(phones: list[Phone], delivery: dict[str, Any]) -> str:
    """What the server said it did for one device, in its service's words."""
    name = next((p.name for p in phones if _device_id(p) == delivery["device_id"]), "?")
    if delivery["push_type"] == "fcm":
        return f"FCM message to {name}: FCM {delivery['status']}, push id {delivery['apns_id']}"
    return f"VoIP push to {name}: APNs {delivery['status']}, apns-id {delivery['apns_id']}"


def _device_id(phone: Phone) -> str:
    return phone.device_id if isinstance(phone, AndroidPhoneApp) else phone.device.install_id
