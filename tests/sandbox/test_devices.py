"""Simulated iPhones: tokens through a PushKit-like delegate, delivery of accepted pushes
over the real HTTP/2 sandbox, the iOS 13 CallKit rule, uninstall and reinstall."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from ringpush.apns.environment import Environment
from ringpush.apns.push_type import PushType
from ringpush.sandbox import CallKitState, Sandbox, SimulatedDevice
from ringpush.sandbox.callkit import CALL_UUID_ALREADY_EXISTS, CallKit

from .conftest import BUNDLE, Clock, Signer
from .test_control_api import push


class App:
    """The app's PushKit delegate; reports VoIP pushes to CallKit unless told not to."""

    def __init__(self, device: SimulatedDevice, *, report: bool = True) -> None:
        self.device = device
        self.report = report
        self.crash = False
        self.tokens: dict[PushType, str] = {}
        self.invalidated: list[PushType] = []
        self.pushes: list[dict[str, Any]] = []

    def did_update_token(self, push_type: PushType, token: str) -> None:
        self.tokens[push_type] = token

    def did_invalidate_token(self, push_type: PushType) -> None:
        self.invalidated.append(push_type)
        self.tokens.pop(push_type, None)

    def did_receive_push(self, push_type: PushType, payload: dict[str, Any]) -> None:
        self.pushes.append(payload)
        if self.crash:
            raise RuntimeError("boom")
        if self.report:
            self.device.callkit.report_new_incoming_call(uuid.uuid4(), "Alice")


@pytest.fixture
async def sandbox(clock: Clock, signer: Signer) -> AsyncIterator[Sandbox]:
    server = Sandbox([signer.sandbox_key()], clock=clock)
    await server.start(control_port=0, environments=tuple(Environment))
    try:
        yield server
    finally:
        await server.stop()


async def until(check: Any) -> None:
    async with asyncio.timeout(5):
        while not check():
            await asyncio.sleep(0.005)


async def test_tokens_arrive_later_through_the_delegate_one_per_type(sandbox: Sandbox) -> None:
    phone = sandbox.device("phone", BUNDLE)
    app = App(phone)
    phone.register({PushType.VOIP, PushType.ALERT}, app)
    assert app.tokens == {}  # like PushKit: not inside the call
    await until(lambda: len(app.tokens) == 2)
    assert app.tokens == phone.tokens
    assert app.tokens[PushType.VOIP] != app.tokens[PushType.ALERT]


async def test_an_accepted_voip_push_reaches_the_app_which_reports_it(
    sandbox: Sandbox, signer: Signer
) -> None:
    phone = sandbox.device("phone", BUNDLE)
    app = App(phone)
    phone.register({PushType.VOIP}, app)
    await until(lambda: app.tokens)
    response = await push(sandbox, app.tokens[PushType.VOIP], signer.authorization())
    assert response.status_code == 200
    await until(lambda: app.pushes)
    assert app.pushes == [{"call_id": "c9"}]
    [received] = phone.received
    assert received.apns_id == response.headers["apns-id"]
    assert received.reported is True and received.delivered
    [ringing] = phone.callkit.ringing()
    assert ringing.handle == "Alice" and ringing.state is CallKitState.RINGING
    assert phone.report_failures == []


async def test_a_token_of_the_other_environment_is_refused_and_never_delivered(
    sandbox: Sandbox, signer: Signer
) -> None:
    phone = sandbox.device("phone", BUNDLE, Environment.PRODUCTION)
    app = App(phone)
    phone.register({PushType.VOIP}, app)
    await until(lambda: app.tokens)
    response = await push(sandbox, app.tokens[PushType.VOIP], signer.authorization())
    assert response.json() == {"reason": "BadDeviceToken"}
    await asyncio.sleep(0.05)
    assert phone.received == [] and app.pushes == []


