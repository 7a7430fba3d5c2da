"""Calls over real HTTP: the server, its delivery engine, the sandbox and a SQLite file."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ringpush.apns.push_type import PushType
from tests.server.stack import ADMIN, Stack, running_stack


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    async with running_stack(f"sqlite:///{tmp_path / 'calls.db'}") as running:
        yield running


async def test_a_call_rings_every_voip_device_of_the_callee(stack: Stack) -> None:
    bob = await stack.user("bob")
    phone = await stack.device(bob, "phone")
    ipad = await stack.device(bob, "ipad")
    alice = await stack.user("alice")
    await stack.device(alice, "alice-phone")
    response = await stack.http.post(
        "/v1/calls",
        headers=stack.service,
        json={
            "call_id": "call-1",
            "caller_id": "alice",
            "caller_name": "Alice",
            "callee_user_id": "bob",
            "video": True,
            "data": {"room": "r1"},
        },
    )
    assert response.status_code == 201, response.text
    call = response.json()
    assert call["state"] == "ringing"
    outcomes = {d["device_id"]: d for d in call["deliveries"]}
    assert set(outcomes) == {"phone", "ipad"}
    assert all(d["state"] == "delivered" and d["status"] == 200 for d in outcomes.values())
    for token, device in ((phone, "phone"), (ipad, "ipad")):
        [record] = stack.sandbox.notifications(token=token)
        assert record.apns_id == outcomes[device]["apns_id"]
        assert record.topic == "com.example.app.voip"
        assert record.headers["apns-push-type"] == "voip"
        assert record.headers["apns-priority"] == "10"
        assert record.headers["apns-expiration"] == "0"
        payload = record.payload["ringpush"]
        assert payload["call_id"] == "call-1"
        assert payload["caller"] == {"id": "alice", "name": "Alice"}
        assert payload["video"] is True
        assert record.payload["data"] == {"room": "r1"}
        assert len(record.body) <= 5120
    assert len(stack.sandbox.notifications()) == 2  # alice's phone did not ring


async def test_ending_a_call_sends_no_voip_push_and_tells_the_state(stack: Stack) -> None:
    bob = await stack.user("bob")
    await stack.device(bob, "phone")
    await stack.device(bob, "ipad")
    started = await stack.http.post(
        "/v1/calls",
        headers=stack.service,
        json={"call_id": "call-2", "caller_id": "alice", "callee_user_id": "bob"},
    )
    assert started.status_code == 201
    ended = await stack.http.post(
        "/v1/calls/call-2/end",
        headers=bob,
        json={"reason": "answered-elsewhere", "device_id": "phone"},
    )
    assert ended.status_code == 200, ended.text
    assert ended.json()["state"] == "answered"
    assert ended.json()["ended_by_device"] == "phone"
    state = (await stack.http.get("/v1/calls/call-2", headers=bob)).json()
    assert state["end_reason"] == "answered-elsewhere"
    assert len(stack.sandbox.notifications()) == 2  # only the two invitations


async def test_call_validation_errors(stack: Stack) -> None:
    too_big = await stack.http.post(
        "/v1/calls",
        headers=stack.service,
        json={"caller_id": "a", "callee_user_id": "bob", "data": {"x": "y" * 6000}},
    )
    assert too_big.status_code == 413
    assert too_big.json()["error"]["code"] == "payload_too_large"
    assert "5120-byte limit" in too_big.json()["error"]["message"]
    bad = await stack.http.post(
        "/v1/calls", headers=stack.service, json={"caller_id": "a", "ring_timeout_seconds": 1}
    )
    assert bad.status_code == 422
    await stack.device(await stack.user("bob"), "phone")
    once = {"call_id": "dup", "caller_id": "a", "callee_user_id": "bob"}
    assert (await stack.http.post("/v1/calls", headers=stack.service, json=once)).status_code == 201
    again = await stack.http.post("/v1/calls", headers=stack.service, json=once)
    assert again.status_code == 409
    bob = await stack.user("bob")
    assert (await stack.http.post("/v1/calls", headers=bob, json=once)).status_code == 403


async def test_deliveries_are_queryable_by_call_and_apns_id(stack: Stack) -> None:
    bob = await stack.user("bob")
    await stack.device(bob, "phone")
    call = (
        await stack.http.post(
            "/v1/calls",
            headers=stack.service,
            json={"call_id": "c-log", "caller_id": "a", "callee_user_id": "bob"},
        )
    ).json()
    apns_id = call["deliveries"][0]["apns_id"]
    by_call = (
        await stack.http.get("/v1/deliveries", headers=stack.service, params={"call_id": "c-log"})
    ).json()
    assert [d["apns_id"] for d in by_call] == [apns_id]
    by_id = (
        await stack.http.get("/v1/deliveries", headers=ADMIN, params={"apns_id": apns_id})
    ).json()
    assert by_id[0]["device_id"] == "phone"
    assert (await stack.http.get("/v1/deliveries", headers=bob)).status_code == 403


async def test_other_push_types_reach_the_users_devices_of_that_type(stack: Stack) -> None:
    bob = await stack.user("bob")
    await stack.device(bob, "phone")  # voip: must not get the complication push
    watch = stack.sandbox.issue_token("com.example.app", PushType.COMPLICATION)
    await stack.http.put(
        "/v1/devices/watch",
        headers=bob,
        json={"token": watch, "push_type": "complication", "environment": "development"},
    )
    response = await stack.http.post(
        "/v1/pushes",
        headers=stack.service,
        json={"user_id": "bob", "push_type": "complication", "payload": {"aps": {}, "v": 1}},
    )
    assert response.status_code == 201, response.text
    [delivery] = response.json()["deliveries"]
    assert (delivery["device_id"], delivery["status"]) == ("watch", 200)
    [record] = stack.sandbox.notifications()
    assert record.topic == "com.example.app.complication"


async def test_push_rules_are_checked_before_queueing(stack: Stack) -> None:
    voip = await stack.http.post(
        "/v1/pushes",
        headers=stack.service,
        json={"user_id": "bob", "push_type": "voip", "payload": {}},
    )
    assert voip.status_code == 422
    assert voip.json()["error"]["code"] == "voip_needs_a_call"
    background = await stack.http.post(
        "/v1/pushes",
        headers=stack.service,
        json={"user_id": "bob", "push_type": "background", "payload": {}, "priority": 10},
    )
    assert background.status_code == 422
    assert "BadPriority" in background.json()["error"]["message"]
    for collapse_id in ("a\r\nx-injected: 1", "a\u0000", "caf\u00e9"):
        injected = await stack.http.post(
            "/v1/pushes",
            headers=stack.service,
            json={
                "user_id": "bob",
                "push_type": "alert",
                "payload": {"aps": {"alert": "hi"}},
                "collapse_id": collapse_id,
            },
        )
        assert injected.status_code == 422, injected.text
        assert "collapse_id" in injected.json()["error"]["message"]
    big = await stack.http.post(
        "/v1/pushes",
        headers=stack.service,
        json={"user_id": "bob", "push_type": "alert", "payload": {"x": "y" * 4100}},
    )
    assert big.status_code == 413


async def test_answering_on_one_device_stops_the_others_through_call_events(
    stack: Stack,
) -> None:
    """The phone listens to the call's events; the iPad answers. The phone hears it from
    the stream, a Mac that is not listening gets a background push, and no second VoIP
    push is ever sent."""
    bob = await stack.user("bob")
    await stack.device(bob, "phone")
    await stack.device(bob, "ipad")
    await stack.device(bob, "phone", PushType.ALERT)
    mac = await stack.device(bob, "mac", PushType.ALERT)
    started = await stack.http.post(
        "/v1/calls",
        headers=stack.service,
        json={"call_id": "c-ev", "caller_id": "alice", "caller_name": "Alice",
              "callee_user_id": "bob"},
    )  # fmt: skip
    assert started.status_code == 201
    events: list[dict[str, object]] = []
    subscribed = asyncio.Event()

    async def listen() -> None:
        async with stack.http.stream(
            "GET", "/v1/calls/c-ev/events", headers=bob, params={"device_id": "phone"}
        ) as response:
            async for line in response.aiter_lines():
                if line.startswith("data: "):
                    events.append(json.loads(line[6:]))
                    subscribed.set()

    listener = asyncio.create_task(listen())
    await asyncio.wait_for(subscribed.wait(), 5)
    ended = await stack.http.post(
        "/v1/calls/c-ev/end",
        headers=bob,
        json={"reason": "answered-elsewhere", "device_id": "ipad"},
    )
    assert ended.status_code == 200
    await asyncio.wait_for(listener, 5)
    assert [e["state"] for e in events] == ["ringing", "answered"]
    assert events[-1]["device_id"] == "ipad"
    for _ in range(200):
        if stack.sandbox.notifications(token=mac):
            break
        await asyncio.sleep(0.01)
    [background] = stack.sandbox.notifications(token=mac)
    assert background.headers["apns-push-type"] == "background"
    assert background.headers["apns-priority"] == "5"
    assert background.payload["ringpush"]["reason"] == "answered-elsewhere"
    voip = [n for n in stack.sandbox.notifications() if n.push_type is PushType.VOIP]
    assert len(voip) == 2  # the two invitations only
    assert len(stack.sandbox.notifications()) == 3  # the listening phone got nothing more


async def test_a_canceled_call_leaves_a_missed_call_alert(stack: Stack) -> None:
    bob = await stack.user("bob")
    await stack.device(bob, "phone")
    alert = await stack.device(bob, "phone", PushType.ALERT)
    await stack.http.post(
        "/v1/calls",
        headers=stack.service,
        json={"call_id": "c-miss", "caller_id": "alice", "caller_name": "Alice",
              "callee_user_id": "bob"},
    )  # fmt: skip
    ended = await stack.http.post(
        "/v1/calls/c-miss/end", headers=stack.service, json={"reason": "canceled"}
    )
    assert ended.json()["state"] == "ended"
    for _ in range(200):
        if stack.sandbox.notifications(token=alert):
            break
        await asyncio.sleep(0.01)
    [missed] = stack.sandbox.notifications(token=alert)
    assert missed.payload["aps"]["alert"]["body"] == "Missed call from Alice"
    again = await stack.http.post(
        "/v1/calls/c-miss/end", headers=stack.service, json={"reason": "canceled"}
    )
    assert again.status_code == 200
    await asyncio.sleep(0.1)
    assert len(stack.sandbox.notifications(token=alert)) == 1  # ending twice notifies once


async def test_metrics_count_pushes_by_type_and_outcome(stack: Stack) -> None:
    bob = await stack.user("bob")
    await stack.device(bob, "phone")
    await stack.http.post(
        "/v1/calls",
        headers=stack.service,
        json={"call_id": "c-m", "caller_id": "a", "callee_user_id": "bob"},
    )
    text = (await stack.http.get("/metrics")).text
    assert (
        'ringpush_pushes_total{outcome="delivered",push_type="voip",reason="accepted"} 1.0' in text
    )
    assert 'ringpush_push_latency_seconds_count{push_type="voip"} 1.0' in text
    assert "ringpush_outbox_depth" in text
    assert "ringpush_outbox_claimed_total 1.0" in text


async def test_a_call_to_a_user_without_devices_is_404_and_stores_nothing(stack: Stack) -> None:
    body = {"call_id": "c-nobody", "caller_id": "a", "callee_user_id": "nobody"}
    response = await stack.http.post("/v1/calls", headers=stack.service, json=body)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "callee_has_no_devices"
    stored = await stack.http.get("/v1/calls/c-nobody", headers=stack.service)
    assert stored.status_code == 404
    # A user with only an alert device has nothing a call can ring either.
    carol = await stack.user("carol")
    alert = stack.sandbox.issue_token("com.example.app", PushType.ALERT)
    registered = await stack.http.put(
        "/v1/devices/phone",
        headers=carol,
        json={"token": alert, "push_type": "alert", "environment": "development"},
    )
    assert registered.status_code == 201
    body = {"call_id": "c-carol", "caller_id": "a", "callee_user_id": "carol"}
    response = await stack.http.post("/v1/calls", headers=stack.service, json=body)
    assert response.json()["error"]["code"] == "callee_has_no_devices"
    log = await stack.http.get("/v1/deliveries", headers=stack.service)
    assert log.json() == []
    assert stack.sandbox.notifications() == []


async def test_a_push_to_a_user_without_that_push_type_is_404(stack: Stack) -> None:
    bob = await stack.user("bob")
    await stack.device(bob, "phone")  # a VoIP device only
    response = await stack.http.post(
        "/v1/pushes",
        headers=stack.service,
        json={"user_id": "bob", "push_type": "alert", "payload": {"aps": {"alert": "hi"}}},
    )
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "no_devices_for_push_type"
    assert "alert" in response.json()["error"]["message"]
    log = await stack.http.get("/v1/deliveries", headers=stack.service)
    assert log.json() == []
