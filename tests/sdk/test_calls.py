"""Calls from the phone's side: simulated phones running the SDK the way an app does
(:class:`ringpush.demo.phone_app.PhoneApp`), the real server, the sandbox."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from ringpush.apns.push_type import PushType
from ringpush.demo.phone_app import PhoneApp
from ringpush.local_stack import LocalStack
from ringpush.sandbox import CallKitState
from ringpush.sdk import CallNotRinging, CallOutcome
from tests.sdk.conftest import eventually


async def phone(stack: LocalStack, name: str, user: str, **options: object) -> PhoneApp:
    device = stack.sandbox.device(name, stack.bundle_id, **options)  # type: ignore[arg-type]
    app = PhoneApp(device, stack.url)
    await app.sign_in(await stack.user_token(user))
    async with asyncio.timeout(10):
        await app.push.settled()
    return app


@pytest.fixture
async def bobs(stack: LocalStack) -> AsyncIterator[tuple[PhoneApp, PhoneApp]]:
    """Bob's iPhone and iPad, signed in and registered."""
    iphone, ipad = await phone(stack, "iphone", "bob"), await phone(stack, "ipad", "bob")
    yield iphone, ipad
    await iphone.close()
    await ipad.close()


async def ring(stack: LocalStack, phones: tuple[PhoneApp, ...], **call: Any) -> dict[str, Any]:
    """Call bob; return once every phone rings and follows the call's events."""
    started: dict[str, Any] = await stack.start_call("bob", "alice", **call)
    await eventually(lambda: all(p.device.callkit.ringing() for p in phones))
    async with asyncio.timeout(10):
        for app in phones:
            await eventually(lambda: bool(app.sessions))  # noqa: B023
            for session in app.sessions.values():
                await session.connected.wait()
    return started


def voip_pushes_to(stack: LocalStack, app: PhoneApp) -> int:
    token = app.device.tokens[PushType.VOIP]
    return len(stack.sandbox.notifications(token=token))


async def test_a_call_rings_every_device_and_answering_on_one_stops_the_others(
    stack: LocalStack, bobs: tuple[PhoneApp, PhoneApp]
) -> None:
    iphone, ipad = bobs
    call = await ring(stack, bobs, caller_name="Alice", video=True)
    assert sorted(d["device_id"] for d in call["deliveries"]) == sorted(
        [iphone.device.install_id, ipad.device.install_id]
    )
    [rang] = iphone.rings
    assert (rang.call.call_id, rang.call.handle) == (call["call_id"], "Alice")
    assert rang.call.video
    assert iphone.device.report_failures == ipad.device.report_failures == []

    iphone.device.callkit.answer(rang.call.uuid)  # the user taps Answer on the iPhone
    await eventually(lambda: not ipad.device.callkit.ringing())
    [on_ipad] = ipad.device.callkit.calls.values()
    assert (on_ipad.state, on_ipad.end_reason) == (CallKitState.ENDED, "answeredElsewhere")
    assert ipad.ended[0].outcome is CallOutcome.ANSWERED_ELSEWHERE
    assert ipad.ended[0].device_id == iphone.device.install_id
    [on_iphone] = iphone.device.callkit.calls.values()
    assert on_iphone.state is CallKitState.ANSWERED
    state = await stack.calling_service("GET", f"/v1/calls/{call['call_id']}")
    assert (state["state"], state["ended_by_device"]) == ("answered", iphone.device.install_id)
    # One VoIP push per device, and none to stop the other one ringing.
    await iphone.settled()
    assert voip_pushes_to(stack, iphone) == voip_pushes_to(stack, ipad) == 1


async def test_two_devices_answering_at_once_exactly_one_wins(
    stack: LocalStack, bobs: tuple[PhoneApp, PhoneApp]
) -> None:
    iphone, ipad = bobs
    call = await ring(stack, bobs)
    assert iphone.client is not None and ipad.client is not None
    results = await asyncio.gather(
        iphone.client.answer(call["call_id"]),
        ipad.client.answer(call["call_id"]),
        return_exceptions=True,
    )
    refused = [r for r in results if isinstance(r, BaseException)]
    assert len(refused) == 1 and isinstance(refused[0], CallNotRinging)
    assert "answered" in str(refused[0])
    # The winner answering again is idempotent.
    winner = iphone.client if not isinstance(results[0], BaseException) else ipad.client
    assert (await winner.answer(call["call_id"]))["state"] == "answered"


async def test_declining_on_one_device_ends_the_call_everywhere(
    stack: LocalStack, bobs: tuple[PhoneApp, PhoneApp]
) -> None:
    iphone, ipad = bobs
    call = await ring(stack, bobs)
    iphone.device.callkit.decline(iphone.rings[0].call.uuid)
    await eventually(lambda: bool(ipad.ended))
    assert ipad.ended[0].outcome is CallOutcome.DECLINED_ELSEWHERE
    assert not ipad.device.callkit.ringing()
    state = await stack.calling_service("GET", f"/v1/calls/{call['call_id']}")
    assert (state["state"], state["end_reason"]) == ("ended", "declined")


