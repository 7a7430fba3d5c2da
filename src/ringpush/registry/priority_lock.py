"""An asyncio lock with two queues: urgent waiters are let in before the others.

SQLite has one connection; while a bulk campaign's outcomes and claims queue for it, a
call being stored must not wait behind all of them. FIFO within each queue, and the lock
is handed straight to the next waiter, so nobody barges in between.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class PriorityLock:
    def __init__(self) -> None:
        self._locked = False
        self._urgent: deque[asyncio.Future[None]] = deque()
        self._others: deque[asyncio.Future[None]] = deque()

    @asynccontextmanager
    async def hold(self, *, urgent: bool = False) -> AsyncIterator[None]:
        await self.acquire(urgent=urgent)
        try:
            yield
        finally:
            self.release()

    async def acquire(self, *, urgent: bool = False) -> None:
        if not self._locked and not self._urgent and not self._others:
            self._locked = True
            return
        queue = self._urgent if urgent else self._others
        granted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue.append(granted)
        try:
            await granted
        except asyncio.CancelledError:
            if granted.done() and not granted.cancelled():
                self.release()  # handed to us as we were cancelled: pass it on
            elif granted in queue:
                queue.remove(granted)
            raise

    def release(self) -> None:
        for queue in (self._urgent, self._others):
            while queue:
                waiter = queue.popleft()
                if not waiter.done():
                    waiter.set_result(None)  # still locked: it is the waiter's now
                    return
        self._locked = False
