"""Every push that fails, is dropped or loses its token leaves one log line naming the
app, the device, the push type, APNs's status and reason (or the transport failure) and
the attempt; never the token, the signing key or the payload."""

from __future__ import annotations

import asyncio
import logging

import pytest

from ringpush.delivery.clients import ApnsClients
from ringpush.delivery.engine import DeliveryEngine
from ringpush.registry import App
from ringpush.registry.outbox_models import PushState
from tests.delivery.conftest import BUNDLE, World


def lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records]


def assert_no_secret(caplog: pytest.LogCaptureFixture, *secrets: str) -> None:
    text = "\n".join(lines(caplog))
    for secret in secrets:
        assert secret not in text


async def test_a_dropped_token_leaves_one_line_without_secrets(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="ringpush")
    device = await world.device("bob", "phone")
    world.sandbox.uninstall(device.token)
    push = await world.enqueue(device)
    await world.engine.run_once()
    assert (await world.state_of(push)).state is PushState.DROPPED
    [line] = [text for text in lines(caplog) if "dropped" in text]
    for part in ("app=demo", "device=phone", "push_type=voip", "status=410"):
        assert part in line
    assert "reason=Unregistered" in line and "attempt=1" in line and "token removed" in line
    app = await world.registry.get_app("demo")
    assert app is not None and app.signing_key_pem is not None
    assert_no_secret(caplog, device.token, push.payload.decode(), app.signing_key_pem.decode())


async def test_a_transport_failure_is_named_in_the_log_and_the_metrics(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="ringpush")
    key_app = await world.registry.get_app("demo")
    assert key_app is not None
    await world.registry.put_app(
        App(
            "gone",
            BUNDLE,
            key_app.team_id,
            key_app.key_id,
            key_app.default_environment,
            signing_key_pem=key_app.signing_key_pem,
            apns_base_url="https://127.0.0.1:1",  # nothing listens there
            ca_pem=key_app.ca_pem,
        )
    )
    device = await world.device("bob", "phone")
    # A call push whose ring time ends before any retry could go.
    push = await world.enqueue(device, ring_seconds=0.01)
    await world.registry.db.execute(
        "UPDATE outbox SET app_id = 'gone' WHERE push_id = ?", (push.push_id,)
    )
    await world.engine.run_once()
    failed = await world.state_of(push)
    assert failed.state is PushState.FAILED
    [line] = [text for text in lines(caplog) if text.startswith("push failed")]
    assert "app=gone" in line and "device=phone" in line and "reason=connect_failed" in line
    sample = world.engine.metrics.registry.get_sample_value(
        "ringpush_pushes_total",
        {"push_type": "voip", "outcome": "retry", "reason": "connect_failed"},
    )
    assert sample == 1.0
    assert_no_secret(caplog, device.token)


async def test_a_push_of_a_deleted_app_fails_and_answers_its_watchers(world: World) -> None:
    """The app is deleted (its outbox rows with it) while a request hands one of its
    pushes to the engine: the push fails as "app deleted" and its watcher hears it."""
    device = await world.device("bob", "phone")
    push = await world.enqueue(device)
    waiting = world.engine.answers.watch(push.push_id)
    clients = ApnsClients(tokens=world.registry.provider_tokens)
    engine = DeliveryEngine(world.registry, clients, clock=world.now, answers=world.engine.answers)
    try:
        assert await world.registry.delete_app("demo")
        assert await world.registry.outbox.get(push.push_id) is None  # purged with it
        await engine.deliver([push])
    finally:
        await clients.close()
    answer = await asyncio.wait_for(waiting, 10)
    assert answer is not None
    assert (answer.state, answer.reason) == (PushState.FAILED, "app deleted")
    assert world.engine.answers.watching == 0
