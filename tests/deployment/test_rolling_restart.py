"""Two instances behind a load balancer. First, a phone follows a call on A while the
iPad declines it on B: the phone hears it through PostgreSQL's NOTIFY. Then a rolling
restart: A is stopped (SIGTERM) while the phone follows another ringing call through it.
A must not wait for the call to end (a ring lasts minutes): the stream it serves ends
cleanly, the phone's SDK reconnects through the balancer to B and hears there that the
iPad answered."""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import signal
from pathlib import Path

import httpx
import pytest

from ringpush.apns.credentials import generate_signing_key
from ringpush.apns.environment import Environment
from ringpush.apns.push_type import PushType
from ringpush.sandbox import Sandbox
from ringpush.sdk import CallOutcome, Client, IncomingCall
from tests.deployment.instances import ADMIN, BUNDLE, create_app, start_instance
from tests.tcp_proxy import TcpProxy


@pytest.mark.timeout(120)
async def test_a_stopping_instance_hands_its_event_streams_over(
    database: str, tmp_path: Path
) -> None:
    key = generate_signing_key()
    sandbox = Sandbox()
    sandbox.register_key(key.key_id, key.team_id, key.pem)
    await sandbox.start(control_port=None, environments=(Environment.DEVELOPMENT,))
    secret = base64.b64encode(secrets.token_bytes(32)).decode()
    a = await start_instance("a", database, tmp_path / "a", secret)
    b = await start_instance("b", database, tmp_path / "b", secret)
    try:
        async with (
            httpx.AsyncClient(base_url=a.url, timeout=10) as on_a,
            httpx.AsyncClient(base_url=b.url, timeout=10) as on_b,
            TcpProxy(a.port, b.port) as balancer,  # A while it is up, then B
        ):
            service = await create_app(on_a, sandbox, key)
            issued = await on_a.post(
                "/v1/apps/deploy/user-tokens",
                headers={"Authorization": f"Bearer {ADMIN}"},
                json={"user_id": "bob"},
            )
            bob = {"Authorization": f"Bearer {issued.json()['token']}"}
            tokens = {}
            for device in ("phone", "ipad"):
                tokens[device] = sandbox.issue_token(BUNDLE, PushType.VOIP)
                registered = await on_a.put(
                    f"/v1/devices/{device}",
                    headers=bob,
                    json={"token": tokens[device], "environment": "development"},
                )
                assert registered.status_code == 201, registered.text

            async def ring(call_id: str) -> IncomingCall:
                """Call bob through B; the phone's VoIP push, as the app gets it."""
                started = await on_b.post(
                    "/v1/calls",
                    headers=service,
                    json={"call_id": call_id, "caller_id": "alice", "callee_user_id": "bob",
                          "ring_timeout_seconds": 600},
                )  # fmt: skip
                assert started.status_code == 201, started.text
                for _ in range(200):
                    pushes = sandbox.notifications(token=tokens["phone"])
                    if any(p.payload["ringpush"]["call_id"] == call_id for p in pushes):
                        break
                    await asyncio.sleep(0.05)
                [push] = [
                    p
                    for p in sandbox.notifications(token=tokens["phone"])
                    if p.payload["ringpush"]["call_id"] == call_id
                ]
                return IncomingCall.from_payload(push.payload)

            # Across instances: the phone follows on A, the iPad declines on B.
            async with Client(balancer.url, issued.json()["token"], device_id="phone") as phone:
                session = phone.follow(await ring("c0"))
                await asyncio.wait_for(session.connected.wait(), 10)
                declined = await on_b.post(
                    "/v1/calls/c0/decline", headers=bob, json={"device_id": "ipad"}
                )
                assert declined.status_code == 200, declined.text
                ended = await asyncio.wait_for(session.wait_ended(), 10)
                assert ended.outcome is CallOutcome.DECLINED_ELSEWHERE
                assert set(balancer.routed) == {a.port}  # it never left A

            incoming = await ring("c1")
            # The phone follows the call through the balancer (so on A), with the SDK;
            # a raw stream on A shows what A itself does with it.
            async with Client(balancer.url, issued.json()["token"], device_id="phone") as phone:
                session = phone.follow(incoming)
                await asyncio.wait_for(session.connected.wait(), 10)
                assert set(balancer.routed) == {a.port}
                raw: list[dict[str, object]] = []
                first = asyncio.Event()

                async def follow_raw() -> None:
                    async with on_a.stream(
                        "GET", "/v1/calls/c1/events", headers=bob, params={"device_id": "phone"}
                    ) as response:
                        async for line in response.aiter_lines():
                            if line.startswith("data: "):
                                raw.append(json.loads(line[6:]))
                                first.set()

                raw_stream = asyncio.create_task(follow_raw())
                await asyncio.wait_for(first.wait(), 10)

                a.process.send_signal(signal.SIGTERM)
                # The stream ends, complete (no cut-off chunk), without a final state:
                await asyncio.wait_for(raw_stream, 30)
                assert [event["state"] for event in raw] == ["ringing"]
                assert await asyncio.to_thread(a.process.wait, 30) == 0
                assert "graceful shutdown exceeded" not in a.log.read_text()

                # The phone is back on B, still ringing; the iPad answers there.
                for _ in range(100):
                    if b.port in balancer.routed:
                        break
                    await asyncio.sleep(0.05)
                assert balancer.routed[-1] == b.port
                assert session.result is None
                answered = await on_b.post(
                    "/v1/calls/c1/answer", headers=bob, json={"device_id": "ipad"}
                )
                assert answered.status_code == 200, answered.text
                ended = await asyncio.wait_for(session.wait_ended(), 10)
                assert ended.outcome is CallOutcome.ANSWERED_ELSEWHERE
                assert ended.device_id == "ipad"
            # One VoIP push per device and call, however often the phone reconnected.
            for device in ("phone", "ipad"):
                voip = [
                    p.payload["ringpush"]["call_id"]
                    for p in sandbox.notifications(token=tokens[device])
                ]
                assert voip == ["c0", "c1"]
    finally:
        for instance in (a, b):
            instance.stop()
        await sandbox.stop()
