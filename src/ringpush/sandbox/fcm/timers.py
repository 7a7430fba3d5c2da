"""When a simulated device's code runs: on a later event-loop turn, never inside the
sandbox's HTTP handler, as Android calls an app; and, for what is due later (a Doze
window, a notification deadline), on a timer of the running loop.

Without a running loop (a synchronous unit test) callbacks run at once and timers are
not set: the test advances its clock and calls ``deliver_due`` itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable


def later(callback: Callable[..., object], *args: object) -> None:
    """Run on a later loop turn; at once without a loop."""
    try:
        asyncio.get_running_loop().call_soon(callback, *args)
    except RuntimeError:
        callback(*args)


class Timers:
    """One device's pending timers, so that stopping the sandbox can cancel them."""

    def __init__(self) -> None:
        self._handles: set[asyncio.TimerHandle] = set()

    def after(self, delay: float, callback: Callable[[], object]) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        handle: asyncio.TimerHandle | None = None

        def fire() -> None:
            if handle is not None:
                self._handles.discard(handle)
            callback()

        handle = loop.call_later(delay, fire)
        self._handles.add(handle)

    def cancel(self) -> None:
        for handle in self._handles:
            handle.cancel()
        self._handles.clear()
