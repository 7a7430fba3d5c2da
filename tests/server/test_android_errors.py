"""Every FCM answer's handling through the whole server (issue 16): the FCM sandbox
refuses as FCM does, the delivery engine does what docs/fcm.md §4 says, and the FCM lane
never holds up an app's APNs lanes."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from tests.server.stack import ADMIN, Stack, running_stack

FINAL = {"delivered", "dropped", "failed", "withdrawn"}


async def _android_push(stack: Stack, call_id: str, *, final: bool = True) -> dict[str, Any]:
    """The call's push to the Android phone, once it is final (or once it was answered
    at least once, with ``final=False``)."""
    for _ in range(200):
        log = (await stack.http.get(f"/v1/deliveries?call_id={call_id}", headers=ADMIN)).json()
        pushes = [p for p in log if p["push_type"] == "fcm"]
        if pushes and (pushes[0]["state"] in FINAL or (not final and pushes[0]["status"])):
            return dict(pushes[0])
        await asyncio.sleep(0.05)
    raise AssertionError(f"no answer for the Android push of {call_id}: {log}")


async def _devices(stack: Stack, user: dict[str, str]) -> list[str]:
    return [d["device_id"] for d in (await stack.http.get("/v1/devices", headers=user)).json()]


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        ({"sender_id_mismatch": True}, "SENDER_ID_MISMATCH"),
        ({"third_party_auth_error": True}, "THIRD_PARTY_AUTH_ERROR"),
    ],
)
async def test_a_configuration_error_fails_the_push_and_keeps_the_token(
    tmp_path: Path, fault: dict[str, Any], reason: str
) -> None:
    """Never resent unchanged, never a dropped token (the app's credentials are what is
    wrong), and THIRD_PARTY_AUTH_ERROR (a 401) never renews the access token."""
    async with running_stack(f"sqlite:///{tmp_path / 'config.db'}") as stack:
        assert stack.fcm is not None
        bob = await stack.user("bob")
        await stack.android(bob, "pixel")
        stack.fcm.faults.update(fault)
        await stack.ring("bob", "c-config")
        push = await _android_push(stack, "c-config")
        assert (push["state"], push["reason"], push["attempts"]) == ("failed", reason, 1)
        assert await _devices(stack, bob) == ["pixel"]
        assert stack.fcm.stats.access_tokens_issued == 1


async def test_a_token_fcm_calls_invalid_is_dropped(tmp_path: Path) -> None:
    """INVALID_ARGUMENT that names the registration token: the token is dead; an
    INVALID_ARGUMENT about anything else would keep it (tests/delivery/test_classify.py)."""
    async with running_stack(f"sqlite:///{tmp_path / 'invalid.db'}") as stack:
        assert stack.fcm is not None
        bob = await stack.user("bob")
        await stack.device(bob, "iphone")
        await stack.android(bob, "pixel")
        stack.fcm.faults.update({"invalid_token": True})
        await stack.ring("bob", "c-invalid")
        push = await _android_push(stack, "c-invalid")
        assert (push["state"], push["reason"]) == ("dropped", "INVALID_ARGUMENT")
        assert await _devices(stack, bob) == ["iphone"]


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        ({"quota_exceeded": True, "retry_after_seconds": 1}, "QUOTA_EXCEEDED"),
        ({"error_rate": 1.0, "error_status": 503, "retry_after_seconds": 1}, "UNAVAILABLE"),
        ({"error_rate": 1.0, "error_status": 500, "retry_after_seconds": 1}, "INTERNAL"),
    ],
)
async def test_a_temporary_refusal_is_retried_after_retry_after_and_delivered(
    tmp_path: Path, fault: dict[str, Any], reason: str
) -> None:
    async with running_stack(f"sqlite:///{tmp_path / 'later.db'}") as stack:
        assert stack.fcm is not None
        bob = await stack.user("bob")
        token = await stack.android(bob, "pixel")
        stack.fcm.faults.update(fault)
        await stack.ring("bob", "c-later")
        first = await _android_push(stack, "c-later", final=False)
        assert (first["state"], first["reason"]) == ("pending", reason)
        stack.fcm.faults.clear()
        delivered = await _android_push(stack, "c-later")
        assert (delivered["state"], delivered["attempts"]) == ("delivered", 2)
        assert len(stack.fcm.messages(token=token)) == 1


async def test_an_expired_access_token_is_renewed_once_and_the_push_goes(tmp_path: Path) -> None:
    """A 401 without an FCM error code mid-run: renew the access token, resend once."""
    async with running_stack(f"sqlite:///{tmp_path / 'renew.db'}") as stack:
        assert stack.fcm is not None
        bob = await stack.user("bob")
        await stack.android(bob, "pixel")
        await stack.ring("bob", "c-first")
        assert (await _android_push(stack, "c-first"))["state"] == "delivered"
        assert stack.fcm.expire_access_tokens() >= 1
        await stack.ring("bob", "c-second")
        second = await _android_push(stack, "c-second")
        assert (second["state"], second["attempts"]) == ("delivered", 1)
        assert stack.fcm.stats.access_tokens_issued == 2


async def test_a_dead_fcm_endpoint_never_holds_up_the_iphones(tmp_path: Path) -> None:
    """FCM drops every connection: the iPhone's VoIP push is delivered while the Android
    push is still being retried, in a lane of its own."""
    async with running_stack(f"sqlite:///{tmp_path / 'dead.db'}") as stack:
        assert stack.fcm is not None
        bob = await stack.user("bob")
        await stack.device(bob, "iphone")
        await stack.android(bob, "pixel")
        stack.fcm.faults.update({"drop_rate": 1.0})
        await stack.ring("bob", "c-dead")
        for _ in range(200):
            log = (await stack.http.get("/v1/deliveries?call_id=c-dead", headers=ADMIN)).json()
            states = {p["device_id"]: p for p in log}
            if states["iphone"]["state"] == "delivered":
                break
            await asyncio.sleep(0.05)
        assert states["iphone"]["state"] == "delivered"
        assert states["pixel"]["state"] in ("pending", "sending")
        stack.fcm.faults.clear()
        assert (await _android_push(stack, "c-dead"))["state"] == "delivered"
