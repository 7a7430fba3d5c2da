"""The FCM client over real HTTPS against a tiny FCM (tests/fcm/fake_fcm.py): the token
exchange, the token's cache and renewal, 401s, and every answer classified
(docs/fcm.md §3, §4)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest

from ringpush.actions import Action
from ringpush.fcm.answer import AuthFailure
from ringpush.fcm.client import FcmClient
from ringpush.fcm.error_codes import FcmErrorCode, action_for
from ringpush.fcm.errors import InvalidMessage
from ringpush.fcm.message import FcmMessage
from ringpush.fcm.oauth import REFRESH_MARGIN_SECONDS, SCOPE, AccessToken
from ringpush.fcm.service_account import ServiceAccount
from tests.fcm.fake_fcm import FakeFcm, error
from tests.fcm.support import Clock

MESSAGE = FcmMessage.for_call("device-token-1", {"call_id": "c1"}, ring_seconds=30)


@pytest.fixture
async def fcm(tmp_path: Path) -> AsyncIterator[FakeFcm]:
    server = FakeFcm(tmp_path)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def client_for(fcm: FakeFcm, clock: Clock | None = None, **settings: Any) -> FcmClient:
    return FcmClient(
        fcm.account(),
        base_url=fcm.base_url,
        ca_pem=fcm.ca.certificate_pem,
        clock=clock or Clock(),
        token_retry_base=0.01,
        **settings,
    )


async def test_the_assertion_carries_kid_iss_aud_scope_and_an_hour(fcm: FakeFcm) -> None:
    async with client_for(fcm) as client:
        result = await client.send(MESSAGE)
    assert result.sent, result.describe()
    assert result.message_name == "projects/ringpush-test/messages/0:1%31bd1c96"
    ((header, claims),) = fcm.assertions
    assert header["kid"] == client.service_account.private_key_id
    assert claims["iss"] == client.service_account.client_email
    assert claims["aud"] == fcm.token_uri
    assert claims["scope"] == SCOPE
    assert claims["exp"] - claims["iat"] == 3600
    assert fcm.sends[0].bearer == "ya29.test-1"
    assert fcm.sends[0].body["message"]["android"] == {"priority": "HIGH", "ttl": "30s"}


async def test_one_token_serves_every_send_on_one_http2_connection(fcm: FakeFcm) -> None:
    async with client_for(fcm) as client:
        results = [await client.send(MESSAGE) for _ in range(5)]
    assert all(r.sent for r in results)
    assert client.token_requests == 1
    assert {s.bearer for s in fcm.sends} == {"ya29.test-1"}
    assert {s.http_version for s in fcm.sends} == {"2"}
    assert len({s.client_port for s in fcm.sends}) == 1


async def test_a_thousand_concurrent_sends_share_one_exchange(fcm: FakeFcm) -> None:
    fcm.token_delay = 0.2  # every send arrives while the exchange is under way
    async with client_for(fcm) as client:
        results = await asyncio.gather(*(client.send(MESSAGE) for _ in range(1000)))
    assert all(r.sent for r in results)
    assert client.token_requests == 1
    assert len(fcm.sends) == 1000


async def test_the_token_is_renewed_when_due(fcm: FakeFcm) -> None:
    clock = Clock()
    fcm.expires_in = "3599"  # a string, as some endpoints send it
    async with client_for(fcm, clock) as client:
        await client.send(MESSAGE)
        clock.advance(3599 - REFRESH_MARGIN_SECONDS - 1)
        await client.send(MESSAGE)
        clock.advance(1)
        await client.send(MESSAGE)
    assert client.token_requests == 2
    assert [s.bearer for s in fcm.sends] == ["ya29.test-1", "ya29.test-1", "ya29.test-2"]


async def test_a_401_mid_run_renews_once_and_resends(fcm: FakeFcm) -> None:
    clock = Clock()
    async with client_for(fcm, clock) as client:
        assert (await client.send(MESSAGE)).sent
        clock.advance(600)
        fcm.revoked.add("ya29.test-1")
        result = await client.send(MESSAGE)
    assert result.sent, result.describe()
    assert result.attempts == 2
    assert client.token_requests == 2
    assert [s.bearer for s in fcm.sends] == ["ya29.test-1", "ya29.test-2"]


async def test_a_401_that_outlives_the_renewal_is_resent_only_once(fcm: FakeFcm) -> None:
    clock = Clock()
    async with client_for(fcm, clock) as client:
        await client.send(MESSAGE)
        clock.advance(600)
        fcm.refuse_every_token = True
        result = await client.send(MESSAGE)
    assert result.status == 401
    assert result.action is Action.REFRESH_AUTH
    assert result.attempts == 2
    assert client.token_requests == 2


async def test_a_401_to_a_token_just_obtained_does_not_renew_it(fcm: FakeFcm) -> None:
    fcm.refuse_every_token = True
    async with client_for(fcm) as client:
        result = await client.send(MESSAGE)
    assert result.status == 401
    assert result.attempts == 1
    assert client.token_requests == 1


async def test_third_party_auth_error_never_renews_the_token(fcm: FakeFcm) -> None:
    clock = Clock()
    async with client_for(fcm, clock) as client:
        await client.send(MESSAGE)
        clock.advance(600)
        body = error(
            401,
            "UNAUTHENTICATED",
            "Auth error from APNS or Web Push Service",
            "THIRD_PARTY_AUTH_ERROR",
        )
        fcm.answers.append((401, body, {}))
        result = await client.send(MESSAGE)
    assert result.error_code is FcmErrorCode.THIRD_PARTY_AUTH_ERROR
    assert result.action is Action.FIX_REQUEST
    assert result.attempts == 1
    assert client.token_requests == 1


async def test_every_error_code_is_classified(fcm: FakeFcm) -> None:
    for code in FcmErrorCode:
        fcm.answers.append((code.status, error(code.status, code.canonical, "x", code.value), {}))
    async with client_for(fcm) as client:
        results = [await client.send(MESSAGE) for _ in FcmErrorCode]
    for code, result in zip(FcmErrorCode, results, strict=True):
        assert (result.status, result.error_code) == (code.status, code), result.describe()
        assert result.action is action_for(code.status, code, "x")
    assert client.token_requests == 1


async def test_retry_after_is_honoured_in_the_result(fcm: FakeFcm) -> None:
    clock = Clock()
    when = format_datetime(datetime.fromtimestamp(clock.now + 120, tz=UTC), usegmt=True)
    fcm.answers += [
        (503, error(503, "UNAVAILABLE", "busy", "UNAVAILABLE"), {"Retry-After": "7"}),
        (429, error(429, "RESOURCE_EXHAUSTED", "quota", "QUOTA_EXCEEDED"), {"Retry-After": when}),
    ]
    async with client_for(fcm, clock) as client:
        unavailable = await client.send(MESSAGE)
        quota = await client.send(MESSAGE)
    assert (unavailable.action, unavailable.retry_after) == (Action.RETRY_LATER, 7.0)
    assert quota.retry_after is not None
    assert quota.retry_after == pytest.approx(120, abs=1)


async def test_the_token_endpoints_own_failures_are_retried(fcm: FakeFcm) -> None:
    fcm.token_failures += [(503, b'{"error": "backendError"}'), (500, b"<html>oops</html>")]
    async with client_for(fcm) as client:
        result = await client.send(MESSAGE)
    assert result.sent, result.describe()
    assert client.token_requests == 3


async def test_a_token_endpoint_that_stays_down_gives_a_retryable_result(fcm: FakeFcm) -> None:
    fcm.token_failures += [(503, b"{}")] * 3
    async with client_for(fcm) as client:
        result = await client.send(MESSAGE)
    assert (result.auth, result.action) == (AuthFailure.UNAVAILABLE, Action.RETRY_LATER)
    assert client.token_requests == 3
    assert fcm.sends == []


async def test_invalid_grant_is_final_and_not_retried(fcm: FakeFcm) -> None:
    refusal = {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}
    fcm.token_failures.append((400, json.dumps(refusal).encode()))
    async with client_for(fcm) as client:
        result = await client.send(MESSAGE)
    assert (result.auth, result.action) == (AuthFailure.REJECTED, Action.FIX_REQUEST)
    assert "Invalid JWT Signature." in result.describe()
    assert client.token_requests == 1


async def test_an_untrusted_endpoint_is_a_tls_failure(fcm: FakeFcm) -> None:
    client = FcmClient(fcm.account(), base_url=fcm.base_url, token_attempts=1)
    async with client:
        result = await client.send(MESSAGE)
    assert result.auth is AuthFailure.UNAVAILABLE
    assert "tls_failed" in result.describe()


async def test_an_invalid_message_never_leaves(fcm: FakeFcm) -> None:
    async with client_for(fcm) as client:
        with pytest.raises(InvalidMessage):
            await client.send(FcmMessage("t", {"from": "x"}))
    assert client.token_requests == 0
    assert fcm.sends == []


class MemoryStore:
    """The deployment's token row, as a registry store would hold it (sealed)."""

    def __init__(self) -> None:
        self.stored: AccessToken | None = None
        self._lock = asyncio.Lock()

    async def exchange(
        self,
        account: ServiceAccount,
        keep: Callable[[AccessToken | None], bool],
        fetch: Callable[[], Awaitable[AccessToken]],
    ) -> AccessToken:
        async with self._lock:
            if self.stored is None or not keep(self.stored):
                self.stored = await fetch()
            return self.stored


async def test_instances_sharing_a_store_make_one_exchange(fcm: FakeFcm) -> None:
    store = MemoryStore()
    async with (
        client_for(fcm, token_store=store) as first,
        client_for(fcm, token_store=store) as second,
    ):
        assert (await first.send(MESSAGE)).sent
        assert (await second.send(MESSAGE)).sent
    assert first.token_requests + second.token_requests == 1
    assert [s.bearer for s in fcm.sends] == ["ya29.test-1", "ya29.test-1"]


async def test_no_credential_reaches_the_logs(
    fcm: FakeFcm, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger="ringpush")
    clock = Clock()
    fcm.token_failures.append((503, b"{}"))
    async with client_for(fcm, clock) as client:
        await client.send(MESSAGE)
        clock.advance(600)
        fcm.revoked.add("ya29.test-1")
        await client.send(MESSAGE)
    assert any("renewing" in r.getMessage() for r in caplog.records)
    text = caplog.text
    for secret in ("ya29.test", "PRIVATE KEY", "device-token-1", "eyJ"):
        assert secret not in text
