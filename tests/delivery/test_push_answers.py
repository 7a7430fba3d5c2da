"""A request waiting for its pushes' first answers learns them even when another instance
sent the pushes (the answers travel by the database's notifications)."""

from __future__ import annotations

import asyncio

import pytest

from ringpush.delivery.clients import ApnsClients
from ringpush.delivery.engine import DeliveryEngine
from ringpush.registry import SecretBox, open_registry
from ringpush.registry.outbox_models import PushState
from tests.delivery.conftest import World


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_an_answer_recorded_by_another_instance_wakes_the_waiting_one(
    world: World, database_url: str
) -> None:
    other = await open_registry(database_url, SecretBox({"k": b"\3" * 32}, "k"))
    clients = ApnsClients(request_timeout=5, tokens=other.provider_tokens)
    sender = DeliveryEngine(other, clients, clock=world.now)
    try:
        await world.engine.listen()
        push = await world.enqueue(await world.device("bob", "phone"))
        waiting = world.engine.answers.watch(push.push_id)
        assert await sender.run_once() == 1  # instance B sends it
        await asyncio.wait_for(waiting, 5)  # instance A hears of it
        assert (await world.state_of(push)).state is PushState.DELIVERED
        late = world.engine.answers.watch(push.push_id)  # a watch starting afterwards
        assert late.done()
    finally:
        await sender.stop()
        await clients.close()
        await other.close()
