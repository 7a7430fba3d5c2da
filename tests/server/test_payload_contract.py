"""The payload contract (docs/payloads.md): each kind ringpush sends, sent for real and
validated against ``ringpush/schemas/payloads-v1.json``; the page's examples too. (Every
other test's payloads are checked when its stack closes: ``tests/server/stack.py``.)"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import jsonschema
import pytest

from ringpush.apns.push_type import PushType
from tests.payload_contract import VALIDATOR, check_payloads
from tests.server.stack import Stack, running_stack

DOCS = Path(__file__).resolve().parents[2] / "docs" / "payloads.md"


async def _pushes(stack: Stack, count: int) -> list[object]:
    for _ in range(300):
        if len(stack.sandbox.notifications()) >= count:
            break
        await asyncio.sleep(0.01)
    return [record.payload for record in stack.sandbox.notifications()]


async def test_every_kind_of_payload_keeps_to_the_contract(database_url: str) -> None:
    async with running_stack(database_url) as stack:
        await _every_kind(stack)


async def _every_kind(stack: Stack) -> None:
    bob = await stack.user("bob")
    await stack.device(bob, "phone")
    await stack.device(bob, "phone", PushType.ALERT)
    await stack.device(bob, "ipad", PushType.ALERT)
    # A call answered on the phone: the iPad (not following the events) is told.
    call = {"caller_id": "alice", "caller_name": "Alice", "callee_user_id": "bob"}
    first = {**call, "call_id": "c-1", "video": True, "data": {"room": "r-1"}}
    assert (await stack.http.post("/v1/calls", headers=stack.service, json=first)).is_success
    answered = await stack.http.post(
        "/v1/calls/c-1/answer", headers=bob, json={"device_id": "phone"}
    )
    assert answered.status_code == 200
    # A call the caller cancels: a missed-call alert to both.
    second = {**call, "call_id": "c-2"}
    assert (await stack.http.post("/v1/calls", headers=stack.service, json=second)).is_success
    ended = await stack.http.post(
        "/v1/calls/c-2/end", headers=stack.service, json={"reason": "canceled"}
    )
    assert ended.status_code == 200
    kinds = check_payloads(await _pushes(stack, 5))
    assert kinds == {"incoming-call": 2, "call-ended": 1, "missed-call": 2}
    # The delivery log ties the end-of-call pushes to their call.
    log = await stack.http.get("/v1/deliveries", headers=stack.service, params={"call_id": "c-2"})
    assert sorted(d["push_type"] for d in log.json()) == ["alert", "alert", "voip"]


def test_the_documented_examples_keep_to_the_contract() -> None:
    examples = [
        json.loads(block) for block in re.findall(r"```json\n(.*?)```", DOCS.read_text(), re.S)
    ]
    assert check_payloads(examples) == {"incoming-call": 1, "call-ended": 1, "missed-call": 1}


@pytest.mark.parametrize(
    "broken",
    [
        {"aps": {}, "ringpush": {"version": 1, "type": "incoming-call", "call_id": "c"}},
        {"aps": {"content-available": 1}, "ringpush": {"version": 2, "type": "call-ended",
         "call_id": "c", "reason": "canceled"}},
        {"aps": {"alert": {"title": "t", "body": "b"}}, "ringpush": {"version": 1,
         "type": "call-ended", "call_id": "c", "reason": "declined"}},
    ],
)  # fmt: skip
def test_the_contract_refuses_what_an_app_could_trip_on(broken: dict[str, object]) -> None:
    with pytest.raises(jsonschema.ValidationError):
        VALIDATOR.validate(broken)
