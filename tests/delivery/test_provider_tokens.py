"""One provider token per key for the whole deployment: instances on one database adopt
the stored token, one of them signs the next, never two (reference §4)."""

from __future__ import annotations

import asyncio
import time

from ringpush.apns.environment import Environment
from ringpush.apns.jwt_signer import REFRESH_AFTER_SECONDS
from ringpush.apns.notification import Notification
from ringpush.apns.push_type import PushType
from ringpush.delivery.clients import ApnsClients
from ringpush.registry import SecretBox, open_registry
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
    from ringpush.apns.credentials import TokenCredentials, generate_signing_key
    from ringpush.apns.jwt_signer import ProviderTokenSigner

    app = await world.registry.get_app("demo")
    assert app is not None and app.signing_key_pem and app.key_id and app.team_id
    old = TokenCredentials.from_pem(app.signing_key_pem, app.key_id, app.team_id)
    replaced = TokenCredentials.from_pem(generate_signing_key().pem, app.key_id, app.team_id)
    tokens = world.registry.provider_tokens
    old_token = await tokens.exchange(old, ProviderTokenSigner(old, shared=True).choose)
    new_token = await tokens.exchange(replaced, ProviderTokenSigner(replaced, shared=True).choose)
    assert new_token != old_token
    assert await tokens.exchange(old, ProviderTokenSigner(old, shared=True).choose) == old_token
