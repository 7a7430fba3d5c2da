"""Least privilege: an app's service key mints user tokens for its own app only; user
tokens die with their app (and stay dead when an app of the same id is created again);
a deleted app's pushes and calls go with it; a callee acts only through its own devices
and only with the reasons a callee has."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.server.stack import ADMIN, Stack, running_stack


@pytest.fixture
async def stack(database_url: str) -> AsyncIterator[Stack]:
    async with running_stack(database_url) as running:
        yield running


async def test_a_service_key_mints_user_tokens_for_its_own_app_only(stack: Stack) -> None:
    minted = await stack.http.post(
        "/v1/apps/demo/user-tokens", headers=stack.service, json={"user_id": "bob"}
    )
    assert minted.status_code == 201, minted.text
    bob = {"Authorization": f"Bearer {minted.json()['token']}"}
    assert (await stack.http.get("/v1/devices", headers=bob)).status_code == 200
    other = await stack.http.put(
        "/v1/apps/other", headers=ADMIN, json={"bundle_id": "com.example.other"}
    )
    assert other.status_code == 200, other.text
    foreign = await stack.http.post(
        "/v1/apps/other/user-tokens", headers=stack.service, json={"user_id": "bob"}
    )
    assert foreign.status_code == 403
    assert foreign.json()["error"]["code"] == "forbidden"
    # a user token mints nothing
    assert (
        await stack.http.post("/v1/apps/demo/user-tokens", headers=bob, json={"user_id": "x"})
    ).status_code == 403


async def test_user_tokens_die_with_their_app_and_stay_dead(stack: Stack) -> None:
    created = await stack.http.put(
        "/v1/apps/short-lived", headers=ADMIN, json={"bundle_id": "com.example.short"}
    )
    assert created.status_code == 200
    minted = await stack.http.post(
        "/v1/apps/short-lived/user-tokens", headers=ADMIN, json={"user_id": "bob"}
    )
    bob = {"Authorization": f"Bearer {minted.json()['token']}"}
    assert (await stack.http.get("/v1/devices", headers=bob)).status_code == 200
    # the app is changed: its tokens still work
    changed = await stack.http.put(
        "/v1/apps/short-lived",
        headers=ADMIN,
        json={"bundle_id": "com.example.short", "default_environment": "development"},
    )
    assert changed.status_code == 200
    assert (await stack.http.get("/v1/devices", headers=bob)).status_code == 200
    assert (await stack.http.delete("/v1/apps/short-lived", headers=ADMIN)).status_code == 204
    gone = await stack.http.get("/v1/devices", headers=bob)
    assert gone.status_code == 401, gone.text
    again = await stack.http.put(
        "/v1/apps/short-lived", headers=ADMIN, json={"bundle_id": "com.example.short"}
    )
    assert again.status_code == 200
    still = await stack.http.get("/v1/devices", headers=bob)
    assert still.status_code == 401, still.text


async def test_a_deleted_apps_pushes_and_calls_go_with_it(stack: Stack) -> None:
    bob = await stack.user("bob")
    await stack.device(bob, "phone")
    call = await stack.http.post(
        "/v1/calls",
        headers=stack.service,
        json={"call_id": "c-gone", "caller_id": "alice", "callee_user_id": "bob"},
    )
    assert call.status_code == 201, call.text
    assert await stack.registry.outbox.query(app_id="demo")
    assert (await stack.http.delete("/v1/apps/demo", headers=ADMIN)).status_code == 204
    assert await stack.registry.outbox.query(app_id="demo") == []
    assert await stack.registry.calls.get("demo", "c-gone") is None


async def test_a_callee_acts_only_through_its_own_devices_and_reasons(stack: Stack) -> None:
    bob = await stack.user("bob")
    await stack.device(bob, "phone")
    alice = await stack.user("alice")
    await stack.device(alice, "alice-phone")
    await stack.ring("bob", "c1", caller="carol")
    for path in ("/v1/calls/c1/answer", "/v1/calls/c1/decline"):
        for device in ("alice-phone", "nobody"):
            response = await stack.http.post(path, headers=bob, json={"device_id": device})
            assert response.status_code == 404, response.text
            assert response.json()["error"]["code"] == "unknown_device"
    for reason in ("canceled", "timeout"):
        response = await stack.http.post(
            "/v1/calls/c1/end", headers=bob, json={"reason": reason, "device_id": "phone"}
        )
        assert response.status_code == 403, response.text
    foreign = await stack.http.post(
        "/v1/calls/c1/end",
        headers=bob,
        json={"reason": "declined", "device_id": "alice-phone"},
    )
    assert foreign.status_code == 404
    state = await stack.http.get("/v1/calls/c1", headers=stack.service)
    assert state.json()["state"] == "ringing"  # none of that changed the call
    declined = await stack.http.post(
        "/v1/calls/c1/decline", headers=bob, json={"device_id": "phone"}
    )
    assert declined.status_code == 200, declined.text


async def _works(stack: Stack, user: dict[str, str]) -> bool:
    response = await stack.http.get("/v1/devices", headers=user)
    assert response.status_code in (200, 401), response.text
    return response.status_code == 200


async def test_one_users_tokens_can_be_revoked_by_the_apps_service_key(stack: Stack) -> None:
    bob, alice = await stack.user("bob"), await stack.user("alice")
    revoked = await stack.http.delete("/v1/apps/demo/users/bob/tokens", headers=stack.service)
    assert revoked.status_code == 204
    refused = await stack.http.get("/v1/devices", headers=bob)
    assert refused.status_code == 401
    assert refused.json()["error"]["message"].startswith("user token was revoked")
    assert await _works(stack, alice)  # only bob's
    assert await _works(stack, await stack.user("bob"))  # a token minted afterwards works


async def test_every_user_token_of_an_app_can_be_revoked_and_stays_revoked(stack: Stack) -> None:
    bob, alice = await stack.user("bob"), await stack.user("alice")
    assert (await stack.http.delete("/v1/apps/demo/user-tokens", headers=ADMIN)).status_code == 204
    assert not await _works(stack, bob)
    assert not await _works(stack, alice)
    # changing the app's settings does not bring them back
    app = (await stack.http.get("/v1/apps/demo", headers=ADMIN)).json()
    changed = await stack.http.put(
        "/v1/apps/demo",
        headers=ADMIN,
        json={"bundle_id": app["bundle_id"], "default_environment": "development"},
    )
    assert changed.status_code == 200, changed.text
    assert not await _works(stack, bob)
    assert await _works(stack, await stack.user("carol"))


async def test_revoking_needs_the_operator_or_the_apps_own_service_key(stack: Stack) -> None:
    bob = await stack.user("bob")
    created = await stack.http.put(
        "/v1/apps/other", headers=ADMIN, json={"bundle_id": "com.example.other"}
    )
    assert created.status_code == 200
    for path in ("/v1/apps/other/user-tokens", "/v1/apps/other/users/bob/tokens"):
        foreign = await stack.http.delete(path, headers=stack.service)
        assert foreign.status_code == 403, path
    assert (await stack.http.delete("/v1/apps/demo/user-tokens", headers=bob)).status_code == 403
    missing = await stack.http.delete("/v1/apps/nope/users/bob/tokens", headers=ADMIN)
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "unknown_app"
    assert await _works(stack, bob)  # none of that revoked anything
