"""Interop with a third-party APNs client (aioapns 4): its view must be Apple's view."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aioapns import APNs, NotificationRequest, PushType
from aioapns.connection import APNsDevelopmentClientProtocol

from ringpush.apns.environment import Environment
from ringpush.apns.push_type import PushType as RingpushPushType
from ringpush.sandbox import Sandbox

from .conftest import BUNDLE, VOIP_TOPIC, Signer, trust


@pytest.fixture
def aimed(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> Sandbox:
    """Point aioapns's development host at the sandbox (it has no URL option)."""
    monkeypatch.setattr(APNsDevelopmentClientProtocol, "APNS_SERVER", "127.0.0.1")
    monkeypatch.setattr(APNsDevelopmentClientProtocol, "APNS_PORT", sandbox.port())
    return sandbox


@pytest.fixture
async def apns(aimed: Sandbox, signer: Signer) -> AsyncIterator[APNs]:
    client = APNs(
        key=signer.pem,
        key_id=signer.key_id,
        team_id=signer.team_id,
        topic=VOIP_TOPIC,
        use_sandbox=True,
        ssl_context=trust(aimed),
    )
    yield client
    client.pool.close()


def voip(token: str, message: dict[str, object]) -> NotificationRequest:
    return NotificationRequest(device_token=token, message=message, push_type=PushType.VOIP)


def padded(size: int) -> dict[str, object]:
    """A message whose aioapns encoding (json.dumps defaults) is exactly ``size`` bytes."""
    message: dict[str, object] = {"call_id": "c1", "pad": ""}
    overhead = len(json.dumps(message, ensure_ascii=False).encode())
    message["pad"] = "x" * (size - overhead)
    assert len(json.dumps(message, ensure_ascii=False).encode()) == size
    return message


async def test_aioapns_voip_push_succeeds_and_is_recorded(aimed: Sandbox, apns: APNs) -> None:
    token = aimed.issue_token(BUNDLE, RingpushPushType.VOIP, Environment.DEVELOPMENT)
    request = voip(token, {"call_id": "c1"})
    result = await apns.send_notification(request)
    assert result.is_successful
    assert result.notification_id == request.notification_id
    [record] = aimed.notifications(token=token)
    assert record.apns_id == request.notification_id
    assert record.payload == {"call_id": "c1"}


async def test_aioapns_sees_apples_answers(aimed: Sandbox, apns: APNs) -> None:
    """BadDeviceToken, 410 with a millisecond timestamp, 413 over 5120, 200 at 5000."""
    token = aimed.issue_token(BUNDLE, RingpushPushType.VOIP, Environment.DEVELOPMENT)
    assert (await apns.send_notification(voip(token, {"call_id": "warm-up"}))).is_successful

    unknown = await apns.send_notification(voip("ab" * 32, {"call_id": "c2"}))
    assert (unknown.status, unknown.description) == ("400", "BadDeviceToken")

    big = await apns.send_notification(voip(token, padded(5000)))
    assert big.is_successful
    too_big = await apns.send_notification(voip(token, padded(5121)))
    assert (too_big.status, too_big.description) == ("413", "PayloadTooLarge")

    gone_at = aimed.uninstall(token)
    gone = await apns.send_notification(voip(token, {"call_id": "c3"}))
    assert (gone.status, gone.description, gone.timestamp) == ("410", "Unregistered", gone_at)


async def test_aioapns_burst_after_the_first_push_all_succeed(aimed: Sandbox, apns: APNs) -> None:
    """Once the first push has raised the stream limit, a 200-push burst goes through."""
    import asyncio

    token = aimed.issue_token(BUNDLE, RingpushPushType.VOIP, Environment.DEVELOPMENT)
    assert (await apns.send_notification(voip(token, {"n": 0}))).is_successful
    results = await asyncio.gather(
        *(apns.send_notification(voip(token, {"n": n})) for n in range(1, 201))
    )
    assert all(r.is_successful for r in results)
    assert len(aimed.notifications(token=token)) == 201


async def test_aioapns_certificate_client_pushes_voip(aimed: Sandbox, tmp_path: Path) -> None:
    issued = aimed.mint_client_certificate(BUNDLE)
    cert_file = tmp_path / "push.pem"
    cert_file.write_bytes(issued.certificate_pem + issued.key_pem)
    client = APNs(
        client_cert=str(cert_file),
        topic=VOIP_TOPIC,
        use_sandbox=True,
        ssl_context=trust(aimed),
    )
    try:
        token = aimed.issue_token(BUNDLE, RingpushPushType.VOIP, Environment.DEVELOPMENT)
        result = await client.send_notification(voip(token, {"call_id": "c1"}))
    finally:
        client.pool.close()
    assert result.is_successful
