"""The FCM access token shared by every instance (issue 16): two clients standing for two
instances of one deployment, on one real database and the real FCM sandbox, exchange
once; a token FCM refuses is replaced for both."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from ringpush.fcm.client import FcmClient
from ringpush.fcm.message import AndroidPriority, FcmMessage
from ringpush.fcm.oauth import AccessTokenCache
from ringpush.fcm.service_account import ServiceAccount
from ringpush.registry import SecretBox, SqlRegistry, open_registry
from ringpush.sandbox.fcm import FcmSandbox

PROJECT = "shared-project"


@pytest.fixture
async def registry(database_url: str) -> AsyncIterator[SqlRegistry]:
    registry = await open_registry(database_url, SecretBox({"k": b"\5" * 32}, "k"))
    try:
        yield registry
    finally:
        await registry.close()


def instance(fcm: FcmSandbox, account: ServiceAccount, registry: SqlRegistry) -> FcmClient:
    return FcmClient(
        account,
        base_url=fcm.url,
        ca_pem=fcm.ca_pem,
        token_store=registry.access_tokens,
        token_cache=AccessTokenCache(account, min_age_for_invalidation=0),
    )


async def test_instances_share_one_access_token(registry: SqlRegistry) -> None:
    async with FcmSandbox() as fcm:
        account = ServiceAccount.from_mapping(fcm.issue_service_account(PROJECT))
        token = fcm.issue_token("com.example.app", PROJECT)
        message = FcmMessage(token, {"k": "v"}, priority=AndroidPriority.HIGH)
        async with instance(fcm, account, registry) as a, instance(fcm, account, registry) as b:
            assert (await a.send(message)).sent
            assert (await b.send(message)).sent
            assert fcm.stats.access_tokens_issued == 1  # b adopted a's
            # FCM stops taking it: the first to hear it exchanges, the other adopts that.
            fcm.expire_access_tokens()
            assert (await a.send(message)).sent
            assert (await b.send(message)).sent
            assert fcm.stats.access_tokens_issued == 2
            assert a.token_requests + b.token_requests == 2
        stored = await registry.db.fetchall("SELECT token_sealed FROM fcm_access_tokens")
        current = a.token_cache.current()
        assert current is not None and len(stored) == 1
        assert current.value.encode() not in bytes(stored[0]["token_sealed"])  # sealed
