"""Apps are cached in memory by every instance; a change made on one instance reaches
the others through the database's notifications, well within a second."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from ringpush.apns.environment import Environment
from ringpush.apns.push_type import PushType
from ringpush.delivery.clients import ApnsClients
from ringpush.delivery.engine import DeliveryEngine
from ringpush.registry import SecretBox, open_registry
from ringpush.registry.outbox_models import PushState
from ringpush.sandbox import Sandbox
from tests.delivery.conftest import World


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_an_app_changed_on_instance_a_is_used_by_instance_b(
    world: World, database_url: str
) -> None:
    other = await open_registry(database_url, SecretBox({"k": b"\3" * 32}, "k"))
    clients = ApnsClients(request_timeout=5, tokens=other.provider_tokens)
    b = DeliveryEngine(other, clients, clock=world.now)
    moved = Sandbox()
    app = await world.registry.get_app("demo")
    assert app is not None and app.key_id and app.team_id and app.signing_key_pem
    moved.register_key(app.key_id, app.team_id, app.signing_key_pem)
    await moved.start(control_port=None)
    try:
        await b.listen()
        device = await world.device("bob", "phone")
        first = await world.enqueue(device)
        assert await b.run_once() == 1  # B caches the app as it was
        assert (await world.state_of(first)).state is PushState.DELIVERED
        assert len(world.sandbox.notifications()) == 1

        heard: asyncio.Future[str] = asyncio.get_running_loop().create_future()

        def changed(app_id: str) -> None:
            if not heard.done():
                heard.set_result(app_id)

        b.apps.subscribe(changed)
        # A points the app at another APNs (token registered there too).
        await world.registry.put_app(
            dataclasses.replace(app, apns_url_development=moved.url(), ca_pem=moved.ca_pem)
        )
        assert await asyncio.wait_for(heard, 1.0) == "demo"
        assert isinstance(device.environment, Environment)
        moved.add_token(device.token, "com.example.app", PushType.VOIP, device.environment)
        second = await world.enqueue(device)
        assert await b.run_once() == 1
        assert (await world.state_of(second)).state is PushState.DELIVERED
        assert [r.apns_id for r in moved.notifications()] == [second.apns_id]
        assert len(world.sandbox.notifications()) == 1

        # Deleted on A: B fails the next push at once instead of sending it.
        await world.registry.delete_app("demo")
        await asyncio.sleep(0.2)
        assert await b.apps.get("demo") is None
    finally:
        await b.stop()
        await clients.close()
        await other.close()
        await moved.stop()
