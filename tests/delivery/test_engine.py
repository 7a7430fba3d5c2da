"""The delivery loop over the sandbox: outcomes, token clean-up, healing, retries."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from ringpush.apns.environment import Environment
from ringpush.delivery.clients import ApnsClients
from ringpush.delivery.engine import DeliveryEngine
from ringpush.registry.models import Device
from ringpush.registry.outbox_models import OutboxPush, PushState
from tests.delivery.conftest import World


async def test_a_queued_voip_push_is_delivered_and_recorded(world: World) -> None:
    device = await world.device("bob", "phone")
    push = await world.enqueue(device)
    assert await world.engine.run_once() == 1
    stored = await world.state_of(push)
    assert (stored.state, stored.status, stored.attempts) == (PushState.DELIVERED, 200, 1)
    [record] = world.sandbox.notifications(token=device.token)
    assert record.apns_id == push.apns_id
    assert record.headers["apns-expiration"] == "0"
    assert await world.engine.run_once() == 0


async def test_unregistered_token_is_removed(world: World) -> None:
    device = await world.device("bob", "phone")
    world.sandbox.uninstall(device.token)
    push = await world.enqueue(device)
    await world.engine.run_once()
    assert (await world.state_of(push)).state is PushState.DROPPED
    assert await world.registry.devices_of_user("demo", "bob") == []


async def test_410_keeps_a_token_registered_again_after_the_timestamp(world: World) -> None:
    device = await world.device("bob", "phone")
    world.sandbox.uninstall(device.token)
    push = await world.enqueue(device)
    # The app registers the same token again after APNs's timestamp.
    world.clock[0] += timedelta(seconds=5)
    await world.registry.register_device(
        app_id="demo",
        user_id="bob",
        device_id="phone",
        push_type=device.push_type,
        token=device.token,
        environment=device.environment,
        now=world.now(),
    )
    await world.engine.run_once()
    assert (await world.state_of(push)).state is PushState.DROPPED
    assert len(await world.registry.devices_of_user("demo", "bob")) == 1


async def test_wrong_environment_is_healed_through_the_other_host(world: World) -> None:
    """A development token registered as production: BadDeviceToken, then accepted on
    the development host, and the device's stored environment is corrected."""
    device = await world.device(
        "bob", "phone", issued_for=Environment.DEVELOPMENT, registered_as=Environment.PRODUCTION
    )
    push = await world.enqueue(device)
    await world.engine.run_once()  # production host: BadDeviceToken
    retried = await world.state_of(push)
    assert retried.state is PushState.PENDING
    assert retried.environment is Environment.DEVELOPMENT
    await world.engine.run_once()  # development host: accepted
    stored = await world.state_of(push)
    assert (stored.state, stored.attempts) == (PushState.DELIVERED, 2)
    [healed] = await world.registry.devices_of_user("demo", "bob")
    assert healed.environment is Environment.DEVELOPMENT


async def test_a_garbage_token_is_dropped_after_both_hosts_refuse_it(world: World) -> None:
    device = await world.device("bob", "phone")
    bogus = await world.registry.register_device(
        app_id="demo",
        user_id="bob",
        device_id="tablet",
        push_type=device.push_type,
        token="cd" * 32,
        environment=Environment.DEVELOPMENT,
        now=world.now(),
    )
    push = await world.enqueue(bogus.device)
    await world.engine.run_once()
    await world.engine.run_once()
    stored = await world.state_of(push)
    assert stored.state is PushState.DROPPED
    assert stored.reason == "BadDeviceToken"
    assert [d.device_id for d in await world.registry.devices_of_user("demo", "bob")] == ["phone"]


async def test_server_errors_are_retried_with_backoff_then_delivered(world: World) -> None:
    device = await world.device("bob", "phone")
    push = await world.enqueue(device)
    world.sandbox.faults.update({"error_rate": 1.0, "error_status": 503})
    await world.engine.run_once()
    waiting = await world.state_of(push)
    assert (waiting.state, waiting.status) == (PushState.PENDING, 503)
    assert waiting.next_attempt_at > world.now()
    world.sandbox.faults.update({"error_rate": 0.0})
    assert await world.engine.run_once() == 0  # not due yet
    world.clock[0] = waiting.next_attempt_at
    await world.engine.run_once()
    done = await world.state_of(push)
    assert (done.state, done.attempts) == (PushState.DELIVERED, 2)
    assert len(world.sandbox.notifications(token=device.token)) == 1


async def test_voip_retries_stop_when_the_ring_time_is_over(world: World) -> None:
    device = await world.device("bob", "phone")
    push = await world.enqueue(device, ring_seconds=0.2)
    world.sandbox.faults.update({"error_rate": 1.0, "error_status": 500})
    await world.engine.run_once()
    world.clock[0] += timedelta(seconds=5)
    await world.engine.run_once()
    stored = await world.state_of(push)
    assert stored.state is PushState.FAILED
    assert stored.reason is not None
    assert "ring time over" in stored.reason
    assert world.sandbox.notifications(token=device.token) == []


async def test_a_withdrawn_push_is_never_sent(world: World) -> None:
    device = await world.device("bob", "phone")
    push = await world.enqueue(device)
    assert await world.registry.outbox.withdraw_call("demo", "c1", world.now()) == 1
    assert await world.engine.run_once() == 0
    assert (await world.state_of(push)).state is PushState.WITHDRAWN
    assert world.sandbox.notifications(token=device.token) == []


async def being_sent(world: World, apns_latency_ms: int) -> tuple[Device, OutboxPush]:
    """A push the running engine has claimed and is sending; APNs answers it late."""
    world.sandbox.faults.latency_ms = apns_latency_ms
    device = await world.device("bob", "phone")
    push = await world.enqueue(device)
    world.engine.start()
    for _ in range(500):
        if (await world.state_of(push)).state is PushState.SENDING:
            return device, push
        await asyncio.sleep(0.02)
    raise AssertionError("the engine never claimed the push")


async def test_a_stopping_engine_waits_for_answers_already_on_their_way(world: World) -> None:
    device, push = await being_sent(world, apns_latency_ms=300)
    await world.engine.stop(drain=10)
    assert (await world.state_of(push)).state is PushState.DELIVERED
    assert len(world.sandbox.notifications(token=device.token)) == 1


async def test_a_stopping_engine_hands_back_what_it_cannot_finish(world: World) -> None:
    """APNs is slower than the drain: the push goes back to the outbox due now, and the
    next instance sends it at once instead of after the 60 s lease."""
    _, push = await being_sent(world, apns_latency_ms=5000)
    await world.engine.stop(drain=0.2)
    handed_back = await world.state_of(push)
    assert handed_back.state is PushState.PENDING
    assert handed_back.next_attempt_at <= world.now()
    world.sandbox.faults.latency_ms = 0
    clients = ApnsClients(tokens=world.registry.provider_tokens)
    other = DeliveryEngine(world.registry, clients, clock=world.now)
    try:
        assert await other.run_once() == 1
        assert (await world.state_of(push)).state is PushState.DELIVERED
    finally:
        await clients.close()
