"""Running in the foreground: serve_forever returns on a signal so the owner can stop."""

from __future__ import annotations

import asyncio
import signal

import pytest

from ringpush.sandbox import Sandbox, serve_forever


async def test_serve_forever_returns_when_stop_is_set(sandbox: Sandbox) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(serve_forever(sandbox, stop=stop))
    await asyncio.sleep(0.01)
    assert not task.done()
    stop.set()
    await asyncio.wait_for(task, 1)


async def test_sigterm_before_serve_forever_is_not_lost(sandbox: Sandbox) -> None:
    """The CLI prints its ports, then serves: a SIGTERM in between must still stop it
    cleanly rather than kill the process."""
    if not sandbox.term_signal.armed:
        pytest.skip("SIGTERM is handled by someone else in this process")
    signal.raise_signal(signal.SIGTERM)
    await asyncio.sleep(0.01)
    await asyncio.wait_for(serve_forever(sandbox), 1)


async def test_stop_disarms_the_sigterm_capture(sandbox: Sandbox) -> None:
    await sandbox.stop()
    assert not sandbox.term_signal.armed
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


async def test_start_twice_is_an_error_and_restart_after_stop_works(sandbox: Sandbox) -> None:
    with pytest.raises(RuntimeError, match="already running"):
        await sandbox.start()
    await sandbox.stop()
    await sandbox.start(control_port=None)
    assert sandbox.port() > 0
