"""How late the event loop runs what is due: the wait any request or APNs answer has
before its code starts, on top of its own work.

One process serves every app on one loop, so work that holds the loop (a burst of answers,
a big claim being encoded, a slow synchronous call) delays everyone's calls by as much. A
timer due every ``interval`` seconds measures by how much it was late; the histogram shows
an operator (and ``bench/lanes.py``) whether latency comes from the loop or from elsewhere.
"""

from __future__ import annotations

import asyncio
import contextlib

from prometheus_client import CollectorRegistry, Histogram

#: How often the loop is sampled: often enough to see stalls of a few milliseconds.
INTERVAL_SECONDS = 0.01


class LoopLagMonitor:
    def __init__(self, registry: CollectorRegistry, interval: float = INTERVAL_SECONDS) -> None:
        self.lag = Histogram(
            "ringpush_event_loop_lag_seconds",
            "How late the event loop ran a timer that was due (time waiting for the loop)",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=registry,
        )
        self._interval = interval
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        interval = self._interval
        while True:
            due = loop.time() + interval
            await asyncio.sleep(interval)
            self.lag.observe(max(0.0, loop.time() - due))
