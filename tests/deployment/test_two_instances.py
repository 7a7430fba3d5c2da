"""Two `ringpush serve` processes on one PostgreSQL: 2 000 calls split across both, one
killed with SIGKILL half-way, every push still delivered to the sandbox, none lost.

The sandbox answers after 200 ms, so at the kill the dead instance holds pushes it claimed
(some already accepted by APNs, their answers never read). After its lease (2 s here) the
surviving instance sends them again with the same apns-id: a push may arrive twice, never
zero times, and a duplicate is recognisable by its apns-id.
"""

from __future__ import annotations

import asyncio
import base64
import secrets
import signal
from collections import defaultdict
from pathlib import Path

import asyncpg
import httpx
import pytest

from ringpush.apns.credentials import generate_signing_key
from ringpush.apns.environment import Environment
from ringpush.apns.push_type import PushType
from ringpush.sandbox import Sandbox
from tests.deployment.instances import ADMIN, BUNDLE, create_app, start_instance

USERS = 100
CALLS = 2000
IN_FLIGHT = 50
LEASE_SECONDS = 2
#: APNs answers this late, so pushes are in flight when an instance dies.
LATENCY_MS = 200


@pytest.mark.timeout(300)
async def test_two_instances_lose_no_push_when_one_is_killed(database: str, tmp_path: Path) -> None:
    key = generate_signing_key()
    sandbox = Sandbox()
    sandbox.register_key(key.key_id, key.team_id, key.pem)
    await sandbox.start(control_port=None, environments=(Environment.DEVELOPMENT,))
    sandbox.faults.latency_ms = LATENCY_MS
    secret = base64.b64encode(secrets.token_bytes(32)).decode()
    a = await start_instance("a", database, tmp_path / "a", secret, lease_seconds=LEASE_SECONDS)
    b = await start_instance("b", database, tmp_path / "b", secret, lease_seconds=LEASE_SECONDS)
    admin = {"Authorization": f"Bearer {ADMIN}"}
    # Idle connections are given up well before the server's keep-alive ends (no race).
    limits = httpx.Limits(
        max_connections=IN_FLIGHT, max_keepalive_connections=IN_FLIGHT, keepalive_expiry=2
    )
    try:
        async with (
            httpx.AsyncClient(base_url=a.url, timeout=30, limits=limits) as on_a,
            httpx.AsyncClient(base_url=b.url, timeout=30, limits=limits) as on_b,
        ):
            # -- set up through both instances ------------------------------------------
            service = await create_app(on_a, sandbox, key)  # used through both
            tokens: dict[str, str] = {}
            for index in range(USERS):
                user = f"user-{index}"
                http = on_a if index % 2 else on_b
                issued = await http.post(
                    "/v1/apps/deploy/user-tokens", headers=admin, json={"user_id": user}
                )
                tokens[user] = sandbox.issue_token(BUNDLE, PushType.VOIP, Environment.DEVELOPMENT)
                registered = await http.put(
                    "/v1/devices/phone",
                    headers={"Authorization": f"Bearer {issued.json()['token']}"},
                    json={"token": tokens[user], "environment": "development"},
                )
                assert registered.status_code == 201, registered.text

            # -- 2 000 calls, alternating between the instances; B dies half-way ----------
            accepted: dict[str, int] = {"a": 0, "b": 0, "a_after_kill": 0, "taken_over": 0}
            b_killed = asyncio.Event()
            gate = asyncio.Semaphore(IN_FLIGHT)
            at_kill: dict[str, int] = {}

            async def kill_b() -> None:
                b.process.send_signal(signal.SIGKILL)
                b_killed.set()
                connection = await asyncpg.connect(database)
                try:
                    at_kill["not_final"] = await connection.fetchval(
                        "SELECT count(*) FROM outbox WHERE state IN ('pending', 'sending')"
                    )
                finally:
                    await connection.close()
                at_kill["sandbox_accepted"] = sandbox.stats.accepted

            async def call(number: int) -> None:
                call_id = f"call-{number}"
                body = {
                    "call_id": call_id, "caller_id": "caller", "caller_name": "Caller",
                    "callee_user_id": f"user-{number % USERS}", "ring_timeout_seconds": 300,
                }  # fmt: skip
                async with gate:
                    if number % 2 and not b_killed.is_set():
                        try:
                            answer = await on_b.post("/v1/calls", headers=service, json=body)
                            if answer.status_code == 201:
                                accepted["b"] += 1
                                if accepted["a"] + accepted["b"] == CALLS // 2:
                                    await kill_b()
                                return
                        except httpx.TransportError:
                            pass  # B died with this request in flight: ask A
                    answer = await on_a.post("/v1/calls", headers=service, json=body)
                    if answer.status_code == 409:  # B stored it before dying
                        assert answer.json()["error"]["code"] == "call_exists", answer.text
                        accepted["taken_over"] += 1
                        return
                    assert answer.status_code == 201, answer.text
                    accepted["a"] += 1
                    if b_killed.is_set():
                        accepted["a_after_kill"] += 1
                    elif accepted["a"] + accepted["b"] == CALLS // 2:
                        await kill_b()

            await asyncio.gather(*(call(number) for number in range(CALLS)))
            assert b.process.wait(10) == -signal.SIGKILL
            assert accepted["b"] > 0 and accepted["a_after_kill"] > 0
            assert accepted["a"] + accepted["b"] + accepted["taken_over"] == CALLS
            assert at_kill["not_final"] > 0  # B died with pushes still to send

            # -- every call's push reaches its device -----------------------------------
            def delivered() -> dict[str, list[str]]:
                seen: dict[str, list[str]] = defaultdict(list)
                for record in sandbox.notifications():
                    payload = record.payload
                    call_id = payload["ringpush"]["call_id"]
                    callee = f"user-{int(call_id.split('-')[1]) % USERS}"
                    assert record.token == tokens[callee]
                    seen[call_id].append(record.apns_id)
                return seen

            for _ in range(600):
                if len(delivered()) == CALLS:
                    break
                await asyncio.sleep(0.1)
            seen = delivered()
            missing = sorted({f"call-{n}" for n in range(CALLS)} - set(seen))
            assert missing == [], f"{len(missing)} calls never reached their phone"
            duplicated = {call_id: ids for call_id, ids in seen.items() if len(ids) > 1}
            for ids in duplicated.values():
                assert len(set(ids)) == 1  # a resend carries the first attempt's apns-id

            # -- the delivery log agrees: nothing left pending or failed -----------------
            for _ in range(100):
                logs = await asyncio.gather(
                    *(
                        on_a.get("/v1/deliveries", headers=service, params={"user_id": user})
                        for user in tokens
                    )
                )
                states = [row["state"] for log in logs for row in log.json()]
                if set(states) == {"delivered"}:
                    break
                await asyncio.sleep(0.1)
            assert len(states) == CALLS and set(states) == {"delivered"}

            # -- one provider token for the whole deployment ----------------------------
            assert len(sandbox.stats.provider_tokens[key.key_id]) == 1
            # -- the survivor is still ready and stops cleanly ---------------------------
            assert (await on_a.get("/readyz")).status_code == 200
            a.process.send_signal(signal.SIGTERM)
            assert await asyncio.to_thread(a.process.wait, 15) == 0
            print(
                f"\ncalls accepted: A {accepted['a']} (after the kill {accepted['a_after_kill']}),"
                f" B {accepted['b']}, stored by B before it died {accepted['taken_over']};"
                f" at the kill: {at_kill['not_final']} pushes not final,"
                f" sandbox had accepted {at_kill['sandbox_accepted']};"
                f" delivered {len(seen)} calls, {len(duplicated)} twice (same apns-id)"
            )
    finally:
        for instance in (a, b):
            instance.stop()
        await sandbox.stop()
