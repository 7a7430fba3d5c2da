"""Managed push semantics, end to end: tokens from a simulated phone, registered through
the real server, checked in the server's registry over its API."""

from __future__ import annotations

import asyncio

import pytest

from ringpush.apns.push_type import PushType
from ringpush.local_stack import LocalStack
from ringpush.sdk import Client, DeviceTokenUnavailable, ManagedPush, Unauthorized
from tests.sdk.conftest import eventually


async def test_a_client_created_after_the_token_arrived_still_registers_it(
    stack: LocalStack,
) -> None:
    phone = stack.sandbox.device("phone", stack.bundle_id)
    push = ManagedPush(phone, device_id="phone-1", environment="development")
    push.desired_push_types = {PushType.VOIP}
    await eventually(lambda: PushType.VOIP in push.tokens)
    token = push.tokens[PushType.VOIP]
    assert token == phone.tokens[PushType.VOIP]
    assert await stack.devices_of("bob") == []  # held in memory only, nobody to tell yet

    client = Client(stack.url, await stack.user_token("bob"), push=push)
    async with asyncio.timeout(10):
        await push.settled()
    devices = await stack.devices_of("bob")
    assert [(d["device_id"], d["push_type"], d["environment"]) for d in devices] == [
        ("phone-1", "voip", "development")
    ]
    assert devices[0]["token"].startswith(token[:4]) and devices[0]["token"].endswith(token[-4:])
    assert push.registered(client) == {PushType.VOIP: token}
    await client.close()
    await push.close()


async def test_a_token_change_re_registers_and_the_old_token_is_gone(stack: LocalStack) -> None:
    phone = stack.sandbox.device("phone", stack.bundle_id)
    push = ManagedPush(phone, device_id="phone-1", environment="automatic", build="debug")
    client = Client(stack.url, await stack.user_token("bob"), push=push)
    push.desired_push_types = {PushType.VOIP, PushType.ALERT}  # registration starts here
    await eventually(lambda: len(push.registered(client)) == 2)
    old = push.tokens[PushType.VOIP]

    new = phone.rotate_token(PushType.VOIP)
    assert new != old
    await eventually(lambda: push.registered(client).get(PushType.VOIP) == new)
    devices = await stack.devices_of("bob")
    assert len(devices) == 2  # replaced, not added
    voip = next(d for d in devices if d["push_type"] == "voip")
    assert voip["token"].startswith(new[:4]) and voip["token"].endswith(new[-4:])

    # A call now rings the new token only; the old one is dead at APNs (410).
    call = await stack.start_call("bob", "alice")
    [delivery] = call["deliveries"]
    assert delivery["status"] == 200
    [record] = stack.sandbox.notifications(apns_id=delivery["apns_id"])
    assert record.token == new
    await client.close()
    await push.close()


async def test_an_invalidated_token_is_unregistered(stack: LocalStack) -> None:
    phone = stack.sandbox.device("phone", stack.bundle_id)
    push = ManagedPush(phone, device_id="phone-1", environment="development")
    client = Client(stack.url, await stack.user_token("bob"), push=push)
    push.desired_push_types = {PushType.VOIP, PushType.ALERT}
    await eventually(lambda: len(push.registered(client)) == 2)
    phone.invalidate_token(PushType.VOIP)
    await eventually(lambda: PushType.VOIP not in push.registered(client))
    assert [d["push_type"] for d in await stack.devices_of("bob")] == ["alert"]
    await client.close()
    await push.close()


async def test_several_clients_get_the_same_token(stack: LocalStack) -> None:
    """Two clients of one app (two backends: work and home) share the phone's token."""
    await stack.add_app("home")
    phone = stack.sandbox.device("phone", stack.bundle_id)
    push = ManagedPush(
        phone, device_id="phone-1", environment="development", desired_push_types=["voip"]
    )
    work = Client(stack.url, await stack.user_token("bob"), push=push)
    home = Client(stack.url, await stack.user_token("bob", app_id="home"), push=push)
    async with asyncio.timeout(10):
        await push.settled()
    token = push.tokens[PushType.VOIP]
    assert push.registered(work) == push.registered(home) == {PushType.VOIP: token}
    assert len(await stack.devices_of("bob")) == 1
    assert len(await stack.devices_of("bob", app_id="home")) == 1
    # A change reaches both.
    new = phone.rotate_token(PushType.VOIP)
    await eventually(lambda: push.registered(work) == push.registered(home) == {PushType.VOIP: new})
    await work.close()
    await home.close()
    await push.close()