async def test_a_handler_that_raises_or_does_not_report_is_a_failure_and_then_voip_stops(
    sandbox: Sandbox, signer: Signer
) -> None:
    phone = sandbox.device("phone", BUNDLE, max_report_failures=2)
    app = App(phone, report=False)
    phone.register({PushType.VOIP}, app)
    await until(lambda: app.tokens)
    token = app.tokens[PushType.VOIP]
    await push(sandbox, token, signer.authorization())
    await until(lambda: phone.report_failures)
    app.crash = True
    await push(sandbox, token, signer.authorization())
    await until(lambda: len(phone.report_failures) == 2)
    assert phone.voip_blocked_reason is not None
    answered = await push(sandbox, token, signer.authorization())
    assert answered.status_code == 200  # APNs does not know
    await until(lambda: len(phone.received) == 3)
    assert len(app.pushes) == 2 and phone.received[2].dropped == phone.voip_blocked_reason

    async with httpx.AsyncClient(base_url=sandbox.control_url) as http:
        control = await http.get("/devices")
    [shown] = control.json()
    assert shown["voip_blocked_reason"] == phone.voip_blocked_reason
    assert len(shown["report_failures"]) == 2 and shown["dropped"] == 1
    assert token not in control.text  # tokens are shown masked


async def test_with_a_deadline_a_late_report_still_counts(sandbox: Sandbox, signer: Signer) -> None:
    phone = sandbox.device("phone", BUNDLE, report_deadline=0.5)
    app = App(phone, report=False)
    phone.register({PushType.VOIP}, app)
    await until(lambda: app.tokens)
    await push(sandbox, app.tokens[PushType.VOIP], signer.authorization())
    await until(lambda: app.pushes)
    assert phone.received[0].reported is None  # the deadline runs
    phone.callkit.report_new_incoming_call(uuid.uuid4(), "Alice")
    assert phone.received[0].reported is True
    await asyncio.sleep(0.6)
    assert phone.report_failures == []


def test_a_duplicate_call_uuid_is_refused_by_callkit_but_counts_as_a_report() -> None:
    reports: list[int] = []
    callkit = CallKit(lambda: 0.0, lambda: reports.append(1))
    call = uuid.uuid4()
    assert callkit.report_new_incoming_call(call, "Alice") is None
    assert callkit.report_new_incoming_call(call, "Alice") == CALL_UUID_ALREADY_EXISTS
    assert len(reports) == 2
    with pytest.raises(LookupError):
        callkit.answer(uuid.uuid4())


async def test_dropping_a_push_type_invalidates_its_token(sandbox: Sandbox, signer: Signer) -> None:
    phone = sandbox.device("phone", BUNDLE)
    app = App(phone)
    phone.register({PushType.VOIP, PushType.ALERT}, app)
    await until(lambda: len(app.tokens) == 2)
    voip = app.tokens[PushType.VOIP]
    phone.register({PushType.ALERT}, app)
    await until(lambda: app.invalidated == [PushType.VOIP])
    response = await push(sandbox, voip, signer.authorization())
    assert response.status_code == 410


async def test_uninstall_410s_every_token_and_reinstall_starts_fresh(
    sandbox: Sandbox, signer: Signer, clock: Clock
) -> None:
    phone = sandbox.device("phone", BUNDLE)
    app = App(phone)
    phone.register({PushType.VOIP}, app)
    await until(lambda: app.tokens)
    old_install, token = phone.install_id, app.tokens[PushType.VOIP]
    at_ms = phone.uninstall()
    response = await push(sandbox, token, signer.authorization())
    assert response.status_code == 410
    assert response.json() == {"reason": "Unregistered", "timestamp": at_ms}
    with pytest.raises(RuntimeError, match="not installed"):
        phone.register({PushType.VOIP}, app)
    phone.reinstall()
    assert phone.install_id != old_install and phone.tokens == {}
    again = App(phone)
    phone.register({PushType.VOIP}, again)
    await until(lambda: again.tokens)
    assert again.tokens[PushType.VOIP] != token
    with pytest.raises(ValueError, match="exists"):
        sandbox.device("phone", BUNDLE)
