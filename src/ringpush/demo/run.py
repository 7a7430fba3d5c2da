"""``ringpush demo``: the whole call path on simulated phones, checked step by step.

Starts the sandbox and the server in this process, creates an app, signs in two phones
for bob and one for alice through the SDK, has alice call bob, shows both of bob's
phones ringing, answers on one and shows the other stop ringing through the call's
events (no second VoIP push), then uninstalls a phone and shows the 410 clean-up.
Every line marked ✓ was verified; the demo returns False at the first claim that fails.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

from rich.console import Console

from ringpush.apns.device_token import mask_device_token
from ringpush.apns.environment import Environment
from ringpush.apns.push_type import PushType
from ringpush.demo.phone_app import PhoneApp
from ringpush.demo.timeline import DemoFailed, Timeline
from ringpush.local_stack import LocalStack
from ringpush.sdk import CallOutcome


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
            phones: list[PhoneApp] = []
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
    phones: list[PhoneApp],
    step_seconds: float,
    prepare: Callable[[LocalStack], None] | None,
) -> None:
    sandbox = stack.sandbox
    t.step("1. ringpush starts (SQLite + the local APNs sandbox)")
    t.event("ringpush", f"API on {stack.url}, APNs sandbox on {sandbox.url()} (development)")
    t.event("operator", f"app {stack.app_id!r} ({stack.bundle_id}) created with a .p8 key")
    if prepare is not None:
        prepare(stack)

    t.step("2. Phones launch and sign in through the SDK")

    async def launch(name: str, user: str) -> PhoneApp:
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

    iphone = await launch("bob-iphone", "bob")
    ipad = await launch("bob-ipad", "bob")
    await launch("alice-iphone", "alice")
    bob_devices = await stack.devices_of("bob")
    t.check(len(bob_devices) == 2, "ringpush knows 2 VoIP devices for bob")

    t.step("3. Alice calls Bob")
    t.event("alice-iphone", "taps Call; her app's backend posts /v1/calls for bob")
    call = await stack.start_call("bob", "alice", "Alice")
    for delivery in call["deliveries"]:
        t.event(
            "ringpush",
            f"/v1/calls answered: VoIP push to {_name(phones, delivery['device_id'])}:"
            f" APNs {delivery['status']}, apns-id {delivery['apns_id']}",
        )
    await t.wait_for(
        lambda: bool(iphone.device.callkit.ringing() and ipad.device.callkit.ringing()),
        "both of bob's devices are ringing (each reported the call to CallKit)",
        step_seconds,
    )
    sessions = list(iphone.sessions.values()) + list(ipad.sessions.values())
    await t.wait_for(
        lambda: all(s.connected.is_set() for s in sessions),
        "both follow the call's events from ringpush",
        step_seconds,
    )

    t.step("4. Bob answers on his iPhone")
    t.event("bob-iphone", "bob taps Answer")
    iphone.device.callkit.answer(iphone.rings[0].call.uuid)
    await t.wait_for(
        lambda: bool(ipad.ended) and not ipad.device.callkit.ringing(),
        "bob-ipad stopped ringing",
        step_seconds,
    )
    t.check(
        ipad.ended[0].outcome is CallOutcome.ANSWERED_ELSEWHERE
        and ipad.ended[0].device_id == iphone.device.install_id,
        "bob-ipad learned 'answered on bob-iphone' from the call's events",
    )
    await iphone.settled()
    voip = [
        r
        for phone in (iphone, ipad)
        for r in sandbox.notifications(token=phone.device.tokens[PushType.VOIP])
    ]
    t.check(
        len(voip) == 2,
        f"APNs carried {len(voip)} VoIP pushes for the call, one per device:"
        " none was sent to stop the ringing",
    )
    state = await stack.calling_service("GET", f"/v1/calls/{call['call_id']}")
    t.check(
        state["state"] == "answered" and state["ended_by_device"] == iphone.device.install_id,
        "the call is answered on bob-iphone",
    )

    t.step("5. Bob deletes the app from his iPad")
    at_ms = ipad.device.uninstall()
    await ipad.close()
    t.event("bob-ipad", f"app uninstalled: APNs answers 410 for its token from {at_ms} ms")
    t.event("alice-iphone", "calls bob again")
    again = await stack.start_call("bob", "alice", "Alice")
    outcome = {d["device_id"]: d for d in again["deliveries"]}
    dead = outcome.get(ipad.device.install_id, {})
    t.event("ringpush", f"VoIP push to bob-ipad: APNs {dead.get('status')} {dead.get('reason')}")
    t.check(
        dead.get("status") == 410 and dead.get("reason") == "Unregistered",
        "APNs answered 410 Unregistered for bob-ipad",
    )
    remaining = [d["device_id"] for d in await stack.devices_of("bob")]
    t.check(
        remaining == [iphone.device.install_id],
        "ringpush removed bob-ipad's token; bob-iphone's stays",
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


def _name(phones: list[PhoneApp], device_id: str) -> str:
    return next((p.name for p in phones if p.device.install_id == device_id), device_id)