async def test_a_refused_registration_is_reported_and_a_new_user_token_retries_it(
    stack: LocalStack,
) -> None:
    errors: list[Exception] = []
    phone = stack.sandbox.device("phone", stack.bundle_id)
    push = ManagedPush(
        phone,
        device_id="phone-1",
        environment="development",
        on_error=lambda client, push_type, error: errors.append(error),
    )
    client = Client(stack.url, "not-a-token", push=push, retries=0)
    push.desired_push_types = {PushType.VOIP}
    async with asyncio.timeout(10):
        await eventually(lambda: bool(errors))
        await push.settled()
    assert isinstance(errors[0], Unauthorized)
    assert push.registered(client) == {}
    client.user_token = await stack.user_token("bob")
    await eventually(lambda: PushType.VOIP in push.registered(client))
    assert len(await stack.devices_of("bob")) == 1
    await client.close()
    await push.close()


def test_automatic_environment_needs_the_build_setting() -> None:
    class NoTokens:
        def register(self, push_types: object, delegate: object) -> None:
            raise AssertionError("not reached")

    with pytest.raises(ValueError, match="build configuration"):
        ManagedPush(NoTokens(), device_id="d", environment="automatic")
    with pytest.raises(ValueError, match="development, production or automatic"):
        ManagedPush(NoTokens(), device_id="d", environment="staging")


async def test_the_same_install_signed_in_as_someone_else_takes_its_token_along(
    stack: LocalStack,
) -> None:
    phone = stack.sandbox.device("phone", stack.bundle_id)
    push = ManagedPush(phone, device_id="phone-1", environment="development")
    push.desired_push_types = {PushType.VOIP}
    bob = Client(stack.url, await stack.user_token("bob"), push=push)
    await eventually(lambda: PushType.VOIP in push.registered(bob))
    await bob.close()
    # The app relaunched with the secret it kept: alice signs in on the same phone.
    again = ManagedPush(
        phone, device_id="phone-1", environment="development", install_secret=push.install_secret
    )
    again.desired_push_types = {PushType.VOIP}
    alice = Client(stack.url, await stack.user_token("alice"), push=again)
    await eventually(lambda: PushType.VOIP in again.registered(alice))
    assert await stack.devices_of("bob") == []
    assert len(await stack.devices_of("alice")) == 1
    await alice.close()
    await push.close()
    await again.close()


async def test_another_install_with_the_same_token_is_refused(stack: LocalStack) -> None:
    phone = stack.sandbox.device("phone", stack.bundle_id)
    push = ManagedPush(phone, device_id="phone-1", environment="development")
    push.desired_push_types = {PushType.VOIP}
    alice = Client(stack.url, await stack.user_token("alice"), push=push)
    await eventually(lambda: PushType.VOIP in push.registered(alice))
    errors: list[Exception] = []
    stranger = ManagedPush(  # the same token, learnt somehow, from an install of its own
        phone,
        device_id="x",
        environment="development",
        on_error=lambda client, push_type, error: errors.append(error),
    )
    assert stranger.install_secret != push.install_secret
    stranger.desired_push_types = {PushType.VOIP}
    bob = Client(stack.url, await stack.user_token("bob"), push=stranger, retries=0)
    await eventually(lambda: bool(errors))
    assert isinstance(errors[0], DeviceTokenUnavailable)
    assert await stack.devices_of("bob") == []
    assert len(await stack.devices_of("alice")) == 1
    for closing in (alice, bob, push, stranger):
        await closing.close()
