"""The SDK's HTTP client: typed errors, retries through a flaky network, the blocking
wrapper, and that it knows every error code the server can send."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from ringpush.apns.environment import Environment
from ringpush.apns.push_type import PushType
from ringpush.local_stack import LocalStack
from ringpush.sdk import (
    BlockingClient,
    Client,
    InvalidToken,
    RateLimited,
    ServerUnavailable,
    Unauthorized,
    UnknownCall,
)
from ringpush.sdk.errors import ERROR_CLASSES, ApiError, InvalidField, error_from_response
from ringpush.server.error_codes import ErrorCode
from ringpush.server.rate_limits import RateLimitSettings
from tests.server.stack import running_stack
from tests.tcp_proxy import TcpProxy


@pytest.fixture
async def bob(stack: LocalStack) -> AsyncIterator[Client]:
    async with Client(stack.url, await stack.user_token("bob"), device_id="phone") as client:
        yield client


def voip_token(stack: LocalStack) -> str:
    return stack.sandbox.issue_token(stack.bundle_id, PushType.VOIP)


async def test_register_list_and_unregister(stack: LocalStack, bob: Client) -> None:
    token = voip_token(stack)
    first = await bob.register(token, PushType.VOIP, Environment.DEVELOPMENT)
    again = await bob.register(token, PushType.VOIP, Environment.DEVELOPMENT)
    assert (first.created, again.created) == (True, False)
    assert first.masked_token != token and first.masked_token[:4] == token[:4]
    [device] = await bob.devices()
    assert (device["device_id"], device["push_type"]) == ("phone", "voip")
    assert await bob.unregister(PushType.VOIP) is True
    assert await bob.unregister(PushType.VOIP) is False  # nothing left: not an error
    assert await bob.devices() == []


async def test_refusals_raise_the_error_class_of_their_code(stack: LocalStack, bob: Client) -> None:
    with pytest.raises(InvalidToken, match="invalid_token") as bad_token:
        await bob.register("xyz", PushType.VOIP, Environment.DEVELOPMENT)
    assert bad_token.value.status == 422
    with pytest.raises(UnknownCall) as unknown:
        await bob.answer("no-such-call")
    assert unknown.value.status == 404 and "no-such-call" in unknown.value.message
    async with Client(stack.url, "wrong", device_id="phone", retries=0) as stranger:
        with pytest.raises(Unauthorized):
            await stranger.devices()


async def test_network_failures_are_retried(stack: LocalStack) -> None:
    async with TcpProxy(stack.service.port if stack.service else 0, drop=2) as proxy:
        url = f"http://127.0.0.1:{proxy.port}"
        async with Client(url, await stack.user_token("bob"), device_id="p", backoff=0.01) as c:
            registration = await c.register(
                voip_token(stack), PushType.VOIP, Environment.DEVELOPMENT
            )
        assert registration.created
        assert proxy.connections >= 3


async def test_a_server_that_stays_away_gives_server_unavailable(stack: LocalStack) -> None:
    async with TcpProxy(0, drop=1000) as proxy:
        url = f"http://127.0.0.1:{proxy.port}"
        async with Client(url, "t", device_id="p", retries=2, backoff=0.01) as client:
            with pytest.raises(ServerUnavailable, match="after 3 attempts"):
                await client.devices()
        assert proxy.connections == 3


async def test_the_blocking_client_works_without_an_event_loop(stack: LocalStack) -> None:
    user_token = await stack.user_token("bob")
    token = voip_token(stack)

    def script() -> list[str]:
        with BlockingClient(stack.url, user_token, device_id="script") as client:
            client.register(token, PushType.VOIP, Environment.DEVELOPMENT)
            return [d["device_id"] for d in client.devices()]

    assert await asyncio.to_thread(script) == ["script"]


def test_every_error_code_the_server_sends_has_its_own_class() -> None:
    """The server's codes are one enum (its types let no other code out); the SDK has a
    class for each, but the HTTP layer's generic one, which stays a plain ApiError."""
    sent = [code for code in ErrorCode if code is not ErrorCode.HTTP_ERROR]
    assert {c.value for c in sent} - set(ERROR_CLASSES) == set()
    assert set(ERROR_CLASSES) - {c.value for c in ErrorCode} == set()  # none stale
    for code in sent:  # a 4xx of a code is its class, whatever the body's other fields
        error = error_from_response(
            code.status, f'{{"error": {{"code": "{code.value}", "message": "m"}}}}'.encode()
        )
        assert type(error) is ERROR_CLASSES[code.value]
        assert error.status == code.status


def test_an_unknown_code_or_a_broken_body_still_gives_an_api_error() -> None:
    error = error_from_response(418, b'{"error": {"code": "teapot", "message": "short"}}')
    assert type(error) is ApiError and error.error_code == "teapot"
    broken = error_from_response(400, b"<html>")
    assert type(broken) is ApiError and broken.status == 400
    typed = error_from_response(422, b'{"error": {"code": "invalid_field", "message": "m"}}')
    assert isinstance(typed, InvalidField)


async def test_a_rate_limited_request_waits_as_asked_then_goes_through(database_url: str) -> None:
    async with running_stack(database_url, RateLimitSettings(registrations=0.5)) as stack:
        bob = await stack.user("bob")
        base = str(stack.http.base_url).rstrip("/")
        client = Client(base, bob["Authorization"][7:], device_id="phone", retries=2)
        try:
            for n in range(6):  # the sixth is over the burst of five: 429, Retry-After 2
                registered = await client.register(
                    stack.token(), PushType.VOIP, Environment.DEVELOPMENT
                )
                assert registered.device_id == "phone", n
        finally:
            await client.close()
        no_retries = Client(base, bob["Authorization"][7:], device_id="ipad", retries=0)
        try:
            with pytest.raises(RateLimited):
                await no_retries.register(stack.token(), PushType.VOIP, Environment.DEVELOPMENT)
        finally:
            await no_retries.close()
