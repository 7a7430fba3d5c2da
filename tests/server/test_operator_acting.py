"""The operator acting for one app (``?app_id=``), as the console does, and the live
delivery log (``GET /v1/deliveries/events``)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from ringpush.apns.push_type import PushType
from tests.server.stack import ADMIN, running_stack


async def test_the_operator_places_reads_and_ends_a_call_for_an_app(database_url: str) -> None:
    async with running_stack(database_url) as stack:
        bob = await stack.user("bob")
        await stack.device(bob, "phone")
        body = {"call_id": "c-op", "caller_id": "console", "callee_user_id": "bob"}
        started = await stack.http.post(
            "/v1/calls", headers=ADMIN, params={"app_id": "demo"}, json=body
        )
        assert started.status_code == 201, started.text
        assert started.json()["deliveries"][0]["app_id"] == "demo"
        read = await stack.http.get("/v1/calls/c-op", headers=ADMIN, params={"app_id": "demo"})
        assert read.json()["state"] == "ringing"
        ended = await stack.http.post(
            "/v1/calls/c-op/end",
            headers=ADMIN,
            params={"app_id": "demo"},
            json={"reason": "canceled"},
        )
        assert ended.json()["end_reason"] == "canceled"
        # Without the app, the operator is refused; a service may not name another app.
        bare = await stack.http.post("/v1/calls", headers=ADMIN, json=body)
        assert bare.status_code == 403
        assert "app_id" in bare.json()["error"]["message"]
        other = await stack.http.get(
            "/v1/calls/c-op", headers=stack.service, params={"app_id": "other"}
        )
        assert other.status_code == 403
        own = await stack.http.get(
            "/v1/calls/c-op", headers=stack.service, params={"app_id": "demo"}
        )
        assert own.status_code == 200
        # A user token stays its own user's, whatever it names.
        elsewhere = await stack.http.get("/v1/calls/c-op", headers=bob, params={"app_id": "x"})
        assert elsewhere.status_code == 403
        malformed = await stack.http.post(
            "/v1/pushes", headers=ADMIN, params={"app_id": "no spaces"}, json={}
        )
        assert malformed.status_code == 422
        assert malformed.json()["error"]["message"].startswith("app_id: String should match")


async def test_the_live_delivery_log_shows_each_answer(tmp_path: Path) -> None:
    async with running_stack(f"sqlite:///{tmp_path / 'log.db'}") as stack:
        bob = await stack.user("bob")
        await stack.device(bob, "ipad", PushType.ALERT)
        seen: list[dict[str, object]] = []
        opened = asyncio.Event()

        async def follow(headers: dict[str, str], into: list[dict[str, object]]) -> None:
            async with stack.http.stream(
                "GET", "/v1/deliveries/events", headers=headers, timeout=10
            ) as response:
                assert response.status_code == 200
                assert response.headers["content-type"].startswith("text/event-stream")
                opened.set()
                async for line in response.aiter_lines():
                    if line.startswith("data: "):
                        into.append(json.loads(line[6:]))
                        return

        follower = asyncio.create_task(follow(ADMIN, seen))
        await asyncio.wait_for(opened.wait(), 5)
        await asyncio.sleep(0.1)  # the stream's generator has started following
        pushed = await stack.http.post(
            "/v1/pushes",
            headers=ADMIN,
            params={"app_id": "demo"},
            json={"user_id": "bob", "push_type": "alert", "payload": {"aps": {"alert": "hi"}}},
        )
        assert pushed.status_code == 201, pushed.text
        await asyncio.wait_for(follower, 5)
        [delivery] = seen
        assert delivery["app_id"] == "demo"
        assert delivery["device_id"] == "ipad"
        assert delivery["state"] == "delivered"
        assert delivery["apns_id"] == pushed.json()["deliveries"][0]["apns_id"]


async def test_a_user_token_cannot_follow_the_delivery_log(tmp_path: Path) -> None:
    async with running_stack(f"sqlite:///{tmp_path / 'u.db'}") as stack:
        bob = await stack.user("bob")
        refused = await stack.http.get("/v1/deliveries/events", headers=bob)
        nobody = await stack.http.get("/v1/deliveries/events")
    assert refused.status_code == 403
    assert nobody.status_code == 401
