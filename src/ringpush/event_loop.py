"""The event loop ringpush's processes run on: uvloop where it is installed (it is a
dependency on Linux and macOS), else asyncio's own.

Measured in ``bench/call_latency.py`` (see ``bench/RESULTS.md``): on the call path the
loop's own work (selector, callbacks, transports) is a fair share of a call's CPU, and
uvloop does it in C.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


#: ``asyncio`` runs on asyncio's own loop (to profile Python frames, say).
LOOP_ENV = "RINGPUSH_EVENT_LOOP"


def runner() -> Callable[[Coroutine[Any, Any, T]], T]:
    """``asyncio.run`` on the fastest loop available."""
    if os.environ.get(LOOP_ENV) == "asyncio":
        return asyncio.run
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency where it builds
        return asyncio.run
    return uvloop.run


def run(main: Coroutine[Any, Any, T]) -> T:
    return runner()(main)
