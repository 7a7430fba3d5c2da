"""The garbage collector's pauses: how often and how long it stops the process.

A collection runs in whichever thread allocates when a generation's threshold is reached
and holds the interpreter until it is done, so it stalls the event loop like any long
callback. With Python's defaults (a young collection every 700 allocations) a loaded
``serve`` collected the young generation ~4 times a second and the middle one every
2 to 3 s, 17 to 25 ms each, and the calls placed meanwhile waited for it (``bench/lanes.py``:
these pauses were the dead-lane scenario's p99). Nearly nothing it finds is garbage:
requests, pushes and answers are freed by reference counting. So the process freezes
what it made while starting (it lives as long as the process) and collects the young
generation every :data:`YOUNG_THRESHOLD` allocations instead: fewer, equally short
pauses. The histogram shows an operator what is left.
"""

from __future__ import annotations

import gc
import time
from typing import Any

from prometheus_client import CollectorRegistry, Histogram

#: Allocations (less deallocations) between two young collections; Python's default is
#: 700. At ~10 000 a young collection took 2 to 3 ms, twice a second under load.
YOUNG_THRESHOLD = 10_000
#: Young collections per middle one, and middle ones per full one (Python's: 10, 10).
OLDER_THRESHOLDS = (20, 20)


def settle_collector() -> None:
    """Call once the process has started: what exists now is never collected again, and
    the young generation is collected less often."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, *OLDER_THRESHOLDS)


class GcPauseMonitor:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.pauses = Histogram(
            "ringpush_gc_pause_seconds",
            "How long each garbage collection held the process, by generation",
            ["generation"],
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25),
            registry=registry,
        )
        self._started = 0.0

    def start(self) -> None:
        gc.callbacks.append(self._observe)

    def stop(self) -> None:
        if self._observe in gc.callbacks:
            gc.callbacks.remove(self._observe)

    def _observe(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            took = time.perf_counter() - self._started
            self.pauses.labels(str(info["generation"])).observe(took)
