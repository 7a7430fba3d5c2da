"""``ringpush demo``: the whole call path on simulated phones, as a user runs it."""

from __future__ import annotations

import io
import re

from rich.console import Console

from ringpush.demo.run import run_demo
from ringpush.local_stack import LocalStack

from .command import ringpush


def test_the_demo_runs_every_step_and_exits_0() -> None:
    done = ringpush("demo")
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    for line in (
        "bob-iphone: bob signed in; voip token",
        "bob-android: bob signed in; FCM token",
        "ringpush knows 2 devices for bob: an iPhone (APNs VoIP) and an Android phone (FCM)",
        "VoIP push to bob-iphone: APNs 200",
        "FCM message to bob-android: FCM 200",
        "both of bob's devices are ringing",
        "bob-iphone stopped ringing",
        "bob-iphone learned 'answered on bob-android' from the call's events",
        "APNs carried 1 VoIP push for the call: none was sent to stop the ringing",
        "the call is answered on bob-android",
        "bob-android's high-priority message led to a notification",
        "FCM answered 404 UNREGISTERED for bob-android",
        "ringpush removed bob-android's token; bob-iphone's stays",
        "Demo complete: 19 checks passed.",
    ):
        assert line in out, f"missing {line!r} in:\n{out}"
    assert "✗" not in out
    assert re.search(r"bob-iphone +ringing: Alice calling \(push took \d+ ms\)", out)
    assert re.search(r"bob-android +ringing: Alice calling, .*\(push took \d+ ms\)", out)


async def test_the_demo_fails_when_a_step_does_not_happen() -> None:
    def apns_down(stack: LocalStack) -> None:
        stack.sandbox.faults.update({"shutdown": True})

    output = io.StringIO()
    ok = await run_demo(Console(file=output, width=200), step_seconds=1.0, prepare=apns_down)
    assert ok is False
    text = output.getvalue()
    assert "✗ both of bob's devices are ringing" in text
    assert "Demo complete" not in text


async def test_the_demo_fails_when_the_android_phone_does_not_ring() -> None:
    """The Android phone's ringing is checked, not assumed: FCM refusing every send
    (403 SENDER_ID_MISMATCH) fails the demo at that step."""

    def fcm_refuses(stack: LocalStack) -> None:
        stack.fcm.faults.update({"sender_id_mismatch": True})

    output = io.StringIO()
    ok = await run_demo(Console(file=output, width=200), step_seconds=1.0, prepare=fcm_refuses)
    assert ok is False
    text = output.getvalue()
    assert "FCM message to bob-android: FCM 403" in text
    assert "✗ both of bob's devices are ringing" in text
    assert "Demo complete" not in text
