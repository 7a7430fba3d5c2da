"""Calls at the service level: ring timeout, withdrawal, payload."""

from __future__ import annotations

import json
from datetime import timedelta

from ringpush.delivery.calls import CallService
from ringpush.registry.call_models import CallState, EndReason
from ringpush.registry.outbox_models import PushState
from tests.delivery.conftest import World


def service(world: World) -> CallService:
    return CallService(world.registry, world.engine, world.now)


async def test_an_unanswered_call_ends_by_itself_with_timeout(world: World) -> None:
    calls = service(world)
    await world.device("bob", "phone")
    started = await calls.start(
        app_id="demo", call_id="t1", caller_id="alice", caller_name="Alice",
        callee_user_id="bob", video=False, data={}, ring_seconds=30,
    )  # fmt: skip
    assert await calls.expire_overdue() == 0
    world.clock[0] += timedelta(seconds=30)
    assert await calls.expire_overdue() == 1
    call = await world.registry.calls.get("demo", "t1")
    assert call is not None
    assert (call.state, call.end_reason) == (CallState.ENDED, EndReason.TIMEOUT)
    [push] = started.pushes
    assert (await world.state_of(push)).state is PushState.WITHDRAWN


async def test_the_voip_payload_has_what_callkit_needs(world: World) -> None:
    calls = service(world)
    await world.device("bob", "phone")
    started = await calls.start(
        app_id="demo", call_id="p1", caller_id="+15551234", caller_name="Alice",
        callee_user_id="bob", video=True, data={"room": "x"}, ring_seconds=45,
    )  # fmt: skip
    [push] = started.pushes
    body = json.loads(push.payload)
    assert body["ringpush"]["call_id"] == "p1"
    assert body["ringpush"]["caller"] == {"id": "+15551234", "name": "Alice"}
    assert body["ringpush"]["video"] is True
    assert body["ringpush"]["ring_until"] - body["ringpush"]["sent_at"] == 45_000
    assert body["data"] == {"room": "x"}
    assert push.expiration == 0
    assert push.priority == 10
    assert push.not_after == started.call.ring_until
