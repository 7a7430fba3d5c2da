"""``ringpush demo``: the whole call path on simulated phones, as a user runs it."""

from __future__ import annotations

import io

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
        "both of bob's devices are ringing",
        "bob-ipad learned 'answered on bob-iphone' from the call's events",
        "APNs carried 2 VoIP pushes for the call, one per device",
        "APNs answered 410 Unregistered for bob-ipad",
        "ringpush removed bob-ipad's token",
        "Demo complete:",
    ):
        assert line in out, f"missing {line!r} in:\n{out}"
    assert "✗" not in out
    assert "push took" in out  # the push latency is shown


async def test_the_demo_fails_when_a_step_does_not_happen() -> None:
    def apns_down(stack: LocalStack) -> None:
        stack.sandbox.faults.update({"shutdown": True})

    output = io.StringIO()
    ok = await run_demo(Console(file=output, width=200), step_seconds=1.0, prepare=apns_down)
    assert ok is False
    text = output.getvalue()
    assert "✗ both of bob's devices are ringing" in text
    assert "Demo complete" not in text
