"""Delivery against the real sandbox (both environments) and a real database: each test
runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from ringpush.apns.credentials import generate_signing_key
from ringpush.apns.environment import Environment
from ringpush.apns.push_type import PushType
from ringpush.delivery.clients import ApnsClients
from ringpush.delivery.engine import DeliveryEngine
from ringpush.registry import App, SecretBox, SqlRegistry, open_registry
from ringpush.registry.models import Device
from ringpush.registry.outbox_models import OutboxPush, PushState
from ringpush.sandbox import Sandbox

BUNDLE = "com.example.app"


@dataclass
class World:
    sandbox: Sandbox
    registry: SqlRegistry
    engine: DeliveryEngine
    clock: list[datetime]

    def now(self) -> datetime:
        return self.clock[0]

    async def device(
        self,
        user: str,
        device_id: str,
        *,
        issued_for: Environment = Environment.DEVELOPMENT,
        registered_as: Environment | None = None,
    ) -> Device:
        token = self.sandbox.issue_token(BUNDLE, PushType.VOIP, issued_for)
        result = await self.registry.register_device(
            app_id="demo",
            user_id=user,
            device_id=device_id,
            push_type=PushType.VOIP,
            token=token,
            environment=registered_as or issued_for,
            now=self.now(),
        )
        return result.device

    async def enqueue(self, device: Device, *, ring_seconds: float = 60) -> OutboxPush:
        push = OutboxPush(
            push_id=str(uuid.uuid4()),
            app_id=device.app_id,
            user_id=device.user_id,
            device_id=device.device_id,
            push_type=device.push_type,
            environment=device.environment,
            token=device.token,
            apns_id=str(uuid.uuid4()),
            payload=b'{"call_id":"c1"}',
            state=PushState.PENDING,
            next_attempt_at=self.now(),
            created_at=self.now(),
            updated_at=self.now(),
            priority=10,
            expiration=0,
            call_id="c1",
            not_after=self.now() + timedelta(seconds=ring_seconds),
        )
        await self.registry.outbox.enqueue([push])
        return push

    async def state_of(self, push: OutboxPush) -> OutboxPush:
        stored = await self.registry.outbox.get(push.push_id)
        assert stored is not None
        return stored


@pytest.fixture
async def world(database_url: str) -> AsyncIterator[World]:
    key = generate_signing_key()
    sandbox = Sandbox()
    sandbox.register_key(key.key_id, key.team_id, key.pem)
    await sandbox.start(
        control_port=None, environments=(Environment.DEVELOPMENT, Environment.PRODUCTION)
    )
    registry = await open_registry(database_url, SecretBox({"k": b"\3" * 32}, "k"))
    await registry.put_app(
        App(
            "demo",
            BUNDLE,
            key.team_id,
            key.key_id,
            Environment.DEVELOPMENT,
            signing_key_pem=key.pem,
            apns_url_development=sandbox.url(Environment.DEVELOPMENT),
            apns_url_production=sandbox.url(Environment.PRODUCTION),
            ca_pem=sandbox.ca_pem,
        )
    )
    clock = [datetime.now(UTC)]
    clients = ApnsClients(request_timeout=5, tokens=registry.provider_tokens)
    engine = DeliveryEngine(registry, clients, clock=lambda: clock[0])
    try:
        yield World(sandbox, registry, engine, clock)
    finally:
        await clients.close()
        await registry.close()
        await sandbox.stop()
