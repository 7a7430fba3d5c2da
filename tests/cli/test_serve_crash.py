"""A `ringpush serve` killed with SIGKILL mid-delivery loses nothing: after a restart the
leased push is sent again, with the same apns-id, and recorded as delivered."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from pathlib import Path
from typing import Any

import httpx

from ringpush.apns.credentials import generate_signing_key
from ringpush.apns.environment import Environment
from ringpush.apns.push_type import PushType
from ringpush.sandbox import Sandbox
from ringpush.sandbox.fcm import FcmSandbox

ADMIN = "rpa_" + "k" * 40


async def start_server(state: Path) -> tuple[asyncio.subprocess.Process, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ringpush", "serve", "--port", "0",
        "--state-dir", str(state), "--database", f"sqlite:///{state / 'r.db'}",
        "--delivery-lease", "2",
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "RINGPUSH_ADMIN_KEY": ADMIN},
    )  # fmt: skip
    assert proc.stdout is not None
    line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
    match = re.search(r"http://127\.0\.0\.1:(\d+)", line)
    assert match, line
    return proc, f"http://127.0.0.1:{match.group(1)}"


async def _keys(http: httpx.AsyncClient) -> tuple[str, str]:
    """The demo app's service key, and a user token for bob."""
    admin = {"Authorization": f"Bearer {ADMIN}"}
    service = await http.post("/v1/apps/demo/service-keys", headers=admin, json={})
    user = await http.post("/v1/apps/demo/user-tokens", headers=admin, json={"user_id": "bob"})
    return service.json()["key"], user.json()["token"]


async def _once_delivered(url: str, call_id: str) -> dict[str, Any]:
    """The call's one push once the restarted server recorded it delivered (or as it
    stands after 20 s)."""
    admin = {"Authorization": f"Bearer {ADMIN}"}
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        for _ in range(200):
            rows = await http.get("/v1/deliveries", headers=admin, params={"call_id": call_id})
            state: dict[str, Any] = rows.json()[0]
            if state["state"] == "delivered":
                break
            await asyncio.sleep(0.1)
    return state


async def test_sigkill_mid_delivery_loses_no_push(tmp_path: Path) -> None:
    key = generate_signing_key()
    sandbox = Sandbox()
    sandbox.register_key(key.key_id, key.team_id, key.pem)
    await sandbox.start(control_port=None)
    admin = {"Authorization": f"Bearer {ADMIN}"}
    proc, url = await start_server(tmp_path)
    try:
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            await http.put(
                "/v1/apps/demo",
                headers=admin,
                json={
                    "bundle_id": "com.example.app", "team_id": key.team_id,
                    "key_id": key.key_id, "signing_key": key.pem.decode(),
                    "apns_url": sandbox.url(), "ca_pem": sandbox.ca_pem.decode(),
                    "default_environment": "development",
                },
            )  # fmt: skip
            service_key, user = await _keys(http)
            token = sandbox.issue_token("com.example.app", PushType.VOIP, Environment.DEVELOPMENT)
            await http.put(
                "/v1/devices/phone",
                headers={"Authorization": f"Bearer {user}"},
                json={"token": token, "environment": "development"},
            )
            sandbox.faults.latency_ms = 20_000  # APNs is slow: the push stays in flight
            call = await http.post(
                "/v1/calls",
                headers={"Authorization": f"Bearer {service_key}"},
                json={"call_id": "crash-1", "caller_id": "alice", "callee_user_id": "bob"},
            )
            [delivery] = call.json()["deliveries"]
            assert delivery["state"] == "sending"
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
        sandbox.faults.latency_ms = 0
        proc, url = await start_server(tmp_path)
        state = await _once_delivered(url, "crash-1")
        assert state["state"] == "delivered"
        assert state["apns_id"] == delivery["apns_id"]
        assert state["attempts"] >= 2
        recorded = {n.apns_id for n in sandbox.notifications(token=token)}
        assert recorded == {delivery["apns_id"]}
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            await proc.wait()
        await sandbox.stop()


async def test_sigkill_mid_delivery_loses_no_android_push(tmp_path: Path) -> None:
    """The same for an Android phone: the FCM push in flight when serve is killed is
    sent again after the restart (at least once: FCM has no apns-id to deduplicate on)."""
    fcm = FcmSandbox()
    await fcm.start()
    account = fcm.issue_service_account("crash-project")
    token = fcm.issue_token("com.example.app", "crash-project")
    admin = {"Authorization": f"Bearer {ADMIN}"}
    proc, url = await start_server(tmp_path)
    try:
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            put = await http.put(
                "/v1/apps/demo",
                headers=admin,
                json={"bundle_id": "com.example.app", "fcm_service_account": account,
                      "fcm_url": fcm.url, "fcm_ca_pem": fcm.ca_pem.decode()},
            )  # fmt: skip
            assert put.status_code == 200, put.text
            service_key, user = await _keys(http)
            registered = await http.put(
                "/v1/devices/pixel",
                headers={"Authorization": f"Bearer {user}"},
                json={"platform": "fcm", "token": token},
            )
            assert registered.status_code == 201
            fcm.faults.latency_ms = 20_000  # FCM is slow: the push stays in flight
            call = await http.post(
                "/v1/calls",
                headers={"Authorization": f"Bearer {service_key}"},
                json={"call_id": "crash-2", "caller_id": "alice", "callee_user_id": "bob"},
            )
            [delivery] = call.json()["deliveries"]
            assert delivery["state"] == "sending"
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
        fcm.faults.latency_ms = 0
        proc, url = await start_server(tmp_path)
        state = await _once_delivered(url, "crash-2")
        assert (state["state"], state["push_id"]) == ("delivered", delivery["push_id"])
        assert state["attempts"] >= 2
        assert fcm.messages(token=token)  # it reached the phone
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            await proc.wait()
        await fcm.stop()
