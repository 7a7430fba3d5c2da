"""One user's devices are capped (20 by default): a new one beyond it is 409, and a call's
fan-out never exceeds the cap, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from ringpush.apns.environment import Environment
from ringpush.apns.push_type import PushType
from ringpush.server.rate_limits import RateLimitSettings
from ringpush.server.state import DEFAULT_MAX_DEVICES_PER_USER
from tests.server.stack import Stack, running_stack

CAP = DEFAULT_MAX_DEVICES_PER_USER


@pytest.fixture
async def stack(database_url: str) -> AsyncIterator[Stack]:
    # Registrations at test speed: the per-user rate limit is not what is tested here.
    async with running_stack(database_url, RateLimitSettings(registrations=0)) as running:
        yield running


async def test_a_device_beyond_the_cap_is_refused_and_changes_nothing(stack: Stack) -> None:
    bob = await stack.user("bob")
    for n in range(CAP):
        await stack.device(bob, f"phone-{n}")
    one_more = await stack.register(bob, "phone-extra")
    assert one_more.status_code == 409, one_more.text
    assert one_more.json()["error"]["code"] == "too_many_devices"
    listed = await stack.http.get("/v1/devices", headers=bob)
    assert len(listed.json()) == CAP
    # a device already there may change its token or add a push type
    new_token = stack.sandbox.issue_token("com.example.app", PushType.VOIP, Environment.DEVELOPMENT)
    changed = await stack.http.put(
        "/v1/devices/phone-0",
        headers=bob,
        json={"token": new_token, "push_type": "voip", "environment": "development"},
    )
    assert changed.status_code == 200, changed.text
    alert = stack.sandbox.issue_token("com.example.app", PushType.ALERT, Environment.DEVELOPMENT)
    added = await stack.http.put(
        "/v1/devices/phone-1",
        headers=bob,
        json={"token": alert, "push_type": "alert", "environment": "development"},
    )
    assert added.status_code == 201, added.text
    # another user is not affected, and a freed place can be taken
    await stack.device(await stack.user("alice"), "alice-phone")
    assert (await stack.http.delete("/v1/devices/phone-2", headers=bob)).status_code == 204
    await stack.device(bob, "phone-extra")


async def test_a_call_rings_at_most_the_cap_the_most_recently_seen(stack: Stack) -> None:
    """Devices registered before the cap existed (here: straight into the registry): the
    call rings the CAP seen most recently."""
    start = datetime.now(UTC) - timedelta(hours=1)
    tokens = []
    for n in range(CAP + 5):
        token = stack.sandbox.issue_token("com.example.app", PushType.VOIP, Environment.DEVELOPMENT)
        tokens.append(token)
        await stack.registry.register_device(
            app_id="demo",
            user_id="bob",
            device_id=f"phone-{n}",
            push_type=PushType.VOIP,
            token=token,
            environment=Environment.DEVELOPMENT,
            now=start + timedelta(minutes=n),
        )
    call = await stack.http.post(
        "/v1/calls", headers=stack.service, json={"caller_id": "alice", "callee_user_id": "bob"}
    )
    assert call.status_code == 201, call.text
    rung = {d["device_id"] for d in call.json()["deliveries"]}
    assert rung == {f"phone-{n}" for n in range(5, CAP + 5)}