async def test_a_canceled_call_stops_ringing_on_every_device(
    stack: LocalStack, bobs: tuple[PhoneApp, PhoneApp]
) -> None:
    iphone, ipad = bobs
    call = await ring(stack, bobs)
    await stack.calling_service("POST", f"/v1/calls/{call['call_id']}/end", {"reason": "canceled"})
    await eventually(lambda: len(iphone.ended) == len(ipad.ended) == 1)
    assert {e.outcome for e in iphone.ended + ipad.ended} == {CallOutcome.CANCELED}
    assert not iphone.device.callkit.ringing() and not ipad.device.callkit.ringing()
    [ended] = iphone.device.callkit.calls.values()
    assert ended.end_reason == "remoteEnded"


async def test_unreported_voip_pushes_count_as_failures_and_repeated_ones_stop_delivery(
    stack: LocalStack,
) -> None:
    app = await phone(stack, "careless", "bob", max_report_failures=2)
    app.report_calls = False  # the app's handler never reports to CallKit
    device = app.device
    for attempt in range(3):
        call = await stack.start_call("bob", "alice", call_id=f"call-{attempt}")
        [delivery] = call["deliveries"]
        assert delivery["status"] == 200  # APNs accepts: only the phone knows
        await eventually(lambda: len(device.received) > attempt)  # noqa: B023
        await stack.calling_service("POST", f"/v1/calls/call-{attempt}/end", {"reason": "canceled"})
    assert [p.reported for p in device.received[:2]] == [False, False]
    assert len(device.report_failures) == 2
    assert "not reported to CallKit" in device.report_failures[0].reason
    assert device.voip_blocked_reason is not None
    assert "failed to report 2 VoIP pushes" in device.voip_blocked_reason
    third = device.received[2]
    assert not third.delivered and third.dropped == device.voip_blocked_reason
    assert app.rings == []

    device.reinstall()  # iOS forgives a fresh install
    assert device.voip_blocked_reason is None and device.report_failures == []
    await app.close()


async def test_a_reporting_app_is_never_punished(stack: LocalStack) -> None:
    app = await phone(stack, "good", "bob", max_report_failures=1)
    for attempt in range(3):
        await stack.start_call("bob", "alice", call_id=f"call-{attempt}")
        await eventually(lambda: len(app.rings) > attempt)  # noqa: B023
        await stack.calling_service("POST", f"/v1/calls/call-{attempt}/end", {"reason": "canceled"})
    assert [p.reported for p in app.device.received] == [True, True, True]
    assert app.device.voip_blocked_reason is None
    await app.close()


async def test_uninstall_gives_410_and_the_server_forgets_the_token(stack: LocalStack) -> None:
    iphone, ipad = await phone(stack, "iphone", "bob"), await phone(stack, "ipad", "bob")
    gone = ipad.device.tokens[PushType.VOIP]
    await ipad.close()
    ipad.device.uninstall()
    call = await stack.start_call("bob", "alice")
    outcomes = {d["device_id"]: d for d in call["deliveries"]}
    assert outcomes[iphone.device.install_id]["status"] == 200
    dead = outcomes[ipad.device.install_id]
    assert (dead["status"], dead["reason"]) == (410, "Unregistered")
    assert [d["device_id"] for d in await stack.devices_of("bob")] == [iphone.device.install_id]
    assert stack.sandbox.notifications(token=gone) == []
    # The next call does not even try the dead token.
    await stack.calling_service("POST", f"/v1/calls/{call['call_id']}/end", {"reason": "canceled"})
    again = await stack.start_call("bob", "alice")
    assert [d["device_id"] for d in again["deliveries"]] == [iphone.device.install_id]
    await iphone.close()


@pytest.mark.parametrize("action", ["answer", "decline"])
async def test_only_the_callees_device_may_answer_or_decline(
    stack: LocalStack, action: str
) -> None:
    iphone = await phone(stack, "iphone", "bob")
    call = await stack.start_call("bob", "alice")
    response = await stack.http.post(
        f"/v1/calls/{call['call_id']}/{action}",
        headers={"Authorization": f"Bearer {await stack.user_token('mallory')}"},
        json={"device_id": "x"},
    )
    assert (response.status_code, response.json()["error"]["code"]) == (404, "unknown_call")
    response = await stack.http.post(
        f"/v1/calls/{call['call_id']}/{action}",
        headers={"Authorization": f"Bearer {stack.service_key}"},
        json={"device_id": "x"},
    )
    assert (response.status_code, response.json()["error"]["code"]) == (403, "forbidden")
    await iphone.close()
