"""Android through FCM (issue 16): an Android install registers its FCM token, a call rings
the callee's iPhone (VoIP over APNs) and Android phone (a high-priority FCM data message)
at once, and the end of the call reaches the Android phone too; over real TLS to both
sandboxes and real HTTP to the server."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from tests.server.stack import ADMIN, Stack, running_stack


async def _fcm_messages(stack: Stack, token: str, count: int) -> list[dict[str, Any]]:
    """The first ``count`` messages FCM took for ``token`` (waiting up to 5 s)."""
    assert stack.fcm is not None
    for _ in range(100):
        found = [dict(record.message) for record in stack.fcm.messages(token=token)]
        if len(found) >= count:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"{len(found)} FCM messages for the token, not {count}")


def _ringpush(message: dict[str, Any]) -> dict[str, Any]:
    return dict(json.loads(message["data"]["ringpush"]))


async def test_a_call_rings_the_iphone_and_the_android_phone_and_ends_on_both(
    tmp_path: Path,
) -> None:
    async with running_stack(f"sqlite:///{tmp_path / 'mixed.db'}") as stack:
        bob = await stack.user("bob")
        voip = await stack.device(bob, "iphone")
        fcm_token = await stack.android(bob, "pixel")
        devices = (await stack.http.get("/v1/devices", headers=bob)).json()
        assert {(d["device_id"], d["platform"], d["push_type"]) for d in devices} == {
            ("iphone", "apns", "voip"),
            ("pixel", "fcm", "fcm"),
        }
        started = await stack.http.post(
            "/v1/calls",
            headers=stack.service,
            json={"call_id": "c-mixed", "caller_id": "alice", "caller_name": "Alice",
                  "callee_user_id": "bob", "data": {"room": "r-1"}, "ring_timeout_seconds": 30},
        )  # fmt: skip
        assert started.status_code == 201, started.text
        answered = {d["device_id"]: d for d in started.json()["deliveries"]}
        assert set(answered) == {"iphone", "pixel"}
        assert answered["pixel"]["push_type"] == "fcm"

        [wake] = await _fcm_messages(stack, fcm_token, 1)
        assert wake["android"]["priority"] == "HIGH"
        ttl = int(wake["android"]["ttl"].removesuffix("s"))
        assert 25 <= ttl <= 30  # what was left of the ring time
        info = _ringpush(wake)
        assert (info["type"], info["call_id"], info["caller"]) == (
            "incoming-call",
            "c-mixed",
            {"id": "alice", "name": "Alice"},
        )
        assert json.loads(wake["data"]["data"]) == {"room": "r-1"}
        [ring] = stack.sandbox.notifications(token=voip)
        assert ring.payload["ringpush"] == {**info, "sent_at": ring.payload["ringpush"]["sent_at"]}

        # Answered on the iPhone: no second VoIP push, and Android is told (normal
        # priority: it shows nothing, so it must not be high).
        ended = await stack.http.post(
            "/v1/calls/c-mixed/answer", headers=bob, json={"device_id": "iphone"}
        )
        assert ended.status_code == 200, ended.text
        _, told = await _fcm_messages(stack, fcm_token, 2)
        assert told["android"]["priority"] == "NORMAL"
        assert told["android"]["collapse_key"] == "call-c-mixed"
        assert _ringpush(told) == {
            "version": 1,
            "type": "call-ended",
            "call_id": "c-mixed",
            "reason": "answered-elsewhere",
        }
        assert len(stack.sandbox.notifications(token=voip)) == 1
        log = (await stack.http.get("/v1/deliveries?call_id=c-mixed", headers=ADMIN)).json()
        assert sorted((p["device_id"], p["push_type"], p["state"]) for p in log) == [
            ("iphone", "voip", "delivered"),
            ("pixel", "fcm", "delivered"),
            ("pixel", "fcm", "delivered"),
        ]


async def test_a_canceled_call_is_a_missed_call_on_android(tmp_path: Path) -> None:
    async with running_stack(f"sqlite:///{tmp_path / 'missed.db'}") as stack:
        bob = await stack.user("bob")
        fcm_token = await stack.android(bob, "pixel")
        await stack.ring("bob", "c-missed")
        canceled = await stack.http.post(
            "/v1/calls/c-missed/end", headers=stack.service, json={"reason": "canceled"}
        )
        assert canceled.status_code == 200
        _, missed = await _fcm_messages(stack, fcm_token, 2)
        assert missed["android"]["priority"] == "HIGH"  # the app shows a notification
        assert _ringpush(missed) == {
            "version": 1,
            "type": "missed-call",
            "call_id": "c-missed",
            "reason": "canceled",
            "caller": {"id": "alice", "name": ""},
        }


async def test_an_uninstalled_android_app_loses_its_token(tmp_path: Path) -> None:
    async with running_stack(f"sqlite:///{tmp_path / 'gone.db'}") as stack:
        assert stack.fcm is not None
        bob = await stack.user("bob")
        await stack.device(bob, "iphone")
        fcm_token = await stack.android(bob, "pixel")
        assert stack.fcm.uninstall(fcm_token)
        await stack.ring("bob", "c-gone")
        for _ in range(100):
            log = (await stack.http.get("/v1/deliveries?call_id=c-gone", headers=ADMIN)).json()
            states = {p["device_id"]: (p["state"], p["reason"]) for p in log}
            if states.get("pixel", ("sending",))[0] not in ("pending", "sending"):
                break
            await asyncio.sleep(0.05)
        assert states["pixel"] == ("dropped", "UNREGISTERED")
        assert states["iphone"][0] == "delivered"
        left = (await stack.http.get("/v1/devices", headers=bob)).json()
        assert [d["device_id"] for d in left] == ["iphone"]


async def test_bad_android_registrations_are_refused_with_the_field(tmp_path: Path) -> None:
    async with running_stack(f"sqlite:///{tmp_path / 'bad.db'}") as stack:
        bob = await stack.user("bob")
        mixed = await stack.http.put(
            "/v1/devices/pixel",
            headers=bob,
            json={"platform": "fcm", "token": "t" * 150, "environment": "production"},
        )
        assert mixed.status_code == 422
        assert "environment" in mixed.json()["error"]["message"]
        blank = await stack.http.put(
            "/v1/devices/pixel", headers=bob, json={"platform": "fcm", "token": "a b"}
        )
        assert (blank.status_code, blank.json()["error"]["code"]) == (422, "invalid_token")
        app = (await stack.http.get("/v1/apps/demo", headers=ADMIN)).json()
        assert app["fcm_project_id"] == "ringpush-demo"
        assert "private_key" not in json.dumps(app)
        broken = await stack.http.put(
            "/v1/apps/other",
            headers=ADMIN,
            json={"bundle_id": "com.example.other", "fcm_service_account": {"type": "x"}},
        )
        assert broken.status_code == 422
        assert broken.json()["error"]["message"].startswith("fcm_service_account: ")


async def test_a_token_registered_again_after_the_send_survives_unregistered(
    tmp_path: Path,
) -> None:
    """FCM's UNREGISTERED carries no time: the attempt's own stands for it, so an app that
    registered the token again while the answer was on its way keeps it."""
    async with running_stack(f"sqlite:///{tmp_path / 'again.db'}") as stack:
        assert stack.fcm is not None
        bob = await stack.user("bob")
        token = await stack.android(bob, "pixel")
        stack.fcm.faults.update({"latency_ms": 1000})
        assert stack.fcm.uninstall(token)
        # The call's answer waits for the first answers: ring meanwhile, not after.
        ringing = asyncio.create_task(stack.ring("bob", "c-again"))
        await asyncio.sleep(0.3)  # the push is out, its answer delayed
        again = await stack.http.put(
            "/v1/devices/pixel", headers=bob, json={"platform": "fcm", "token": token}
        )
        assert again.status_code == 200
        await ringing
        for _ in range(100):
            log = (await stack.http.get("/v1/deliveries?call_id=c-again", headers=ADMIN)).json()
            if log and log[0]["state"] == "dropped":
                break
            await asyncio.sleep(0.05)
        assert (log[0]["state"], log[0]["reason"]) == ("dropped", "UNREGISTERED")
        kept = (await stack.http.get("/v1/devices", headers=bob)).json()
        assert [d["device_id"] for d in kept] == ["pixel"]


async def test_an_app_sends_its_own_data_messages_to_android(tmp_path: Path) -> None:
    """POST /v1/pushes with push_type fcm: the app's data to the user's Android phones,
    FCM's rules checked before anything is stored."""
    async with running_stack(f"sqlite:///{tmp_path / 'data.db'}") as stack:
        assert stack.fcm is not None
        bob = await stack.user("bob")
        token = await stack.android(bob, "pixel")
        sent = await stack.http.post(
            "/v1/pushes",
            headers=stack.service,
            json={"user_id": "bob", "push_type": "fcm", "payload": {"chat": "hi"},
                  "collapse_id": "chat-1"},
        )  # fmt: skip
        assert sent.status_code == 201, sent.text
        [message] = await _fcm_messages(stack, token, 1)
        assert message["data"] == {"chat": "hi"}
        assert (message["android"]["priority"], message["android"]["collapse_key"]) == (
            "NORMAL",
            "chat-1",
        )
        number = await stack.http.post(
            "/v1/pushes",
            headers=stack.service,
            json={"user_id": "bob", "push_type": "fcm", "payload": {"count": 3}},
        )
        assert (number.status_code, number.json()["error"]["code"]) == (422, "invalid_push")
        assert "message.data[0].value" in number.json()["error"]["message"]
        huge = await stack.http.post(
            "/v1/pushes",
            headers=stack.service,
            json={"user_id": "bob", "push_type": "fcm", "payload": {"x": "y" * 5000}},
        )
        assert (huge.status_code, huge.json()["error"]["code"]) == (413, "payload_too_large")
        assert len(stack.fcm.messages(token=token)) == 1  # neither refused one was sent
