"""One provider token per key for the whole deployment: instances on one database adopt
the stored token, one of them signs the next, never two (docs/apns.md §4)."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

from ringpush.apns.credentials import TokenCredentials, generate_signing_key
from ringpush.apns.environment import Environment
from ringpush.apns.jwt_signer import REFRESH_AFTER_SECONDS, ProviderTokenSigner
from ringpush.apns.notification import Notification
from ringpush.apns.push_type import PushType
from ringpush.delivery.clients import ApnsClients
from ringpush.delivery.engine import DeliveryEngine
from ringpush.registry import App, SecretBox, open_registry
from ringpush.registry.outbox_models import PushState
from ringpush.sandbox import Sandbox
from tests.delivery.conftest import BUNDLE, World


async def test_two_instances_sign_one_token_and_refresh_it_once(
    world: World, database_url: str
) -> None:
    """Instance A is the world's registry; B is a second registry on the same database."""
    other = await open_registry(database_url, SecretBox({"k": b"\3" * 32}, "k"))
    now = [time.time()]
    first = ApnsClients(
        request_timeout=5, tokens=world.registry.provider_tokens, clock=lambda: now[0]
    )
    second = ApnsClients(request_timeout=5, tokens=other.provider_tokens, clock=lambda: now[0])
    try:
        app = await world.registry.get_app("demo")
        assert app is not None and app.key_id is not None

        async def both() -> list[bytes]:
            clients = await asyncio.gather(
                *(c.for_app(app, Environment.DEVELOPMENT) for c in [first, second] * 10)
            )
            return [client.signer.current().header for client in clients if client.signer]

        headers = await both()
        assert len(headers) == 20 and len(set(headers)) == 1
        signers = [first.signer("demo"), second.signer("demo")]
        assert all(s is not None and s.shared for s in signers)
        assert sum(s.signed_count for s in signers if s) == 1

        # APNs sees one token from both instances.
        for clients in (first, second):
            client = await clients.for_app(app, Environment.DEVELOPMENT)
            token = world.sandbox.issue_token(BUNDLE, PushType.VOIP, Environment.DEVELOPMENT)
            result = await client.send(
                Notification.for_app(BUNDLE, PushType.VOIP, token, b'{"aps":{}}')
            )
            assert result.status == 200
        assert len(world.sandbox.stats.provider_tokens[app.key_id]) == 1

        # 30 minutes on: still the same token everywhere, nothing signed.
        now[0] += 30 * 60
        assert len(set(await both())) == 1
        assert sum(s.signed_count for s in signers if s) == 1

        # Past the refresh age: exactly one of them signs, both adopt it.
        now[0] += REFRESH_AFTER_SECONDS - 30 * 60
        refreshed = await both()
        assert len(set(refreshed)) == 1 and refreshed[0] != headers[0]
        assert sum(s.signed_count for s in signers if s) == 2
    finally:
        await first.close()
        await second.close()
        await other.close()


async def test_a_new_key_under_the_same_key_id_gets_its_own_token(world: World) -> None:
    """A replaced .p8 uploaded under the old key id must not inherit the old key's token."""
    app = await world.registry.get_app("demo")
    assert app is not None and app.signing_key_pem and app.key_id and app.team_id
    old = TokenCredentials.from_pem(app.signing_key_pem, app.key_id, app.team_id)
    replaced = TokenCredentials.from_pem(generate_signing_key().pem, app.key_id, app.team_id)
    tokens = world.registry.provider_tokens
    old_token = await tokens.exchange(old, ProviderTokenSigner(old, shared=True).choose)
    new_token = await tokens.exchange(replaced, ProviderTokenSigner(replaced, shared=True).choose)
    assert new_token != old_token
    assert await tokens.exchange(old, ProviderTokenSigner(old, shared=True).choose) == old_token


async def test_an_expired_answer_replaces_the_shared_token_only_when_20_minutes_old(
    database_url: str,
) -> None:
    """APNs's clock runs ahead of ours (skew): it calls our fresh token expired. Before the
    token is 20 minutes old (our clock) nothing is signed and the push waits for a retry;
    after that, the next attempt signs one new token and gets through."""

    key = generate_signing_key()
    skew = [0.0]
    sandbox = Sandbox(clock=lambda: time.time() + skew[0])
    sandbox.register_key(key.key_id, key.team_id, key.pem)
    await sandbox.start(control_port=None, environments=(Environment.DEVELOPMENT,))
    registry = await open_registry(database_url, SecretBox({"k": b"\5" * 32}, "k"))
    await registry.put_app(
        App(
            "demo", BUNDLE, key.team_id, key.key_id, Environment.DEVELOPMENT,
            signing_key_pem=key.pem, apns_base_url=sandbox.url(Environment.DEVELOPMENT),
            ca_pem=sandbox.ca_pem,
        )
    )  # fmt: skip
    clock = [datetime.now(UTC)]
    ours = [time.time()]
    clients = ApnsClients(request_timeout=5, tokens=registry.provider_tokens, clock=lambda: ours[0])
    engine = DeliveryEngine(registry, clients, clock=lambda: clock[0])
    world = World(sandbox, registry, engine, clock)
    try:
        first = await world.enqueue(await world.device("bob", "phone"), ring_seconds=7200)
        await engine.run_once()
        assert (await world.state_of(first)).state is PushState.DELIVERED
        signer = clients.signer("demo")
        assert signer is not None and signer.signed_count == 1

        skew[0] = 3700.0  # APNs now sees our token as over an hour old
        ours[0] += 10 * 60
        clock[0] += timedelta(minutes=10)
        push = await world.enqueue(await world.device("bob", "ipad"), ring_seconds=7200)
        await engine.run_once()
        stored = await world.state_of(push)
        assert (stored.state, stored.reason) == (PushState.PENDING, "ExpiredProviderToken")
        clock[0] = stored.next_attempt_at
        await engine.run_once()  # 10 minutes old: too young to replace
        assert (await world.state_of(push)).state is PushState.PENDING
        assert signer.signed_count == 1

        ours[0] += 10 * 60  # now 20 minutes old
        clock[0] = (await world.state_of(push)).next_attempt_at
        await engine.run_once()
        assert (await world.state_of(push)).state is PushState.DELIVERED
        assert signer.signed_count == 2
        assert len(sandbox.stats.provider_tokens[key.key_id]) == 2
    finally:
        await clients.close()
        await registry.close()
        await sandbox.stop()
