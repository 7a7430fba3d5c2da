"""Call events reach the app on whichever instance it listens, and the end-of-call
background push skips exactly the devices listening on any instance."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from ringpush.apns.environment import Environment
from ringpush.apns.push_type import PushType
from ringpush.delivery.call_events import LISTENER_LEASE
from ringpush.delivery.calls import CallService
from ringpush.registry import SecretBox, open_registry
from ringpush.registry.call_models import EndReason
from ringpush.registry.postgres_database import PostgresDatabase
from tests.delivery.conftest import BUNDLE, World


async def ring(world: World, calls: CallService, call_id: str) -> None:
    await world.device("bob", "phone")
    for device in ("phone", "ipad"):
        await world.registry.register_device(
            app_id="demo", user_id="bob", device_id=device, push_type=PushType.ALERT,
            token=world.sandbox.issue_token(BUNDLE, PushType.ALERT, Environment.DEVELOPMENT),
            environment=Environment.DEVELOPMENT, now=world.now(),
        )  # fmt: skip
    await calls.start(
        app_id="demo", call_id=call_id, caller_id="alice", caller_name="Alice",
        callee_user_id="bob", video=False, data={}, ring_seconds=60,
    )  # fmt: skip


async def background_pushes(world: World, call_id: str) -> set[str]:
    pushes = await world.registry.outbox.query(app_id="demo", user_id="bob")
    return {
        p.device_id
        for p in pushes
        if p.push_type is PushType.BACKGROUND and f'"call_id":"{call_id}"' in p.payload.decode()
    }


async def test_an_end_posted_on_one_instance_reaches_a_listener_on_another(
    world: World, database_url: str
) -> None:
    """Instance A is the world's registry, B a second one on the same database. On
    SQLite (one node) both are in this process and share nothing but the file, so the
    event itself travels only on PostgreSQL; the listener rows work on both."""
    other = await open_registry(database_url, SecretBox({"k": b"\3" * 32}, "k"))
    on_a = CallService(world.registry, world.engine, world.now)
    on_b = CallService(other, world.engine, world.now)
    try:
        await ring(world, on_a, "x1")
        async with on_a.events.subscribe("demo", "x1", "ipad") as queue:
            assert await on_b.events.listening_devices("demo", "x1") == {"ipad"}
            ended = await on_b.end("demo", "x1", EndReason.ANSWERED_ELSEWHERE, "phone")
            assert ended.changed
            if database_url.startswith("postgresql"):
                event = await asyncio.wait_for(queue.get(), 10)
                assert event is not None
                assert event["state"] == "answered"
                assert event["device_id"] == "phone"
        # The listening iPad and the answering phone get no background push.
        assert await background_pushes(world, "x1") == set()
        assert await on_b.events.listening_devices("demo", "x1") == set()
    finally:
        await on_a.events.close()
        await on_b.events.close()
        await other.close()


async def test_a_device_not_listening_gets_the_background_push(world: World) -> None:
    calls = CallService(world.registry, world.engine, world.now)
    try:
        await ring(world, calls, "x2")
        await calls.end("demo", "x2", EndReason.ANSWERED_ELSEWHERE, "phone")
        assert await background_pushes(world, "x2") == {"ipad"}
    finally:
        await calls.events.close()


async def test_a_dead_instances_listeners_run_out_after_their_lease(world: World) -> None:
    """An instance that dies holding a stream never renews its rows: the device counts as
    not listening once the lease is over, so it gets its background push again."""
    calls = CallService(world.registry, world.engine, world.now)
    listeners = world.registry.call_listeners
    await listeners.add("demo", "x3", "ipad", "dead-instance", world.now() + LISTENER_LEASE)
    try:
        await ring(world, calls, "x3")
        assert await calls.events.listening_devices("demo", "x3") == {"ipad"}
        world.clock[0] += LISTENER_LEASE + timedelta(seconds=1)
        assert await calls.events.listening_devices("demo", "x3") == set()
        await calls.end("demo", "x3", EndReason.ANSWERED_ELSEWHERE, "phone")
        assert await background_pushes(world, "x3") == {"ipad"}
    finally:
        await calls.events.close()


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_events_keep_flowing_after_the_listening_connection_is_lost(
    world: World, database_url: str
) -> None:
    """PostgreSQL ends the connection that LISTENs (a restart, a failover): the instance
    connects again and listens anew."""
    import asyncpg

    calls = CallService(world.registry, world.engine, world.now)
    try:
        await ring(world, calls, "x4")
        async with calls.events.subscribe("demo", "x4", "ipad") as queue:
            admin = await asyncpg.connect(database_url)
            try:
                killed = await admin.fetchval(
                    """SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
                       WHERE datname = current_database() AND pid <> pg_backend_pid()
                       AND query LIKE 'LISTEN%'"""
                )
            finally:
                await admin.close()
            assert killed == 1
            for _ in range(100):
                await asyncio.sleep(0.05)
                if isinstance(world.registry.db, PostgresDatabase) and world.registry.db.listening:
                    break
            await calls.end("demo", "x4", EndReason.CANCELED)
            event = await asyncio.wait_for(queue.get(), 10)
            assert event is not None
            assert event["state"] == "ended" and event["reason"] == "canceled"
    finally:
        await calls.events.close()


async def test_closing_the_hub_ends_every_stream_and_frees_its_listener_rows(
    world: World,
) -> None:
    """A stopping instance: each subscriber gets None (end the stream, reconnect
    elsewhere), a subscription that comes after gets None at once, and the devices no
    longer count as listening, so the end-of-call background push reaches them."""
    calls = CallService(world.registry, world.engine, world.now)
    await ring(world, calls, "x5")
    async with calls.events.subscribe("demo", "x5", "ipad") as queue:
        assert await calls.events.listening_devices("demo", "x5") == {"ipad"}
        await calls.events.close()
        assert await asyncio.wait_for(queue.get(), 1) is None
    assert await calls.events.listening_devices("demo", "x5") == set()
    async with calls.events.subscribe("demo", "x5", "phone") as late:
        assert late.get_nowait() is None
    assert await calls.events.listening_devices("demo", "x5") == set()
